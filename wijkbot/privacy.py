"""Residents' rights and retention: export everything held about a resident, erase it, expire old data.

Erasure keeps only anonymous counts: an item stays as "an idea in Dorst, closed" without text or person.
The Rasa tracker store (its own database) is cleaned too, through SQL on its `events` table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import Engine, delete, func, inspect, select, text, update
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot import purposes
from wijkbot.announcements import export_answers
from wijkbot.channels import WAITS_FOR_WINDOW
from wijkbot.effects import effects_of, forget_effects
from wijkbot.initiatives import support_of, withdraw_support
from wijkbot.items import KIND_WORDS
from wijkbot.municipalities import Registry
from wijkbot.outbox import enqueue
from wijkbot.payloads import Edit
from wijkbot.polls import export_poll_votes
from wijkbot.residents import find_resident
from wijkbot.workflow import FINISHED_STATES, OPEN_STATES, State, is_open, move, record

ERASED = "[verwijderd]"
WITHDRAWN = "[ingetrokken door de inwoner]"
EXPIRED_NOTICE = (
    "Je {kind} #{item} is lang niet meer opgepakt en is daarom gesloten; wat je schreef is gewist. "
    "Speelt het nog? Stuur het gerust opnieuw."
)
WITHDRAWN_NOTICE = "#{item} is ingetrokken: de inwoner heeft gevraagd al zijn gegevens te wissen."


@dataclass(frozen=True)
class ErasureReport:
    items_anonymised: int
    updates_deleted: int
    messages_deleted: int
    tracker_events_deleted: int
    staff_told: int


# What of a message the inbound log keeps. A reply or a button press quotes the message it answers (for staff:
# the notification with the resident's name and words); those copies are never stored, only their ids.
_MESSAGE_FIELDS = (
    "message_id",
    "date",
    "edit_date",
    "chat",
    "from",
    "text",
    "caption",
    "entities",
    "caption_entities",
    "photo",
    "document",
    "voice",
    "audio",
    "video",
    "video_note",
    "sticker",
    "location",
    "contact",
    "media_group_id",
    "forward_origin",
)
_REFERENCE_FIELDS = ("message_id", "date", "chat")


def _message_projection(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    kept = {k: v for k, v in message.items() if k in _MESSAGE_FIELDS}
    if isinstance(message.get("reply_to_message"), dict):
        kept["reply_to_message"] = _reference(message["reply_to_message"])
    return kept


def _reference(message: dict[str, Any]) -> dict[str, Any]:
    """Just enough of a quoted message to find it again: its id, date and chat."""
    return {k: v for k, v in message.items() if k in _REFERENCE_FIELDS}


def stored_update(payload: dict[str, Any]) -> dict[str, Any]:
    """The part of a Telegram update the inbound log keeps: the sender's own message, button data and ids;
    never the text of a quoted message (a notification to staff carries a resident's words)."""
    kept: dict[str, Any] = {}
    for key, value in payload.items():
        if key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            kept[key] = _message_projection(value)
        elif key == "callback_query" and isinstance(value, dict):
            query = {
                k: v for k, v in value.items() if k in ("id", "from", "chat_instance", "data", "inline_message_id")
            }
            if isinstance(value.get("message"), dict):
                query["message"] = _reference(value["message"])
            kept[key] = query
        else:
            kept[key] = value
    return kept


def _quoted_message_id(payload: dict[str, Any]) -> int | None:
    """The id of the message an update answers: the message replied to, or the one whose button was pressed."""
    for holder in (
        (payload.get("message") or {}).get("reply_to_message"),
        (payload.get("callback_query") or {}).get("message"),
    ):
        if isinstance(holder, dict) and holder.get("message_id") is not None:
            return int(holder["message_id"])
    return None


def _own_text(payload: dict[str, Any]) -> str | None:
    message = payload.get("message")
    return message.get("text") if isinstance(message, dict) else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def tracker_events(tracker: Engine | None, *, sender_id: str) -> list[dict[str, Any]]:
    """The Rasa conversation events stored for this sender (empty when there is no tracker store yet)."""
    if tracker is None or not inspect(tracker).has_table("events"):
        return []
    with tracker.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT type_name, timestamp, intent_name, action_name, data FROM events "
                "WHERE sender_id = :sender ORDER BY id"
            ),
            {"sender": sender_id},
        ).mappings()
        return [dict(row) for row in rows]


