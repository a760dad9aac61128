"""Export and erasure: everything held about a resident, and nothing left after erasure."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.orm import Session

from db import models
from db.models import Base, utcnow
from tests.factories import make_resident, make_staff
from wijkbot.inbound import record_update
from wijkbot.items import file_item
from wijkbot.municipalities import Registry, registry_for
from wijkbot.outbox import enqueue
from wijkbot.privacy import (
    erase_resident,
    expire_old_data,
    export_json,
    export_resident,
    privacy_statement,
    stored_update,
)
from wijkbot.residents import set_home_area
from wijkbot.services import Services
from wijkbot.staff_loop import reply

TELEGRAM_ID = 31337


@pytest.fixture
def tracker(tmp_path: Path) -> Engine:
    """A tracker store with Rasa's `events` table layout, holding this resident's and someone else's turns."""
    engine = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), type_name VARCHAR(255), "
                "timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"
            )
        )
        for sender, words in ((str(TELEGRAM_ID), "Zwerfvuil bij Gulberg"), ("999", "iemand anders")):
            connection.execute(
                text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, 'user', :t, :d)"),
                {"s": sender, "t": utcnow().timestamp(), "d": json.dumps({"text": words})},
            )
    return engine


@pytest.fixture
def history(session: Session, services: Services) -> models.Item:
    """A resident with an item, a staff reply, stored updates and sent messages."""
    staff = make_staff(session, services.registry, areas=["WK082613"], name="Sanne")
    resident = make_resident(session, first_name="Fenna", telegram_id=TELEGRAM_ID)
    resident.postcode = "4849AB"
    item = file_item(
        session,
        services.registry,
        services.rules,
        resident=resident,
        kind="report",
        area_code="WK082613",
        text="Zwerfvuil bij Gulberg",
    ).item
    reply(session, services.registry, staff=staff, item_id=item.id, text="We gaan kijken")
    record_update(session, update_id=1, chat_id=TELEGRAM_ID, kind="text", payload={"text": "Zwerfvuil bij Gulberg"})
    enqueue(session, purpose="reply:1:0", chat_id=TELEGRAM_ID, text="Dank je, Fenna")
    session.flush()
    return item


def _rows_mentioning(session: Session, *needles: str) -> list[str]:
    found = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)).mappings():
            blob = json.dumps({k: v for k, v in row.items()}, default=str, ensure_ascii=False)
            found += [f"{table.name}: {n}" for n in needles if n in blob]
    return found


def test_export_holds_everything(session: Session, history: models.Item, tracker: Engine) -> None:
    document = export_resident(session, telegram_id=TELEGRAM_ID, tracker=tracker)
    assert document is not None
    assert document["resident"]["first_name"] == "Fenna" and document["resident"]["postcode"] == "4849AB"
    assert [i["text"] for i in document["items"]] == ["Zwerfvuil bij Gulberg"]
    assert {h["kind"] for h in document["items"][0]["history"]} >= {"filed", "staff_reply"}
    assert document["messages_received"][0]["content"] == {"text": "Zwerfvuil bij Gulberg"}
    assert len(document["messages_sent"]) == 2  # the staff reply and the assistant's answer
    assert len(document["messages_to_staff_about_you"]) == 1
    assert [json.loads(e["data"])["text"] for e in document["conversation_events"]] == ["Zwerfvuil bij Gulberg"]
    json.loads(export_json(document))


def test_export_of_a_stranger_is_empty(session: Session, tracker: Engine) -> None:
    assert export_resident(session, telegram_id=4242, tracker=tracker) is None


def test_erasure_leaves_nothing_of_the_resident_anywhere(
    session: Session, history: models.Item, tracker: Engine
) -> None:
    before = export_resident(session, telegram_id=TELEGRAM_ID, tracker=tracker)
    report = erase_resident(session, telegram_id=TELEGRAM_ID, tracker=tracker)
    session.flush()
    assert _rows_mentioning(session, str(TELEGRAM_ID), "Fenna", "Zwerfvuil", "4849AB") == []
    with tracker.connect() as connection:
        senders = [r[0] for r in connection.execute(text("SELECT sender_id FROM events"))]
    assert senders == ["999"]  # someone else's conversation is untouched
    assert export_resident(session, telegram_id=TELEGRAM_ID, tracker=tracker) is None
    # export held everything that erasure removed
    assert before is not None
    assert report.items_anonymised == len(before["items"])
    assert report.updates_deleted == len(before["messages_received"])
    assert report.messages_deleted == len(before["messages_sent"])
    assert report.tracker_events_deleted == len(before["conversation_events"])


