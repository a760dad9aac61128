"""Announcements (issue 12): a wijk- or dorpsraad member or a staff member tells the subscribers of their wijk
about a public meeting, a buurtschouw or an inloop; residents answer *Ik kom* or *Herinner me*.

```mermaid
sequenceDiagram
    participant S as raad / staff (/aankondiging)
    participant A as wijkbot.announcements
    participant O as outbox (screened: opt-out, quiet hours)
    participant R as resident
    S->>A: title, when, where, text, wijk → preview (count_recipients)
    S->>A: Versturen → create_announcement
    A->>O: announce:<id> per subscriber, planned within the weekly cap (OutreachContact kind "announcement")
    O->>R: the announcement [Ik kom] [Herinner me]
    R->>A: Ik kom (ak:come:<id>) → AnnouncementReply "come"
    R->>A: Herinner me (ak:remind:<id>) → "remind" + announce:<id>:remind, not_before the day before 10:00
    S->>A: Tellingen (ak:counts:<id>) → sent, waiting, ik kom, herinner me
```

The same guard rails as polls and check-ins (wijkbot.outreach): only subscribers of the creator's own areas;
the weekly cap counts an announcement like a poll (a resident whose week is used gets it when the cap allows,
if that is at least an hour before the meeting; otherwise not at all); nothing leaves in quiet hours; an
opt-out stops rows already queued. Who may announce is who may make polls (wijkbot.rights, Action.POLL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from db import models
from wijkbot import purposes
from wijkbot.municipalities import Registry
from wijkbot.outbox import Queued, enqueue, enqueue_many
from wijkbot.outreach import STOP_LINE, Policy, add_contacts, recent_contacts, subscribers
from wijkbot.payloads import Buttons, OutreachMark, Text
from wijkbot.polls import POLL_ROLES, local_time_text
from wijkbot.residents import find_resident
from wijkbot.staff_loop import staff_title

KIND = "announcement"  # OutreachContact.kind and OutreachMark.kind: counted by the weekly cap
CALLBACK = "ak"  # ak:come:<id>, ak:remind:<id>, ak:counts:<id>
COME, REMIND = "come", "remind"
MAX_TITLE, MAX_PLACE, MAX_TEXT = 120, 120, 2000
LAST_SEND_BEFORE = timedelta(hours=1)  # not sent (or reminded) later than this before the meeting
REMIND_AT = time(10, 0)  # the day before, local time


class AnnouncementError(ValueError):
    """An announcement cannot be made or answered as asked; the message says why, in plain words."""


@dataclass(frozen=True)
class Draft:
    title: str
    starts_at: datetime
    place: str
    text: str
    area_codes: list[str]


def _clean(value: str, *, what: str, limit: int) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise AnnouncementError(f"{what} is leeg.")
    if len(cleaned) > limit:
        raise AnnouncementError(f"{what} is te lang: hooguit {limit} tekens, nu {len(cleaned)}.")
    return cleaned


def clean_title(value: str) -> str:
    return " ".join(_clean(value, what="De titel", limit=MAX_TITLE).split())


def clean_place(value: str) -> str:
    return " ".join(_clean(value, what="De plek", limit=MAX_PLACE).split())


def clean_text(value: str) -> str:
    return _clean(value, what="De tekst", limit=MAX_TEXT)


def check_when(starts_at: datetime, *, now: datetime) -> datetime:
    if starts_at.tzinfo is None:
        raise AnnouncementError("Tijden moeten een tijdzone hebben.")
    if starts_at < now + LAST_SEND_BEFORE:
        raise AnnouncementError("De bijeenkomst moet minstens een uur in de toekomst liggen.")
    if starts_at > now + timedelta(days=366):
        raise AnnouncementError("De bijeenkomst ligt meer dan een jaar vooruit.")
    return starts_at


def allowed_areas(staff: models.StaffMember | None) -> list[str] | None:
    """The areas this person may announce to (their own), or None when they may not announce at all."""
    if staff is None or not staff.active or staff.role not in POLL_ROLES or not staff.area_codes:
        return None
    return staff.area_codes


def count_recipients(session: Session, *, area_codes: list[str]) -> int:
    """How many residents an announcement to these areas reaches (before the weekly cap)."""
    return int(session.scalar(select(func.count()).select_from(subscribers(area_codes).subquery())) or 0)


def _from_whom(registry: Registry, creator: models.StaffMember | None) -> str:
    if creator is None:
        return "de gemeente"
    return f"{escape(creator.name)} ({escape(staff_title(registry, creator))})"


def announcement_text(
    registry: Registry, *, draft: Draft, creator: models.StaffMember | None, area_code: str, zone: ZoneInfo
) -> str:
    """What residents read, above the buttons."""
    area = registry.find_area(area_code)
    where = escape(area.label) if area else "je wijk"
    return (
        f"<b>{escape(draft.title)}</b>\n"
        f"Wanneer: {local_time_text(draft.starts_at, zone)}\n"
        f"Waar: {escape(draft.place)}\n\n"
        f"{escape(draft.text)}\n\n"
        f"<i>Een bericht van {_from_whom(registry, creator)} voor {where}.</i>\n\n"
        f"{STOP_LINE}"
    )


def resident_buttons(announcement_id: int) -> Buttons:
    return [
        [
            {"text": "Ik kom", "callback_data": f"{CALLBACK}:{COME}:{announcement_id}"},
            {"text": "Herinner me", "callback_data": f"{CALLBACK}:{REMIND}:{announcement_id}"},
        ]
    ]


def counts_button(announcement_id: int) -> Buttons:
    return [[{"text": "Tellingen", "callback_data": f"{CALLBACK}:counts:{announcement_id}"}]]


def create_announcement(
    session: Session,
    registry: Registry,
    *,
    creator: models.StaffMember,
    draft: Draft,
    policy: Policy,
    now: datetime,
) -> models.Announcement:
    """Store the announcement and queue it for every subscriber of its areas, each when the weekly cap and
    the quiet hours allow (and not later than an hour before the meeting). NotAllowed-like AnnouncementError
    when the creator may not announce to these areas."""
    allowed = allowed_areas(creator)
    if allowed is None:
        raise AnnouncementError("Aankondigingen versturen kan alleen als medewerker of raadslid met een eigen wijk.")
    foreign = [code for code in draft.area_codes if code not in allowed]
    if foreign or not draft.area_codes:
        raise AnnouncementError(f"Je kunt alleen je eigen gebied bereiken, niet {', '.join(foreign) or 'niets'}.")
    clean = Draft(
        title=clean_title(draft.title),
        starts_at=check_when(draft.starts_at, now=now),
        place=clean_place(draft.place),
        text=clean_text(draft.text),
        area_codes=list(draft.area_codes),
    )
    announcement = models.Announcement(
        creator_staff_id=creator.id,
        area_codes=clean.area_codes,
        title=clean.title,
        starts_at=clean.starts_at,
        place=clean.place,
        text=clean.text,
        created_at=now,
    )
    session.add(announcement)
    session.flush()
    eligible = subscribers(clean.area_codes)
    recent = recent_contacts(
        session, resident_ids=eligible.with_only_columns(models.Resident.id).order_by(None), since=now - policy.window
    )
    last_moment = clean.starts_at - LAST_SEND_BEFORE
    purpose = purposes.announcement(announcement.id)
    texts: dict[str, str] = {}
    rows: list[Queued] = []
    contacts: list[dict[str, Any]] = []
    for resident_id, chat_id, area_code in session.execute(eligible):
        at = policy.plan(recent.get(resident_id, []), now)
        if at is None or at > last_moment:
            continue
        area = area_code or ""
        if area not in texts:
            texts[area] = announcement_text(registry, draft=clean, creator=creator, area_code=area, zone=policy.zone)
        message = Text(
            text=texts[area], buttons=resident_buttons(announcement.id), outreach=OutreachMark(resident_id, KIND)
        )
        rows.append(Queued(purpose, chat_id, message, not_before=at))
        contacts.append({"resident_id": resident_id, "kind": KIND, "ref": purpose, "at": at})
    enqueue_many(session, rows, now=now)
    add_contacts(session, contacts)
    announcement.recipients = len(rows)
    return announcement


# --- the residents' answers -----------------------------------------------------------------------------


def remind_at(starts_at: datetime, *, zone: ZoneInfo, now: datetime) -> datetime | None:
    """When to remind: the day before at 10:00 local time; None when that has passed (it is nearly time)."""
    local = starts_at.astimezone(zone)
    at = datetime.combine(local.date() - timedelta(days=1), REMIND_AT, tzinfo=zone)
    return at if at > now else None


def answer(
    session: Session, registry: Registry, *, announcement_id: int, telegram_id: int, choice: str, zone: ZoneInfo,
    now: datetime,
) -> str:  # fmt: skip
    """A resident pressed *Ik kom* or *Herinner me*: counted once per resident and choice; *Herinner me*
    queues the reminder for the day before. Only a resident the announcement was sent to can answer."""
    announcement = session.get(models.Announcement, announcement_id)
    resident = find_resident(session, telegram_id=telegram_id)
    received = session.scalar(
        select(func.count()).where(
            models.OutboxMessage.purpose == purposes.announcement(announcement_id),
            models.OutboxMessage.recipient_chat_id == telegram_id,
        )
    )
    if announcement is None or resident is None or not received or choice not in (COME, REMIND):
        return "Deze knop werkt niet (meer)."
    when = local_time_text(announcement.starts_at, zone)
    if announcement.starts_at <= now:
        return "Deze bijeenkomst is al geweest."
    before = session.get(models.AnnouncementReply, (announcement_id, resident.id, choice))
    if before is None:
        session.execute(
            insert(models.AnnouncementReply).values(
                announcement_id=announcement_id, resident_id=resident.id, answer=choice, at=now
            )
        )
    if choice == COME:
        return f"Fijn dat je komt! Tot {when}, {escape(announcement.place)}."
    at = remind_at(announcement.starts_at, zone=zone, now=now)
    if at is None:
        return f"Het is bijna zover: {when}, {escape(announcement.place)}. Tot dan!"
    reminder = (
        f"<b>Herinnering: {escape(announcement.title)}</b>\nMorgen, {when}\nWaar: {escape(announcement.place)}\n\n"
        "Tot dan!"
    )
    enqueue(
        session,
        purpose=purposes.announcement_reminder(announcement_id),
        chat_id=telegram_id,
        message=Text(text=reminder),
        not_before=at,
        now=now,
    )
    return f"Goed, ik stuur je {local_time_text(at, zone)} een herinnering."


# --- what the sender sees -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    recipients: int  # queued for
    sent: int
    waiting: int  # still queued (cap, quiet hours)
    come: int
    remind: int


def counts(session: Session, *, announcement_id: int) -> Counts:
    announcement = session.get(models.Announcement, announcement_id)
    if announcement is None:
        raise AnnouncementError("Deze aankondiging bestaat niet (meer).")
    statuses: dict[str, int] = dict(
        session.execute(  # type: ignore[arg-type]
            select(models.OutboxMessage.status, func.count())
            .where(models.OutboxMessage.purpose == purposes.announcement(announcement_id))
            .group_by(models.OutboxMessage.status)
        ).all()
    )
    answers: dict[str, int] = dict(
        session.execute(  # type: ignore[arg-type]
            select(models.AnnouncementReply.answer, func.count())
            .where(models.AnnouncementReply.announcement_id == announcement_id)
            .group_by(models.AnnouncementReply.answer)
        ).all()
    )
    return Counts(
        recipients=announcement.recipients,
        sent=int(statuses.get("sent", 0)),
        waiting=int(statuses.get("pending", 0)) + int(statuses.get("sending", 0)),
        come=int(answers.get(COME, 0)),
        remind=int(answers.get(REMIND, 0)),
    )


def counts_text(session: Session, *, staff: models.StaffMember, announcement_id: int) -> str:
    """The counts for the creator, or a colleague or raad member of one of its areas."""
    announcement = session.get(models.Announcement, announcement_id)
    areas = allowed_areas(staff) or []
    if announcement is None or not (
        announcement.creator_staff_id == staff.id or set(announcement.area_codes) & set(areas)
    ):
        return "Deze aankondiging kun je niet bekijken."
    found = counts(session, announcement_id=announcement_id)
    return (
        f"<b>{escape(announcement.title)}</b>\n"
        f"Verstuurd: {found.sent} van {found.recipients}"
        + (f" ({found.waiting} wachten nog op hun moment)" if found.waiting else "")
        + f"\nIk kom: {found.come}\nHerinner me: {found.remind}"
    )


def export_answers(session: Session, *, resident_id: int) -> list[dict[str, Any]]:
    """A resident's answers to announcements, for their data export."""
    rows = session.execute(
        select(models.Announcement.id, models.Announcement.title, models.AnnouncementReply.answer,
               models.AnnouncementReply.at)
        .join(models.AnnouncementReply, models.AnnouncementReply.announcement_id == models.Announcement.id)
        .where(models.AnnouncementReply.resident_id == resident_id)
        .order_by(models.Announcement.id, models.AnnouncementReply.answer)
    )  # fmt: skip
    return [{"announcement": i, "title": t, "answer": a, "at": at.isoformat()} for i, t, a, at in rows]
