"""One `make_<model>` per model in db/models.py: a row with sensible defaults, added to the caller's session and
flushed (so it has its id), with only what the test cares about given.

    sanne = make_staff(session, registry, areas=[DEN_HOUT])
    item = make_item(session, registry, kind="report", text="Losse stoeptegel")
    make_item_event(session, item=item, kind="staff_reply", staff=sanne)

Rows that the product writes through a domain function are made through it, so they are what the product would
hold: staff (`wijkbot.staff.add_staff`), residents (`wijkbot.residents`), items (`wijkbot.items.file_item`, which
routes the item and queues its notifications) and outbox rows (`wijkbot.outbox.enqueue`). The others are plain
rows. The municipality data (municipalities, bodies, areas, buurten) is loaded with every database; their
factories add more of it, which the loaded `Registry` does not know.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot.channels import address_chat, receive
from wijkbot.items import file_item
from wijkbot.municipalities import Registry
from wijkbot.outbox import enqueue, record_channel_status
from wijkbot.payloads import Payload, Text
from wijkbot.purposes import Purpose, command_answer
from wijkbot.residents import get_or_create_resident
from wijkbot.routing import Rule, load_rules
from wijkbot.staff import add_staff
from wijkbot.web_login import token_hash

OOSTERHOUT = "GM0826"
DEN_HOUT = "WK082611"  # a wijk of Oosterhout, in the shipped data

_ids = itertools.count(10_000_000)
Row = TypeVar("Row")


def unique_id() -> int:
    """A number no other factory call returns in this test session (Telegram ids, update ids, codes)."""
    return next(_ids)


def _added(session: Session, row: Row) -> Row:
    session.add(row)
    session.flush()
    return row


# --- municipality data ----------------------------------------------------------------------------------------


def make_municipality(
    session: Session, *, code: str | None = None, name: str = "Testdorp", staff_title: str = "wijkmakelaar"
) -> models.Municipality:
    code = code or f"GM9{unique_id() % 1000:03d}"
    return _added(session, models.Municipality(code=code, name=name, staff_title=staff_title, council_title="wijkraad"))


def make_body(
    session: Session, *, municipality_code: str = OOSTERHOUT, name: str = "Wijkraad Test", kind: str = "wijkraad"
) -> models.Body:
    return _added(
        session, models.Body(id=f"test-{unique_id()}", municipality_code=municipality_code, name=name, kind=kind)
    )


def make_area(
    session: Session,
    *,
    municipality_code: str = OOSTERHOUT,
    code: str | None = None,
    name: str = "Testwijk",
    kind: str = "wijk",
    body_id: str | None = None,
) -> models.Area:
    code = code or f"WK9{unique_id() % 100_000:05d}"
    return _added(
        session,
        models.Area(code=code, municipality_code=municipality_code, name=name, kind=kind, body_id=body_id),
    )


def make_buurt(
    session: Session,
    *,
    area_code: str = DEN_HOUT,
    code: str | None = None,
    name: str = "Testbuurt",
    pc4: str | None = None,
) -> models.Buurt:
    code = code or f"BU9{unique_id() % 100_000:05d}"
    return _added(session, models.Buurt(code=code, area_code=area_code, name="Testbuurt", pc4=pc4))


# --- people ---------------------------------------------------------------------------------------------------


def make_staff(
    session: Session,
    registry: Registry,
    *,
    areas: list[str],
    role: str = "wijkmakelaar",
    name: str = "Sanne",
    telegram_id: int | None = None,
) -> models.StaffMember:
    """A staff member of these areas, bound to a Telegram account (a fresh id unless given)."""
    return add_staff(
        session,
        registry,
        name=name,
        role=role,
        area_codes=areas,
        telegram_id=telegram_id if telegram_id is not None else unique_id(),
    )


def make_staff_area(session: Session, *, staff: models.StaffMember, area_code: str) -> models.StaffArea:
    """One more area for a staff member (make_staff already gives the areas it is told)."""
    row = models.StaffArea(staff_id=staff.id, area_code=area_code)
    staff.areas.append(row)
    session.flush()
    return row


def make_web_login(
    session: Session,
    *,
    staff: models.StaffMember,
    token: str | None = None,
    expires_at: datetime | None = None,
    used_at: datetime | None = None,
) -> models.WebLogin:
    """A one-time link into the web workspace, stored as the hash of `token` (as wijkbot.web_login does)."""
    token = token or f"token-{unique_id()}"
    return _added(
        session,
        models.WebLogin(
            token_hash=token_hash(token),
            staff_id=staff.id,
            expires_at=expires_at or utcnow() + timedelta(minutes=15),
            used_at=used_at,
        ),
    )


def make_resident(
    session: Session, *, first_name: str = "Anna", telegram_id: int | None = None, area_code: str | None = None
) -> models.Resident:
    """A resident (a fresh Telegram id unless given), living in `area_code` when it is given."""
    resident = get_or_create_resident(session, telegram_id=telegram_id or unique_id(), first_name=first_name)
    if area_code is not None:
        resident.area_code = area_code
        session.flush()
    return resident


# --- items ----------------------------------------------------------------------------------------------------


def make_item(
    session: Session,
    registry: Registry,
    *,
    resident: models.Resident | None = None,
    kind: str = "idea",
    area_code: str = DEN_HOUT,
    text: str = "Een bankje bij de speeltuin",
    details: dict[str, Any] | None = None,
    rules: tuple[Rule, ...] | None = None,
    created_at: datetime | None = None,
) -> models.Item:
    """An item filed as the action server files it: routed by the shipped rules (or `rules`), its staff's
    notifications queued; by a new resident unless one is given."""
    item = file_item(
        session,
        registry,
        rules if rules is not None else load_rules(registry),
        resident=resident if resident is not None else make_resident(session),
        kind=kind,
        area_code=area_code,
        text=text,
        details=details,
    ).item
    if created_at is not None:
        item.created_at = created_at
        session.flush()
    return item


def make_item_recipient(
    session: Session, *, item: models.Item, staff: models.StaffMember, reason: str = "council"
) -> models.ItemRecipient:
    """One more recipient of an item (routing already added those the rules name)."""
    row = models.ItemRecipient(staff_id=staff.id, reason=reason)
    item.recipients.append(row)
    session.flush()
    return row


def make_item_event(
    session: Session,
    *,
    item: models.Item,
    kind: str = "staff_reply",
    at: datetime | None = None,
    staff: models.StaffMember | None = None,
    status: str | None = None,
    text: str | None = None,
) -> models.ItemEvent:
    event = models.ItemEvent(
        kind=kind, at=at or utcnow(), staff_id=staff.id if staff else None, status=status, text=text
    )
    item.events.append(event)
    session.flush()
    return event


# --- messaging ------------------------------------------------------------------------------------------------


def make_inbound_update(
    session: Session,
    *,
    chat_id: int | None = None,
    payload: dict[str, Any] | None = None,
    kind: str = "message",
    status: str = "pending",
    update_id: int | None = None,
) -> models.InboundUpdate:
    chat_id = chat_id if chat_id is not None else unique_id()
    update_id = update_id if update_id is not None else unique_id()
    payload = payload or {"update_id": update_id, "message": {"chat": {"id": chat_id}, "text": "hallo"}}
    return _added(
        session, models.InboundUpdate(update_id=update_id, chat_id=chat_id, kind=kind, payload=payload, status=status)
    )


def make_outbox_message(
    session: Session,
    *,
    chat_id: int | None = None,
    message: Payload | None = None,
    purpose: Purpose | None = None,
    item_id: int | None = None,
    now: datetime | None = None,
) -> models.OutboxMessage:
    """A queued message (by `wijkbot.outbox.enqueue`, a text unless `message`), due `now`."""
    chat_id = chat_id if chat_id is not None else unique_id()
    purpose = purpose or command_answer(unique_id())
    enqueue(
        session,
        purpose=purpose,
        chat_id=chat_id,
        message=message or Text(text="Bericht"),
        item_id=item_id,
        now=now,
    )
    session.flush()
    found = session.scalar(
        select(models.OutboxMessage).where(
            models.OutboxMessage.purpose == purpose, models.OutboxMessage.recipient_chat_id == chat_id
        )
    )
    assert found is not None
    return found


# --- polls and outreach ---------------------------------------------------------------------------------------


def make_media(
    session: Session, *, data: bytes = b"\x89PNG fake", filename: str = "uitslag.png", kind: str = "chart"
) -> models.Media:
    return _added(session, models.Media(kind=kind, filename=filename, content_type="image/png", data=data))


def make_poll(
    session: Session,
    *,
    question: str = "Meer bankjes in het park?",
    options: list[str] | None = None,
    area_codes: list[str] | None = None,
    starts_at: datetime | None = None,
    open_for: timedelta = timedelta(days=7),
    status: str = "scheduled",
    creator: models.StaffMember | None = None,
) -> models.Poll:
    """A poll row as scheduled (`status` as given; opening and closing are wijkbot.polls' work)."""
    starts_at = starts_at or utcnow()
    return _added(
        session,
        models.Poll(
            question=question,
            options=options or ["Ja", "Nee"],
            area_codes=area_codes or [DEN_HOUT],
            creator_staff_id=creator.id if creator else None,
            created_via="test",
            status=status,
            starts_at=starts_at,
            closes_at=starts_at + open_for,
        ),
    )


def make_poll_ballot(
    session: Session,
    *,
    poll: models.Poll,
    resident: models.Resident,
    option_ids: list[int] | None = None,
    telegram_poll_id: str | None = None,
) -> models.PollBallot:
    return _added(
        session,
        models.PollBallot(
            poll_id=poll.id,
            resident_id=resident.id,
            area_code=resident.area_code or poll.area_codes[0],
            chat_id=resident.telegram_id,
            telegram_poll_id=telegram_poll_id or str(unique_id()),
            option_ids=option_ids,
            voted_at=utcnow() if option_ids is not None else None,
        ),
    )


def make_poll_tally(
    session: Session,
    *,
    poll: models.Poll,
    area_code: str = DEN_HOUT,
    recipients: int = 10,
    votes: list[int] | None = None,
) -> models.PollTally:
    votes = votes if votes is not None else [0] * len(poll.options)
    return _added(session, models.PollTally(poll_id=poll.id, area_code=area_code, recipients=10, votes=votes))


def make_outreach_contact(
    session: Session, *, resident: models.Resident, kind: str = "poll", ref: str = "poll:1", at: datetime | None = None
) -> models.OutreachContact:
    return _added(session, models.OutreachContact(resident_id=resident.id, kind=kind, ref=ref, at=at or utcnow()))


def make_checkin_schedule(
    session: Session, *, area_code: str = DEN_HOUT, next_at: datetime | None = None, last_at: datetime | None = None
) -> models.CheckinSchedule:
    return _added(session, models.CheckinSchedule(area_code=area_code, next_at=next_at or utcnow(), last_at=last_at))


def make_open_question(
    session: Session, *, resident: models.Resident, asked_at: datetime | None = None, nudged_at: datetime | None = None
) -> models.OpenQuestion:
    return _added(
        session, models.OpenQuestion(resident_id=resident.id, asked_at=asked_at or utcnow(), nudged_at=nudged_at)
    )


def make_turn_effect(
    session: Session,
    *,
    telegram_id: int,
    update_id: int | None = None,
    action: str = "file_item",
    result: dict[str, Any] | None = None,
) -> models.TurnEffect:
    return _added(
        session,
        models.TurnEffect(
            telegram_id=telegram_id,
            update_id=update_id if update_id is not None else unique_id(),
            action=action,
            result=result if result is not None else {"item_id": 1},
        ),
    )


# --- initiatives (wijkbot.initiatives) -----------------------------------------------------------------


def make_initiative(
    session: Session,
    registry: Registry,
    *,
    item: models.Item | None = None,
    requested: int | None = 750,
    now: datetime | None = None,
) -> models.Initiative:
    """An open idea (a new one unless given) made an initiative by its resident, gathering support."""
    from wijkbot.initiatives import start_initiative

    item = item if item is not None else make_item(session, registry)
    resident = session.get(models.Resident, item.resident_id)
    assert resident is not None, "an initiative starts from a resident's own idea"
    return start_initiative(
        session, registry, telegram_id=resident.telegram_id, item_id=item.id, requested=requested, now=now
    )


def make_supporter(
    session: Session,
    registry: Registry,
    *,
    initiative: models.Initiative,
    resident: models.Resident | None = None,
    joins: bool = False,
    now: datetime | None = None,
) -> models.Supporter:
    """A neighbour from the initiative's own area supporting it (a new resident unless given)."""
    from wijkbot.initiatives import support

    item = session.get(models.Item, initiative.item_id)
    assert item is not None and item.area_code is not None
    resident = resident if resident is not None else make_resident(session, area_code=item.area_code)
    done = support(
        session,
        registry,
        code=initiative.share_code,
        telegram_id=resident.telegram_id,
        first_name=resident.first_name,
        joins=joins,
        now=now,
    )
    assert done.outcome == "counted", done.message
    return next(s for s in initiative.supporters if s.resident_id == resident.id)


# --- announcements (wijkbot.announcements) -------------------------------------------------------------


def make_announcement(
    session: Session,
    *,
    creator: models.StaffMember | None = None,
    area_code: str = DEN_HOUT,
    title: str = "Openbare vergadering dorpsraad",
    starts_at: datetime | None = None,
) -> models.Announcement:
    """An announcement of a meeting a week from now (as stored; queueing it is wijkbot.announcements')."""
    announcement = models.Announcement(
        creator_staff_id=creator.id if creator is not None else None,
        area_codes=[area_code],
        title=title,
        starts_at=starts_at or utcnow() + timedelta(days=7),
        place="Het dorpshuis",
        text="Op de agenda: de speeltuin.",
    )
    session.add(announcement)
    session.flush()
    return announcement


def make_announcement_reply(
    session: Session,
    *,
    announcement: models.Announcement | None = None,
    resident: models.Resident | None = None,
    answer: str = "come",
) -> models.AnnouncementReply:
    """A resident's *Ik kom* (`come`) or *Herinner me* (`remind`) under an announcement."""
    reply = models.AnnouncementReply(
        announcement_id=(announcement or make_announcement(session)).id,
        resident_id=(resident or make_resident(session)).id,
        answer=answer,
        at=utcnow(),
    )
    session.add(reply)
    session.flush()
    return reply


# --- channels (issue 14) ----------------------------------------------------------------------------------------


def make_channel_address(
    session: Session, *, channel: str = "web", address: str | None = None, name: str | None = None, wrote: bool = False
) -> models.ChannelAddress:
    """A person on the web chat (or `channel` "whatsapp"), by `wijkbot.channels.address_chat`."""
    chat_id = address_chat(
        session, channel=channel, address=address or f"{unique_id()}", name=name, now=utcnow(), wrote=wrote
    )
    session.flush()
    row = session.scalars(select(models.ChannelAddress).where(models.ChannelAddress.chat_id == chat_id)).one()
    return row


def make_channel_counter(session: Session, *, name: str = "chat") -> models.ChannelCounter:
    """A counter of the other channels, moved on once by giving out a number ("chat" or "update")."""
    if name == "chat":
        make_channel_address(session)
    else:
        chat = make_channel_address(session)
        receive(
            session, channel=chat.channel, chat_id=chat.chat_id, external_id=f"m{unique_id()}", text="hoi", now=utcnow()
        )
    session.flush()
    counter = session.get(models.ChannelCounter, name)
    assert counter is not None
    return counter


def make_early_status(
    session: Session, *, channel_message_id: str | None = None, status: str = "delivered"
) -> models.EarlyStatus:
    """A WhatsApp status that arrived before its send was recorded (`wijkbot.outbox.record_channel_status`)."""
    message_id = channel_message_id or f"wamid.{unique_id()}"
    record_channel_status(session, channel_message_id=message_id, status=status, at=utcnow())
    session.flush()
    early = session.get(models.EarlyStatus, message_id)
    assert early is not None
    return early