def test_erasure_keeps_an_anonymous_count_and_tells_the_staff(
    session: Session, history: models.Item, tracker: Engine
) -> None:
    report = erase_resident(session, telegram_id=TELEGRAM_ID, tracker=tracker)
    assert report.staff_told == 1
    item = session.get(models.Item, history.id)
    assert item is not None and (item.kind, item.area_code, item.status) == ("report", "WK082613", "withdrawn")
    told = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.purpose.contains("withdrawn")))
    assert ["ingetrokken" in r.payload["text"] for r in told] == [True]


def test_retention_removes_old_conversation_content(session: Session, history: models.Item, tracker: Engine) -> None:
    history.status, history.closed_at = "closed", utcnow() - timedelta(days=100)
    session.execute(text("UPDATE inbound_update SET status = 'done'"))
    later = utcnow() + timedelta(days=91)
    result = expire_old_data(session, retention=timedelta(days=90), now=later, tracker=tracker)
    assert result["items"] == 1 and result["updates"] == 1 and result["tracker_events"] == 2
    assert session.get(models.Item, history.id).text == "[verwijderd]"  # type: ignore[union-attr]
    assert expire_old_data(session, retention=timedelta(days=90), now=utcnow(), tracker=tracker)["items"] == 0


def _notification_shown_to(session: Session, item: models.Item, *, chat_id: int, message_id: int) -> None:
    """The staff notification of `item` was delivered as Telegram message `message_id`."""
    notification = session.scalars(
        select(models.OutboxMessage).where(
            models.OutboxMessage.item_id == item.id, models.OutboxMessage.recipient_chat_id == chat_id
        )
    ).first()
    assert notification is not None
    notification.status, notification.telegram_message_id = "sent", message_id


def _staff_update_quoting(update_id: int, *, chat_id: int, message_id: int, quoted: str, button: bool) -> dict:
    """What Telegram sends when a staff member replies to, or presses a button on, a notification."""
    notification = {
        "message_id": message_id,
        "date": 1,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": 1, "is_bot": True, "first_name": "wijkbot"},
        "text": quoted,
    }
    if button:
        query = {"id": "q", "from": {"id": chat_id}, "chat_instance": "c", "data": "claim", "message": notification}
        return {"update_id": update_id, "callback_query": query}
    message = {
        "message_id": 77,
        "date": 2,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Sanne"},
        "text": "Ik kom morgen kijken",
        "reply_to_message": notification,
    }
    return {"update_id": update_id, "message": message}


def test_a_staff_update_is_stored_without_the_notification_it_quotes() -> None:
    quoted = "Melding van Fenna: Zwerfvuil bij Gulberg"
    for button in (False, True):
        raw = _staff_update_quoting(5, chat_id=4242, message_id=31, quoted=quoted, button=button)
        stored = stored_update(raw)
        assert quoted not in json.dumps(stored) and "Fenna" not in json.dumps(stored)
        holder = stored["callback_query"]["message"] if button else stored["message"]["reply_to_message"]
        assert holder == {"message_id": 31, "date": 1, "chat": {"id": 4242, "type": "private"}}
    reply = stored_update(_staff_update_quoting(5, chat_id=4242, message_id=31, quoted=quoted, button=False))
    assert reply["message"]["text"] == "Ik kom morgen kijken"  # the staff member's own words stay


