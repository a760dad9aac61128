"""Writing to the outbox: the only way anything is sent. The sender in bot/ reads these rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from db.statements import insert_new
from wijkbot.channels import channel_of, channels_of
from wijkbot.payloads import Buttons, Payload, Text, UnreadablePayload, from_json, to_json
from wijkbot.purposes import Purpose, part
from wijkbot.text_budget import fit_message


@dataclass(frozen=True)
class Queued:
    """One message of a broadcast (`enqueue_many`)."""

    purpose: Purpose
    chat_id: int
    message: Payload
    not_before: datetime | None = None
    priority: int = 0


def enqueue(
    session: Session,
    *,
    purpose: Purpose,
    chat_id: int,
    message: Payload | None = None,
    text: str | None = None,
    buttons: Buttons | None = None,
    not_before: datetime | None = None,
    priority: int = 0,
    item_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Add one message, unique per (purpose, recipient); False when that message was already queued.

    `message` is what to send (wijkbot.payloads); `text` and `buttons` are short for `Text(text=…, buttons=…)`.
    `now` is the caller's clock (the bot's injected one): the row is due from then unless `not_before`.
    A text longer than Telegram allows becomes several rows, in order: `purpose`, `purpose#2`, … (buttons on
    the last); see wijkbot.text_budget.
    """
    if (message is None) == (text is None):
        raise ValueError("enqueue takes a message or a text, one of the two")
    now = now or utcnow()
    body = message if message is not None else Text(text=str(text), buttons=buttons or None)
    added = False
    channel = channel_of(session, chat_id)
    for index, piece in enumerate(fit_message(body), start=1):
        values = _row(part(purpose, index), chat_id, piece, not_before or now, priority, now, channel)
        new = _insert_one(session, values | {"item_id": item_id}) is not None
        added = added or (index == 1 and new)
    return added


@dataclass(frozen=True)
class ClaimedRow:
    """A message queued already claimed (`enqueue_claimed`)."""

    id: int
    message: Payload
    token: str
    begun: bool  # its `begin_send` was written with it
    channel: str


def enqueue_claimed(
    session: Session,
    *,
    worker: str,
    chat_id: int,
    messages: Sequence[tuple[Purpose, Payload]],
    priority: int,
    now: datetime,
    begin_first: Callable[[str], bool],
) -> list[ClaimedRow] | None:
    """Queue messages for one chat (each as `enqueue` would, long texts split) already claimed by `worker`,
    as `claim_due` would claim them, for a sender to send at once: no second transaction to claim them.
    `begin_first(channel)`: whether the first one's `begin_send` is written too (its chat may send at once).

    None, and nothing queued, when the chat has a message before these that is due or being sent: these
    must go after it, so the caller queues them as usual and lets a claim take the chat in order. A message
    queued before under the same purpose is not queued again (as with `enqueue`), nor in the result.

    The rows are written first and the chat looked at after: on SQLite the write takes the database's one
    write lock, so no claim can come in between; on PostgreSQL the look waits for a claim in progress.
    """
    channel = channel_of(session, chat_id)
    begin = begin_first(channel)
    claimed: list[ClaimedRow] = []
    for purpose, message in messages:
        for index, piece in enumerate(fit_message(message), start=1):
            token = uuid.uuid4().hex
            begun = begin and not claimed
            values = _row(part(purpose, index), chat_id, piece, now, priority, now, channel) | {
                "status": "sending",
                "claimed_by": worker,
                "claimed_at": now,
                "claim_token": token,
                "send_started_at": now if begun else None,
            }
            row_id = _insert_one(session, values)
            if row_id is not None:
                claimed.append(ClaimedRow(row_id, piece, token, begun, channel))
    if _chat_busy(session, chat_id=chat_id, besides=[row.id for row in claimed], now=now):
        session.execute(
            delete(models.OutboxMessage)
            .where(models.OutboxMessage.id.in_([row.id for row in claimed]))
            .execution_options(synchronize_session=False)
        )
        return None
    return claimed


INSERTED_COLUMNS = (
    "channel",
    "purpose",
    "recipient_chat_id",
    "method",
    "payload",
    "status",
    "priority",
    "attempts",
    "not_before",
    "created_at",
    "item_id",
    "claimed_by",
    "claimed_at",
    "claim_token",
    "send_started_at",
)


def _insert_one(session: Session, values: dict[str, Any]) -> int | None:
    """Insert one row unless its (purpose, recipient) is queued already: its id, or None. On the session's
    connection, one cached statement (db.statements); RETURNING, not rowcount (PostgreSQL's driver reports 1
    for an ORM insert that did nothing), says whether it was new."""
    row = {name: values.get(name) for name in INSERTED_COLUMNS}
    inserted = session.connection().execute(insert_new(models.OutboxMessage, INSERTED_COLUMNS, "id"), row).first()
    return None if inserted is None else int(inserted[0])