def export_resident(session: Session, *, telegram_id: int, tracker: Engine | None = None) -> dict[str, Any] | None:
    """Everything held about this resident, as a JSON-ready document; None when nothing is held."""
    resident = find_resident(session, telegram_id=telegram_id)
    updates = list(
        session.scalars(
            select(models.InboundUpdate)
            .where(models.InboundUpdate.chat_id == telegram_id)
            .order_by(models.InboundUpdate.update_id)
        )
    )
    messages = list(
        session.scalars(
            select(models.OutboxMessage)
            .where(models.OutboxMessage.recipient_chat_id == telegram_id)
            .order_by(models.OutboxMessage.id)
        )
    )
    events = tracker_events(tracker, sender_id=str(telegram_id))
    if resident is None and not updates and not messages and not events:
        return None
    items = (
        list(
            session.scalars(select(models.Item).where(models.Item.resident_id == resident.id).order_by(models.Item.id))
        )
        if resident
        else []
    )
    about = _messages_about(session, item_ids=[i.id for i in items], telegram_id=telegram_id)
    votes = export_poll_votes(session, resident_id=resident.id) if resident else []
    announcement_answers = export_answers(session, resident_id=resident.id) if resident else []
    effects = effects_of(session, telegram_id=telegram_id)
    address = session.scalars(select(models.ChannelAddress).where(models.ChannelAddress.chat_id == telegram_id)).first()
    return {
        "about": "Alles wat de wijkbot van de gemeente over jou bewaart (AVG art. 15).",
        "exported_at": utcnow().isoformat(),
        # the web chat or WhatsApp (wijkbot.channels): the session id or phone number, the name given there
        "channel": None
        if address is None
        else {
            "channel": address.channel,
            "address": address.address,
            "name": address.name,
            "last_message_at": _iso(address.last_inbound_at),
            "created_at": _iso(address.created_at),
        },
        "resident": None
        if resident is None
        else {
            "telegram_id": resident.telegram_id,
            "first_name": resident.first_name,
            "language": resident.language,
            "area_code": resident.area_code,
            "buurt_code": resident.buurt_code,
            "postcode": resident.postcode,
            "outreach_opt_in": resident.outreach_opt_in,
            "consent_at": _iso(resident.consent_at),
            "consent_via": resident.consent_via,
            "source": resident.source,  # the wijk link that brought them (wijkbot.reach)
            "opt_in_offered_at": _iso(resident.offered_at),  # wijkbot.offers
            "opt_in_declined_at": _iso(resident.offer_declined_at),
            "blocked": resident.blocked,
            "created_at": _iso(resident.created_at),
            "last_seen_at": _iso(resident.last_seen_at),
        },
        "items": [
            {
                "id": item.id,
                "kind": item.kind,
                "area_code": item.area_code,
                "text": item.text,
                "details": item.details,
                "status": item.status,
                "outcome": item.outcome,
                "created_at": _iso(item.created_at),
                "closed_at": _iso(item.closed_at),
                "history": [
                    {"at": _iso(e.at), "kind": e.kind, "status": e.status, "text": e.text} for e in item.events
                ],
            }
            for item in items
        ],
        "messages_received": [
            {"update_id": u.update_id, "kind": u.kind, "received_at": _iso(u.received_at), "content": u.payload}
            for u in updates
        ],
        "messages_sent": [
            {
                "id": m.id,
                "purpose": m.purpose,
                "status": m.status,
                "created_at": _iso(m.created_at),
                "content": m.payload,
            }
            for m in messages
        ],
        "poll_votes": votes,
        "supporting": support_of(session, resident_id=resident.id) if resident else [],
        "announcement_answers": announcement_answers,  # Ik kom / Herinner me (wijkbot.announcements)
        "turns_done_once": [
            {"update_id": e.update_id, "action": e.action, "result": e.result, "at": _iso(e.created_at)}
            for e in effects
        ],
        "messages_to_staff_about_you": [
            {
                "id": m.id,
                "item_id": m.item_id,
                "status": m.status,
                "created_at": _iso(m.created_at),
                "content": m.payload,
            }
            for m in about
        ],
        "conversation_events": [
            {k: (v if not isinstance(v, datetime) else v.isoformat()) for k, v in e.items()} for e in events
        ],
    }


