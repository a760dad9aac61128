"""The inbound log: every update is stored before it is handled, once per `update_id`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from db.statements import insert_new

MAX_BACKOFF = timedelta(seconds=60)

# A resident's turn runs these on every message: built once, with binds (SQLAlchemy then neither builds nor
# keys them again). An object of the same update loaded in the session is not refreshed by the UPDATEs.
_DONE = (
    update(models.InboundUpdate)
    .where(models.InboundUpdate.update_id == bindparam("key"))
    .values(status=bindparam("new_status"), processed_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)
_AS_TURN = (
    update(models.InboundUpdate)
    .where(models.InboundUpdate.update_id == bindparam("key"))
    .values(kind="rasa", payload=bindparam("turn"))
    .execution_options(synchronize_session=False)
)
_PENDING = (
    select(models.InboundUpdate)
    .where(models.InboundUpdate.chat_id == bindparam("chat_id"), models.InboundUpdate.status == "pending")
    .order_by(models.InboundUpdate.update_id)
)


def record_update(
    session: Session,
    *,
    update_id: int,
    chat_id: int | None,
    kind: str,
    payload: dict[str, Any],
    now: datetime | None = None,
) -> bool:
    """Store an update; False when this update_id was stored before (Telegram redelivered it)."""
    values = {
        "update_id": update_id,
        "chat_id": chat_id,
        "kind": kind,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "received_at": now or utcnow(),
    }
    # RETURNING, not rowcount (PostgreSQL's driver reports 1 for an ORM insert that did nothing), says whether
    # it was new; one cached statement for both databases (db.statements)
    stmt = insert_new(models.InboundUpdate, tuple(values), "update_id")
    return session.connection().execute(stmt, values).first() is not None


def mark_done(session: Session, *, update_id: int, status: str = "done", now: datetime | None = None) -> None:
    session.execute(_DONE, {"key": update_id, "new_status": status, "at": now or utcnow()})


def mark_retry(session: Session, *, update_id: int, now: datetime | None = None) -> datetime:
    """Leave the update pending and say when to try again (exponential backoff up to a minute)."""
    now = now or utcnow()
    row = session.get(models.InboundUpdate, update_id)
    if row is None:
        return now
    row.attempts += 1
    delay = min(timedelta(seconds=2 ** min(row.attempts, 6)), MAX_BACKOFF)
    row.next_attempt_at = now + delay
    return row.next_attempt_at


def pending_chats(session: Session, *, now: datetime | None = None) -> list[int]:
    """Chats whose oldest waiting update is due for another try."""
    now = now or utcnow()
    rows = session.execute(
        select(models.InboundUpdate.chat_id, models.InboundUpdate.next_attempt_at)
        .where(models.InboundUpdate.status == "pending", models.InboundUpdate.chat_id.is_not(None))
        .order_by(models.InboundUpdate.update_id)
    ).all()
    first: dict[int, datetime | None] = {}
    for chat_id, next_attempt in rows:
        first.setdefault(int(chat_id), next_attempt)
    return [chat for chat, due in first.items() if due is None or due <= now]


def pending_updates(session: Session, *, chat_id: int) -> list[models.InboundUpdate]:
    return list(session.scalars(_PENDING, {"chat_id": chat_id}))


def is_pending(session: Session, *, update_id: int) -> bool:
    """Whether this stored update still waits to be handled (False: unknown, or handled before)."""
    row = session.get(models.InboundUpdate, update_id)
    return row is not None and row.status == "pending"


def finish_handled(session: Session, *, update_id: int, now: datetime) -> None:
    """Mark a handled update done, unless it is a resident turn (marked when answered) or done already."""
    row = session.get(models.InboundUpdate, update_id)
    if row is not None and row.kind != "rasa" and row.status == "pending":
        mark_done(session, update_id=update_id, now=now)


def store_turn(
    session: Session, *, update_id: int, chat_id: int, user_id: int, text: str, meta: dict[str, Any]
) -> None:
    """Store (or mark) an update as a resident turn for Rasa, with what the turn needs."""
    payload = {"text": text, "user_id": user_id, "meta": meta}
    marked = session.execute(_AS_TURN, {"key": update_id, "turn": payload})
    if not marked.rowcount:  # type: ignore[attr-defined]
        session.add(models.InboundUpdate(update_id=update_id, chat_id=chat_id, kind="rasa", payload=payload))
        session.flush()


def backing_off(pending: Sequence[models.InboundUpdate], *, before: int, now: datetime) -> bool:
    """Whether, among a chat's pending updates (`pending_updates`, oldest first), the oldest turn before
    `before` waits for Rasa and is not due for another try yet."""
    older = next((row for row in pending if row.kind == "rasa" and row.update_id < before), None)
    return older is not None and older.next_attempt_at is not None and older.next_attempt_at > now


def forget_update(session: Session, *, update_id: int) -> None:
    """Remove a stored update (the press of an erasure's confirmation, which names the resident)."""
    row = session.get(models.InboundUpdate, update_id)
    if row is not None:
        session.delete(row)