_BUSY = (  # built once: asked on every turn
    select(models.OutboxMessage.id)
    .where(
        models.OutboxMessage.recipient_chat_id == bindparam("chat_id"),
        or_(
            models.OutboxMessage.status == "sending",
            and_(models.OutboxMessage.status == "pending", models.OutboxMessage.not_before <= bindparam("now")),
        ),
        models.OutboxMessage.id.not_in(bindparam("besides", expanding=True)),
    )
    .limit(1)
)
_BUSY_LOCKING = _BUSY.with_for_update()


def _chat_busy(session: Session, *, chat_id: int, besides: list[int], now: datetime) -> bool:
    """Whether this chat has a message (other than `besides`) that is due or held by a claim."""
    query = _BUSY_LOCKING if session.get_bind().dialect.name == "postgresql" else _BUSY
    return session.scalar(query, {"chat_id": chat_id, "now": now, "besides": besides}) is not None


def _row(
    purpose: Purpose, chat_id: int, message: Payload, due: datetime, priority: int, now: datetime, channel: str
) -> dict[str, Any]:
    return {
        "channel": channel,
        "purpose": purpose,
        "recipient_chat_id": chat_id,
        "method": message.METHOD,
        "payload": to_json(message),
        "status": "pending",
        "priority": priority,
        "attempts": 0,
        "not_before": due,
        "created_at": now,
    }


def _insert(session: Session) -> Any:
    """An INSERT that skips a row whose (purpose, recipient) is queued already."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(models.OutboxMessage).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(models.OutboxMessage).on_conflict_do_nothing()
    return insert(models.OutboxMessage)  # pragma: no cover - only SQLite and PostgreSQL are supported


def read(row: models.OutboxMessage) -> Payload:
    """The message a row holds (wijkbot.payloads.UnreadablePayload when it cannot be read)."""
    return from_json(row.method, row.payload)


def claim_due(
    session: Session,
    *,
    worker: str,
    limit: int = 50,
    now: datetime | None = None,
    stale_after: timedelta = timedelta(minutes=2),
    chat_id: int | None = None,
    per_chat: int | None = None,
) -> list[models.OutboxMessage]:
    """Claim up to `limit` due rows for this worker; other workers skip them (SKIP LOCKED on PostgreSQL).
    With `per_chat`, no more than that many of one chat: the rest of that chat stays queued for a later claim.

    Every claim writes a fresh `claim_token`: the results below are recorded only with the token of the
    current claim, so a worker whose row was taken over cannot overwrite what the new holder did. Rows
    left 'sending' by a worker that died (or that waited longer than `stale_after` since its claim or its
    last `begin_send`) are taken back; `send_started_at` then still says whether that worker had started
    the Bot API call (the message may have arrived: wijkbot.delivery decides what that means).

    With `chat_id`, only that chat's rows, and nothing at all while another claim holds one of them (it is
    being sent: the chat's order is that claim's to keep). On PostgreSQL this waits for a claim in progress
    instead of skipping its rows, so that it sees that claim.
    """
    now = now or utcnow()
    due = or_(
        and_(models.OutboxMessage.status == "pending", models.OutboxMessage.not_before <= now),
        and_(models.OutboxMessage.status == "sending", models.OutboxMessage.claimed_at < now - stale_after),
    )
    if chat_id is not None:
        due = and_(models.OutboxMessage.recipient_chat_id == chat_id, due)
    query = (
        select(models.OutboxMessage)
        .where(due)
        .order_by(models.OutboxMessage.priority.desc(), models.OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=chat_id is None)
    rows = list(session.scalars(query))
    if per_chat is not None:
        rows = _first_of_each_chat(rows, per_chat)
    if chat_id is not None and rows and _being_sent(session, chat_id=chat_id, besides=[r.id for r in rows]):
        return []  # nothing written yet: the rows stay as they were
    for row in rows:
        row.status = "sending"
        row.claimed_by = worker
        row.claimed_at = now
        row.claim_token = uuid.uuid4().hex
    session.flush()
    return rows


def _first_of_each_chat(rows: list[models.OutboxMessage], per_chat: int) -> list[models.OutboxMessage]:
    """The rows in their order, each chat's after its first `per_chat` left out."""
    seen: dict[int, int] = {}
    kept = []
    for row in rows:
        seen[row.recipient_chat_id] = seen.get(row.recipient_chat_id, 0) + 1
        if seen[row.recipient_chat_id] <= per_chat:
            kept.append(row)
    return kept


def _being_sent(session: Session, *, chat_id: int, besides: list[int]) -> bool:
    """Whether a claim holds a row of this chat (other than `besides`)."""
    return (
        session.scalar(
            select(models.OutboxMessage.id)
            .where(
                models.OutboxMessage.recipient_chat_id == chat_id,
                models.OutboxMessage.status == "sending",
                models.OutboxMessage.id.not_in(besides),
            )
            .limit(1)
        )
        is not None
    )


