"""Updates that were stored but never handled: the bot stopped or crashed while they waited.

Every update is stored in the inbound log before Telegram is told it arrived (bot/intake.py). On start,
the bot hands every stored update that is still pending back to its handlers, oldest first. Resident
turns that wait for Rasa (kind "rasa") are not taken here: the retry job answers those, and keeps their
backoff; one whose handling keeps raising (a real error, not Rasa being away) is failed after `MAX_ERRORS`
tries (record_turn_error), so its chat is never stuck. An update that was handed back `MAX_REDISPATCH`
times and still is not handled (it seems to stop the bot each time), or that can no longer be read, is
marked failed: the sender hears that the message was not processed, and the municipality's inbox is
alerted (without the message's content).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot import purposes
from wijkbot.inbound import mark_retry
from wijkbot.outbox import enqueue

MAX_REDISPATCH = 3
MAX_ERRORS = 3  # a waiting resident turn whose handling raised this often (not Rasa being away) is failed
RESIDENT_NOTICE = "Sorry, een eerder bericht van je kon ik door een storing niet verwerken. Wil je het nog eens sturen?"
OPERATOR_ALERT = (
    "Let op: een bericht aan de bot (update {update_id}, soort {kind}) kon na een storing niet worden "
    "verwerkt en is als mislukt gemarkeerd ({reason}). De afzender is gevraagd het opnieuw te sturen."
)


@dataclass(frozen=True)
class Redispatch:
    update_id: int
    chat_id: int | None
    kind: str
    payload: dict[str, Any]


def take_for_redispatch(
    session: Session, *, now: datetime | None = None, max_attempts: int = MAX_REDISPATCH
) -> list[Redispatch]:
    """The pending updates to hand back to the handlers, oldest first; each hand-back is counted.

    An update handed back `max_attempts` times already is failed (and reported) instead.
    """
    now = now or utcnow()
    rows = session.scalars(
        select(models.InboundUpdate)
        .where(models.InboundUpdate.status == "pending", models.InboundUpdate.kind != "rasa")
        .order_by(models.InboundUpdate.update_id)
    )
    taken: list[Redispatch] = []
    for row in rows:
        if row.attempts >= max_attempts:
            fail_unhandled(session, update_id=row.update_id, reason=f"{row.attempts} keer geprobeerd", now=now)
            continue
        row.attempts += 1
        taken.append(Redispatch(row.update_id, row.chat_id, row.kind, dict(row.payload or {})))
    return taken


def fail_unhandled(
    session: Session, *, update_id: int, reason: str, now: datetime | None = None, tell_sender: bool = True
) -> None:
    """Mark a stored update failed; tell its sender (a private chat; not when `tell_sender` is False, e.g. a
    button press whose presser was already told) and alert the municipality's inbox."""
    now = now or utcnow()
    row = session.get(models.InboundUpdate, update_id)
    if row is None or row.status != "pending":
        return
    row.status = "failed"
    row.processed_at = now
    if tell_sender and row.chat_id is not None and row.chat_id > 0:  # a private chat (groups have negative ids)
        enqueue(
            session,
            purpose=purposes.unhandled(update_id),
            chat_id=row.chat_id,
            text=RESIDENT_NOTICE,
            priority=10,
            now=now,
        )
    alert = OPERATOR_ALERT.format(update_id=update_id, kind=row.kind, reason=reason)
    for chat_id in operator_chats(session):
        enqueue(session, purpose=purposes.unhandled_alert(update_id), chat_id=chat_id, text=alert, priority=5, now=now)


def record_handler_error(session: Session, *, update_id: int, error: str, now: datetime) -> str | None:
    """A handler raised on this update: count the try; a resident turn stays pending (the retry job answers it,
    and tells the inbox after its last try), anything else is failed at once and the municipality's inbox is
    told, with the sender (a button's presser is told by the button itself). Returns the status it was left
    in, None when it was not pending."""
    row = session.get(models.InboundUpdate, update_id)
    if row is None or row.status != "pending":
        return None
    row.attempts += 1
    if row.kind != "rasa":
        fail_unhandled(session, update_id=update_id, reason=error, now=now, tell_sender=row.kind != "callback")
    return str(row.status)


def record_turn_error(
    session: Session, *, update_id: int, error: str, now: datetime | None = None, max_errors: int = MAX_ERRORS
) -> bool:
    """A waiting resident turn raised while it was handled (a real error, not Rasa being away). It stays
    pending with the usual backoff, its chat's later turns waiting behind it; the `max_errors`-th time it is
    failed instead, its sender told and the inbox alerted (fail_unhandled), so the chat moves on. Returns
    whether it was failed. The count is kept in the stored turn (`payload["errors"]`)."""
    now = now or utcnow()
    row = session.get(models.InboundUpdate, update_id)
    if row is None or row.status != "pending":
        return False
    errors = int((row.payload or {}).get("errors", 0)) + 1
    row.payload = {**(row.payload or {}), "errors": errors, "last_error": error[:300]}
    if errors >= max_errors:
        fail_unhandled(session, update_id=update_id, reason=f"{errors} keer een fout", now=now)
        return True
    mark_retry(session, update_id=update_id, now=now)
    return False


def operator_chats(session: Session) -> list[int]:
    """The Telegram chats of the municipality's inbox (role `inbox`), who look after what went wrong."""
    return [
        int(telegram_id)
        for telegram_id in session.scalars(
            select(models.StaffMember.telegram_id)
            .where(
                models.StaffMember.role == "inbox",
                models.StaffMember.active.is_(True),
                models.StaffMember.telegram_id.is_not(None),
            )
            .order_by(models.StaffMember.id)
        )
        if telegram_id is not None
    ]


def expire_pending(session: Session, *, cutoff: datetime, now: datetime | None = None) -> int:
    """Pending updates received before `cutoff` (the retention period) are given up as 'expired', so the
    retention job removes them like every other handled update."""
    result = session.execute(
        update(models.InboundUpdate)
        .where(models.InboundUpdate.status == "pending", models.InboundUpdate.received_at < cutoff)
        .values(status="expired", processed_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