def privacy_statement(session: Session, registry: Registry, *, telegram_id: int) -> str:
    """Where a resident reads how the municipality handles their data: the privacy statement (`privacy_url` in
    profiles.yaml) of their own municipality when their area is known, else of each configured municipality.
    Shown after the greeting of /start and with /mijngegevens."""
    resident = find_resident(session, telegram_id=telegram_id)
    area = registry.find_area(resident.area_code) if resident is not None and resident.area_code else None
    municipalities = [registry.municipality(area.municipality_code)] if area else list(registry.municipalities)
    if len(municipalities) == 1:
        [municipality] = municipalities
        return (
            f"Hoe de gemeente {escape(municipality.name)} met je gegevens omgaat, lees je in de privacyverklaring: "
            f"{escape(municipality.privacy_url)}"
        )
    lines = ["Hoe je gemeente met je gegevens omgaat, lees je in de privacyverklaring van je gemeente:"]
    lines += [f"• {escape(m.name)}: {escape(m.privacy_url)}" for m in municipalities]
    return "\n".join(lines)


def export_summary(document: dict[str, Any]) -> str:
    """A short readable summary to send with the JSON file."""
    resident = document.get("resident") or {}
    lines = [
        "<b>Dit bewaren we over jou</b>",
        f"• Voornaam: {escape(str(resident.get('first_name') or '-'))}",
        f"• Gebied: {escape(str(resident.get('area_code') or 'onbekend'))}",
        f"• Peilingen en berichten uit je wijk: {'ja' if resident.get('outreach_opt_in') else 'nee'}",
        f"• Ideeën, meldingen en vragen: {len(document['items'])}",
        f"• Berichten van jou: {len(document['messages_received'])}; van ons: {len(document['messages_sent'])}",
        f"• Gespreksgegevens van de assistent: {len(document['conversation_events'])}",
        "",
        "Alles staat in het bestand hierbij. Wissen? Stuur /vergeetmij.",
    ]
    return "\n".join(lines)