def test_erasure_removes_what_staff_stored_about_the_resident_and_withdraws_their_notifications(
    session: Session, services: Services, history: models.Item, tracker: Engine
) -> None:
    staff_chat = session.scalars(select(models.StaffMember.telegram_id).where(models.StaffMember.name == "Sanne")).one()
    assert staff_chat is not None
    _notification_shown_to(session, history, chat_id=staff_chat, message_id=31)
    quoted = "Melding van Fenna: Zwerfvuil bij Gulberg"
    # stored the way the first version of the bot stored them: whole, quoting the notification
    for update_id, button in ((2, False), (3, True)):
        payload = _staff_update_quoting(update_id, chat_id=staff_chat, message_id=31, quoted=quoted, button=button)
        record_update(session, update_id=update_id, chat_id=staff_chat, kind="staff", payload=payload)
    record_update(
        session, update_id=4, chat_id=staff_chat, kind="text", payload={"message": {"text": "We gaan kijken"}}
    )
    record_update(session, update_id=5, chat_id=staff_chat, kind="text", payload={"message": {"text": "/inbox"}})
    session.execute(text("UPDATE inbound_update SET status = 'done'"))

    erase_resident(session, telegram_id=TELEGRAM_ID, tracker=tracker)
    session.flush()

    assert _rows_mentioning(session, "Fenna", "Zwerfvuil", "We gaan kijken") == []
    left = session.scalars(select(models.InboundUpdate.update_id).where(models.InboundUpdate.chat_id == staff_chat))
    assert list(left) == [5]  # what the staff member did for others stays
    edit = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.method == "editMessageText")).one()
    assert (edit.recipient_chat_id, edit.payload["message_id"]) == (staff_chat, 31)
    assert f"#{history.id} is ingetrokken" in edit.payload["text"]


def test_an_open_item_nobody_touched_for_the_retention_period_is_expired_and_its_text_erased(
    session: Session, services: Services, history: models.Item, tracker: Engine
) -> None:
    resident = make_resident(session, first_name="Joop", telegram_id=5150)
    fresh = file_item(
        session,
        services.registry,
        services.rules,
        resident=resident,
        kind="idea",
        area_code="WK082613",
        text="Bankje bij de vijver",
    ).item
    session.flush()
    long_ago = utcnow() - timedelta(days=120)
    session.execute(
        update(models.Item).where(models.Item.id == history.id).values(status="claimed", updated_at=long_ago)
    )
    session.expire_all()

    result = expire_old_data(session, retention=timedelta(days=90), now=utcnow(), tracker=tracker)

    assert result["expired_open_items"] == 1
    forgotten = session.get(models.Item, history.id)
    assert forgotten is not None
    assert (forgotten.status, forgotten.text, forgotten.resident_id) == ("expired", "[verwijderd]", None)
    assert [e.text for e in forgotten.events] == [None] * len(forgotten.events)
    assert forgotten.events[-1].kind == "expired"
    told = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.purpose == f"item:{history.id}:expired")
    ).one()
    assert told.recipient_chat_id == TELEGRAM_ID and "Stuur het gerust opnieuw" in told.payload["text"]
    still_open = session.get(models.Item, fresh.id)
    assert still_open is not None and (still_open.status, still_open.text) == ("new", "Bankje bij de vijver")


def test_the_privacy_statement_is_the_resident_s_municipality_s_or_else_each_configured_one(
    session: Session, registry: Registry
) -> None:
    """profiles.yaml privacy_url; a deployment for one municipality always shows its own."""
    stranger = privacy_statement(session, registry, telegram_id=999_001)
    assert stranger.splitlines() == [
        "Hoe je gemeente met je gegevens omgaat, lees je in de privacyverklaring van je gemeente:",
        "• Oosterhout: https://www.oosterhout.nl/privacy",
        "• Oss: https://www.oss.nl/privacy",
    ]
    set_home_area(session, make_resident(session, telegram_id=999_002), area_code="WK082611")  # Den Hout
    own = privacy_statement(session, registry, telegram_id=999_002)
    assert own == "Hoe de gemeente Oosterhout met je gegevens omgaat, lees je in de privacyverklaring: " + (
        "https://www.oosterhout.nl/privacy"
    )
    only_oss = privacy_statement(session, registry_for(("GM0828",)), telegram_id=999_001)
    assert only_oss == "Hoe de gemeente Oss met je gegevens omgaat, lees je in de privacyverklaring: " + (
        "https://www.oss.nl/privacy"
    )