def _held(row_id: int | BindParameter[int], token: str | BindParameter[str]) -> Any:
    """The row, only while this claim holds it (values, or binds for a statement built once)."""
    return and_(
        models.OutboxMessage.id == row_id,
        models.OutboxMessage.claim_token == token,
        models.OutboxMessage.status == "sending",
    )


def _changed(result: Any) -> bool:
    return bool(getattr(result, "rowcount", 0))


_HELD = _held(bindparam("row_id"), bindparam("token"))  # for the statements built once below (every send runs them)
_BEGIN = (
    update(models.OutboxMessage)
    .where(_HELD)
    .values(claimed_at=bindparam("at"), send_started_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)
_SENT = (
    update(models.OutboxMessage)
    .where(_HELD)
    .values(
        status="sent",
        sent_at=bindparam("at"),
        telegram_message_id=bindparam("message_id"),
        channel_message_id=bindparam("channel_id"),
        error=None,
        claim_token=None,
    )
    .execution_options(synchronize_session=False)
)


def begin_send(session: Session, *, row_id: int, token: str, now: datetime) -> bool:
    """Right before the Bot API call: renew the claim and note that the call starts. False: the row was
    taken over (reclaimed by another worker, or erased) and must not be sent by this claim."""
    return _changed(session.execute(_BEGIN, {"row_id": row_id, "token": token, "at": now}))


def mark_sent(
    session: Session,
    *,
    row_id: int,
    token: str,
    telegram_message_id: int | None,
    forget: bool = False,
    now: datetime | None = None,
    channel_message_id: str | None = None,
) -> bool:
    """Record delivery; a row marked `ephemeral` (e.g. the goodbye after an erasure) is deleted instead.
    False: this claim no longer holds the row, nothing was changed."""
    if forget:
        return _changed(session.execute(delete(models.OutboxMessage).where(_held(row_id, token))))
    values = {
        "row_id": row_id,
        "token": token,
        "at": now or utcnow(),
        "message_id": telegram_message_id,
        "channel_id": channel_message_id,
    }
    sent = _changed(session.execute(_SENT, values))
    if channel_message_id is not None and sent:
        early = session.get(models.EarlyStatus, channel_message_id)
        row = session.get(models.OutboxMessage, row_id, populate_existing=True)
        if early is not None and row is not None:
            _apply_status(row, status=early.status, at=early.at, error=early.error)
            session.delete(early)
    return sent


def mark_failed(session: Session, *, row_id: int, token: str, error: str) -> bool:
    """Give the row up for good (listed by `wijkbot outbox failed`); False: not held by this claim."""
    return _changed(
        session.execute(
            update(models.OutboxMessage)
            .where(_held(row_id, token))
            .values(status="failed", error=error[:2000], claim_token=None)
        )
    )


def mark_uncertain(session: Session, *, row_id: int, token: str, error: str, now: datetime) -> bool:
    """The message may or may not have arrived and is not sent again by itself; listed and re-queueable like
    a failed row. False: not held by this claim."""
    return _changed(
        session.execute(
            update(models.OutboxMessage)
            .where(_held(row_id, token))
            .values(status="uncertain", error=error[:2000], uncertain_at=now, claim_token=None)
        )
    )


def postpone(
    session: Session,
    *,
    row_id: int,
    token: str,
    until: datetime,
    error: str | None = None,
    count_attempt: bool = True,
    uncertain_at: datetime | None = None,
) -> bool:
    """Put a row back in the queue, due again at `until` (`uncertain_at`: this send may have arrived).
    False: not held by this claim, nothing was changed."""
    values: dict[str, Any] = {
        "status": "pending",
        "not_before": until,
        "claimed_by": None,
        "claim_token": None,
        "send_started_at": None,
        "error": error,
    }
    if count_attempt:
        values["attempts"] = models.OutboxMessage.attempts + 1
    if uncertain_at is not None:
        values["uncertain_at"] = uncertain_at
    return _changed(session.execute(update(models.OutboxMessage).where(_held(row_id, token)).values(**values)))


def hold_queued(session: Session, *, chat_id: int, until: datetime) -> None:
    """Make this chat's queued rows due no earlier than `until`: a message held back until then (a 429, a
    retry) keeps its place before the rows queued behind it that were not in its batch."""
    session.execute(
        update(models.OutboxMessage)
        .where(
            models.OutboxMessage.recipient_chat_id == chat_id,
            models.OutboxMessage.status == "pending",
            models.OutboxMessage.not_before < until,
        )
        .values(not_before=until)
        .execution_options(synchronize_session=False)
    )


STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3}