def erase_resident(session: Session, *, telegram_id: int, tracker: Engine | None = None) -> ErasureReport:
    """Erase the resident's personal data everywhere; tell staff who held their open items."""
    resident = find_resident(session, telegram_id=telegram_id)
    anonymised = told = 0
    if resident is not None:
        items = list(session.scalars(select(models.Item).where(models.Item.resident_id == resident.id)))
        staff_texts = {e.text for item in items for e in item.events if e.kind == "staff_reply" and e.text}
        for item in items:
            if is_open(item):
                told += _tell_staff_withdrawn(session, item)
                move(item, State.WITHDRAWN, event="withdrawn")
            item.text = WITHDRAWN
            item.details = {}
            item.outcome = None
            item.resident_id = None
            item.thread_staff_id = None
            item.thread_until = None
            for event in item.events:
                event.text = None
            record(item, event="erased", status=State(item.status))
            anonymised += 1
        about = _messages_about(session, item_ids=[i.id for i in items], telegram_id=telegram_id)
        staff_updates = _staff_updates_about(session, about=about, staff_texts=staff_texts)
        for row in staff_updates:
            if row.status == "pending":
                row.payload = stored_update(row.payload)
            else:
                session.delete(row)
        for message in about:
            if message.status == "pending":
                session.delete(message)
                continue
            message.payload = {"text": WITHDRAWN}
            if message.status == "sent" and message.telegram_message_id is not None and message.method == "sendMessage":
                _withdraw_on_screen(session, message)
        withdraw_support(session, resident_id=resident.id)  # it no longer counts
        session.flush()
        session.execute(delete(models.AnnouncementReply).where(models.AnnouncementReply.resident_id == resident.id))
        session.delete(resident)
    updates = session.execute(delete(models.InboundUpdate).where(models.InboundUpdate.chat_id == telegram_id))
    forget_effects(session, telegram_id=telegram_id)
    messages = session.execute(
        delete(models.OutboxMessage).where(
            models.OutboxMessage.recipient_chat_id == telegram_id, models.OutboxMessage.status != "sending"
        )
    )
    tracker_deleted = 0
    if tracker is not None and inspect(tracker).has_table("events"):
        with tracker.begin() as connection:
            tracker_deleted = connection.execute(
                text("DELETE FROM events WHERE sender_id = :sender"), {"sender": str(telegram_id)}
            ).rowcount
    return ErasureReport(
        anonymised,
        int(getattr(updates, "rowcount", 0)),
        int(getattr(messages, "rowcount", 0)),
        int(tracker_deleted or 0),
        told,
    )


def _messages_about(session: Session, *, item_ids: list[int], telegram_id: int) -> list[models.OutboxMessage]:
    """Notifications to staff that carry this resident's words (their items), not sent to the resident."""
    if not item_ids:
        return []
    return list(
        session.scalars(
            select(models.OutboxMessage)
            .where(
                models.OutboxMessage.item_id.in_(item_ids),
                models.OutboxMessage.recipient_chat_id != telegram_id,
                ~models.OutboxMessage.purpose.contains(purposes.WITHDRAWN),
            )
            .order_by(models.OutboxMessage.id)
        )
    )


def _staff_updates_about(
    session: Session, *, about: list[models.OutboxMessage], staff_texts: set[str]
) -> list[models.InboundUpdate]:
    """What staff sent about the resident's items: replies to and button presses on their notifications, and
    the texts they wrote to the resident."""
    notified = {(m.recipient_chat_id, m.telegram_message_id) for m in about if m.telegram_message_id is not None}
    chats = {chat for chat, _ in notified} | {m.recipient_chat_id for m in about}
    if not chats:
        return []
    rows = session.scalars(select(models.InboundUpdate).where(models.InboundUpdate.chat_id.in_(chats)))
    return [
        row
        for row in rows
        if (row.chat_id, _quoted_message_id(row.payload)) in notified or _own_text(row.payload) in staff_texts
    ]


def _withdraw_on_screen(session: Session, message: models.OutboxMessage) -> None:
    """Replace a notification in a staff member's chat by a line saying the item was withdrawn."""
    item_id, shown = int(message.item_id or 0), int(message.telegram_message_id or 0)
    enqueue(
        session,
        purpose=purposes.item_withdrawn_edit(item_id, message.id),
        chat_id=message.recipient_chat_id,
        message=Edit(message_id=shown, text=WITHDRAWN_NOTICE.format(item=item_id)),
        item_id=message.item_id,
        priority=5,
    )


def _tell_staff_withdrawn(session: Session, item: models.Item) -> int:
    told = 0
    for recipient in item.recipients:
        member = session.get(models.StaffMember, recipient.staff_id)
        if member is None or member.telegram_id is None:
            continue
        enqueue(
            session,
            purpose=purposes.item_withdrawn(item.id, member.id),
            chat_id=member.telegram_id,
            text=f"#{item.id} ({escape(KIND_WORDS.get(item.kind, item.kind))}) is ingetrokken: de inwoner heeft "
            "gevraagd al zijn gegevens te wissen. Je hoeft er niets meer mee te doen.",
            item_id=item.id,
        )
        told += 1
    return told


def expire_old_data(
    session: Session, *, retention: timedelta, now: datetime | None = None, tracker: Engine | None = None
) -> dict[str, int]:
    """Remove conversation content and closed items' personal data older than the retention period."""
    cutoff = (now or utcnow()) - retention
    closed_items = select(models.Item.id).where(
        models.Item.status.in_(FINISHED_STATES),
        models.Item.closed_at.is_not(None),
        models.Item.closed_at < cutoff,
        models.Item.text != ERASED,
    )
    ids = list(session.scalars(closed_items))
    expired = _expire_forgotten_items(session, cutoff=cutoff, now=now or utcnow())
    if ids:
        session.execute(
            update(models.Item)
            .where(models.Item.id.in_(ids))
            .values(text=ERASED, details={}, outcome=None, resident_id=None)
        )
        session.execute(update(models.ItemEvent).where(models.ItemEvent.item_id.in_(ids)).values(text=None))
    updates = session.execute(
        delete(models.InboundUpdate).where(
            models.InboundUpdate.received_at < cutoff, models.InboundUpdate.status != "pending"
        )
    )
    forget_effects(session, before=cutoff)
    messages = session.execute(
        delete(models.OutboxMessage).where(
            models.OutboxMessage.created_at < cutoff,
            models.OutboxMessage.status.in_(("sent", "failed", "uncertain")),
        )
    )
    # WhatsApp rows that waited the whole period for a window that never opened again
    waited = session.execute(
        delete(models.OutboxMessage).where(
            models.OutboxMessage.created_at < cutoff,
            models.OutboxMessage.status == "pending",
            models.OutboxMessage.error.contains(WAITS_FOR_WINDOW),
        )
    )
    # a web chat session or WhatsApp number that is no resident's and was silent the whole period
    residents = select(models.Resident.telegram_id).where(models.Resident.telegram_id.is_not(None))
    addresses = session.execute(
        delete(models.ChannelAddress).where(
            func.coalesce(models.ChannelAddress.last_inbound_at, models.ChannelAddress.created_at) < cutoff,
            models.ChannelAddress.chat_id.not_in(residents),
        )
    )
    tracker_deleted = 0
    if tracker is not None and inspect(tracker).has_table("events"):
        with tracker.begin() as connection:
            tracker_deleted = connection.execute(
                text("DELETE FROM events WHERE timestamp < :cutoff"), {"cutoff": cutoff.timestamp()}
            ).rowcount
    return {
        "channel_addresses": int(getattr(addresses, "rowcount", 0)),
        "waited_for_window": int(getattr(waited, "rowcount", 0)),
        "items": len(ids),
        "expired_open_items": expired,
        "updates": int(getattr(updates, "rowcount", 0)),
        "messages": int(getattr(messages, "rowcount", 0)),
        "tracker_events": int(tracker_deleted or 0),
    }


def _expire_forgotten_items(session: Session, *, cutoff: datetime, now: datetime) -> int:
    """Open items nobody touched for the whole retention period lose their text too: the resident is told
    (they can send it again), the item stays as an anonymous count with the status `expired`."""
    forgotten = list(
        session.scalars(select(models.Item).where(models.Item.status.in_(OPEN_STATES), models.Item.updated_at < cutoff))
    )
    for item in forgotten:
        resident = session.get(models.Resident, item.resident_id) if item.resident_id else None
        if resident is not None and not resident.blocked:
            enqueue(
                session,
                purpose=purposes.item_expired(item.id),
                chat_id=resident.telegram_id,
                text=EXPIRED_NOTICE.format(kind=KIND_WORDS.get(item.kind, item.kind), item=item.id),
                now=now,
            )
        move(item, State.EXPIRED, event="expired", now=now)
        item.text = ERASED
        item.details = {}
        item.outcome = None
        item.resident_id = None
        item.thread_staff_id = None
        item.thread_until = None
        for event in item.events:
            event.text = None
    return len(forgotten)


def export_json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, default=str)