def record_channel_status(
    session: Session,
    *,
    channel_message_id: str,
    status: str,
    at: datetime,
    error: str | None = None,
) -> bool:
    """What the platform reported about a message it took (WhatsApp's status webhooks): sent, delivered,
    read, or failed, recorded on its row. Statuses may arrive out of order: a later "delivered" does not
    overwrite "read"; "failed" marks the row failed with the platform's reason (`wijkbot outbox failed`).
    A status may also beat the sender's own record of the send: it is kept (`early_status`) and applied by
    `mark_sent`. False: no row has this message id (yet)."""
    row = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.channel_message_id == channel_message_id)
    ).first()
    if row is None:
        if status not in STATUS_RANK and status != "failed":
            return False
        early = session.get(models.EarlyStatus, channel_message_id)  # the send is not recorded yet
        if early is None:
            # one that never found its send (a message of another system) is kept a day, then dropped
            session.execute(delete(models.EarlyStatus).where(models.EarlyStatus.at < at - timedelta(days=1)))
            try:
                with session.begin_nested():
                    session.add(
                        models.EarlyStatus(channel_message_id=channel_message_id, status=status, at=at, error=error)
                    )
                return False
            except IntegrityError:  # the next status of the same message, at the same moment
                early = session.get(models.EarlyStatus, channel_message_id, populate_existing=True)
                if early is None:
                    return False
        if early.status != "failed" and (status == "failed" or STATUS_RANK[status] > STATUS_RANK[early.status]):
            early.status, early.at, early.error = status, at, error
        return False
    return _apply_status(row, status=status, at=at, error=error)


def apply_early_statuses(session: Session) -> int:
    """Statuses that arrived before their send was recorded, applied to the rows that know their message id
    by now (the sender runs this with every claim: a status stored while `mark_sent` ran is not lost)."""
    found = session.execute(
        select(models.EarlyStatus, models.OutboxMessage).join(
            models.OutboxMessage, models.OutboxMessage.channel_message_id == models.EarlyStatus.channel_message_id
        )
    ).all()
    for early, row in found:
        _apply_status(row, status=early.status, at=early.at, error=early.error)
        session.delete(early)
    return len(found)


def _apply_status(row: models.OutboxMessage, *, status: str, at: datetime, error: str | None) -> bool:
    if status == "failed":
        row.channel_status, row.channel_status_at = status, at
        row.status, row.error = "failed", (error or "the platform reported the message as failed")[:2000]
        return True
    if status not in STATUS_RANK:
        return False
    if row.channel_status == "failed" or STATUS_RANK.get(row.channel_status or "", 0) >= STATUS_RANK[status]:
        return True
    row.channel_status, row.channel_status_at = status, at
    return True


def find_by_telegram_message(session: Session, *, chat_id: int, message_id: int) -> models.OutboxMessage | None:
    """The outbox row that became this Telegram message (to know which item a staff reply is about)."""
    return session.scalars(
        select(models.OutboxMessage).where(
            models.OutboxMessage.recipient_chat_id == chat_id,
            models.OutboxMessage.telegram_message_id == message_id,
        )
    ).first()


def rasa_button_payload(session: Session, *, row_id: int, index: int, chat_id: int) -> str | None:
    """What the `index`-th Rasa button of this outbox row says to Rasa, only if the row was sent to this very
    chat (callback data is client input); None for an unknown row, another chat or a button it does not have."""
    row = session.get(models.OutboxMessage, row_id)
    if row is None or row.recipient_chat_id != chat_id:
        return None
    try:
        message = read(row)
        buttons = message.rasa_buttons if isinstance(message, Text) else None
        return str(buttons[index]["payload"]) if buttons and 0 <= index < len(buttons) else None
    except (UnreadablePayload, KeyError, TypeError):
        return None


def enqueue_many(session: Session, rows: list[Queued], *, now: datetime | None = None) -> None:
    """Add many messages in a few statements (a broadcast), each unique per (purpose, recipient) like `enqueue`;
    a text too long for Telegram becomes several rows, in order, as with `enqueue`."""
    if not rows:
        return
    now = now or utcnow()
    channels = channels_of(session, {row.chat_id for row in rows})
    values = [
        _row(
            part(row.purpose, index),
            row.chat_id,
            piece,
            row.not_before or now,
            row.priority,
            now,
            channels[row.chat_id],
        )
        for row in rows
        for index, piece in enumerate(fit_message(row.message), start=1)
    ]
    insert_in_chunks(session, _insert(session), values)


def insert_in_chunks(session: Session, stmt: Any, rows: list[dict[str, Any]], *, size: int = 5000) -> None:
    """Insert many rows with the driver's executemany, on the session's connection: no ORM objects, no
    round trip per row (psycopg pipelines them, SQLite runs them in one call)."""
    connection = session.connection()
    for start in range(0, len(rows), size):
        connection.execute(stmt, rows[start : start + size])
