"""What happens to an outbox row whose send did not simply succeed, and how a person hears about it.

Three outcomes need a decision beyond "sent":

- **Uncertain**: the request went out and no answer came back (a timeout, a connection lost after
  sending), or a sender stopped after it had started the call. The message may have arrived. What that
  means depends on the row (`on_uncertain`):
  editing a message or stopping a poll is idempotent and is simply retried (`RETRY`); a message to a staff
  member, and outreach (polls, check-ins, nudges), is not sent again by itself but marked `uncertain`
  (`HOLD`): the staff member's item stays in /inbox and keeps its reminders, and a second poll or check-in
  is worse than a missed one; any other message (a reply to a resident) is sent once more, but only after
  `MAYBE_DELIVERED_AFTER` (`RESEND_LATER`), and held as `uncertain` when that try is uncertain too.
- **Failed**: refused for good (blocked, rejected) or transient trouble for `MAX_TRANSIENT_ATTEMPTS`
  tries (about two hours with the backoff capped at five minutes).
- Either way, when the recipient is an active staff member, the municipality's inbox is told, at most
  once per `ALERT_EVERY` (a day) per staff member: a staff member who blocked the bot no longer silently
  misses their items.

Failed and uncertain rows are listed (`undelivered`, without the message beyond a short prefix) and can be
re-queued (`requeue`); `summary` is what `wijkbot run` logs at start. Every function takes the caller's
clock (`now=`); nothing here imports telegram or rasa_sdk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db import models
from wijkbot.outbox import enqueue, mark_failed, mark_uncertain, postpone
from wijkbot.payloads import Edit, OutreachMark, StopPoll
from wijkbot.purposes import delivery_alert, delivery_alert_prefix, is_outreach
from wijkbot.telegram_html import plain_text

log = logging.getLogger(__name__)

MAX_TRANSIENT_ATTEMPTS = 30  # 2 + 4 + … + 256 s, then every 5 minutes: about two hours of trouble
MAX_BACKOFF = timedelta(minutes=5)
MAYBE_DELIVERED_AFTER = timedelta(minutes=15)
ALERT_EVERY = timedelta(days=1)
IDEMPOTENT_METHODS = frozenset({Edit.METHOD, StopPoll.METHOD})
UNDELIVERED = ("failed", "uncertain")
PREFIX_CHARS = 20
ERROR_CHARS = 120

INBOX_ALERT = (
    "Let op: een bericht van de bot aan {name} ({role}) is niet afgeleverd{maybe}: {reason}. "
    "Misschien heeft {name} de bot geblokkeerd of verwijderd; nieuwe items komen daar dan niet aan. "
    "Op de server: <code>wijkbot outbox failed</code> toont wat bleef liggen, "
    "<code>wijkbot outbox retry ID</code> stuurt het opnieuw."
)


class Uncertainty(StrEnum):
    RETRY = "retry"  # idempotent: retry like a transient failure
    RESEND_LATER = "resend_later"  # send once more, only after MAYBE_DELIVERED_AFTER
    HOLD = "hold"  # not sent again by itself: 'uncertain', listed, reported


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th transient failure (1, 2, …): doubling from 2 s, at most 5 minutes."""
    return min(timedelta(seconds=2 ** min(attempts, 12)), MAX_BACKOFF)


def staff_for_chat(session: Session, *, chat_id: int) -> models.StaffMember | None:
    """The active staff member this chat belongs to, if any."""
    return session.scalars(
        select(models.StaffMember).where(models.StaffMember.telegram_id == chat_id, models.StaffMember.active.is_(True))
    ).one_or_none()


def on_uncertain(session: Session, *, row: models.OutboxMessage) -> Uncertainty:
    """What an uncertain send of this row means (see the module's docstring)."""
    if row.method in IDEMPOTENT_METHODS:
        return Uncertainty.RETRY
    if is_outreach(row.purpose) or OutreachMark.from_json(row.payload.get("outreach")) is not None:
        return Uncertainty.HOLD
    if staff_for_chat(session, chat_id=row.recipient_chat_id) is not None:
        return Uncertainty.HOLD
    if row.uncertain_at is not None:  # the one later try was uncertain too
        return Uncertainty.HOLD
    return Uncertainty.RESEND_LATER


def record_uncertain(session: Session, *, row_id: int, token: str, error: str, now: datetime) -> datetime | None:
    """Record a send that may have arrived, by its row's policy. Returns the time until which the rest of the
    chat must wait (only when the row is retried soon, to keep the chat's order); None otherwise, and when
    this claim no longer holds the row."""
    row = session.get(models.OutboxMessage, row_id)
    if row is None or row.claim_token != token or row.status != "sending":
        return None
    decision = on_uncertain(session, row=row)
    note = f"maybe delivered: {error}"
    if decision is Uncertainty.RETRY:
        return record_transient(session, row_id=row_id, token=token, attempts=row.attempts, error=note, now=now)
    if decision is Uncertainty.RESEND_LATER:
        postpone(
            session,
            row_id=row_id,
            token=token,
            until=now + MAYBE_DELIVERED_AFTER,
            error=note,
            count_attempt=True,
            uncertain_at=now,
        )
        return None
    if mark_uncertain(session, row_id=row_id, token=token, error=note, now=now):
        alert_inbox(session, chat_id=row.recipient_chat_id, reason=error, uncertain=True, now=now)
    return None


def record_transient(
    session: Session, *, row_id: int, token: str, attempts: int, error: str, now: datetime
) -> datetime | None:
    """A failure that is worth trying again: back off, or fail the row once its tries are used up.
    Returns when the row is due again (the rest of its chat waits as long), None when it failed."""
    if attempts + 1 >= MAX_TRANSIENT_ATTEMPTS:
        record_failure(session, row_id=row_id, token=token, error=error, now=now)
        return None
    until = now + backoff(attempts + 1)
    postpone(session, row_id=row_id, token=token, until=until, error=error, count_attempt=True)
    return until


def record_failure(session: Session, *, row_id: int, token: str, error: str, now: datetime) -> bool:
    """Fail a row for good and, when it was for a staff member, tell the inbox. False: not held any more."""
    row = session.get(models.OutboxMessage, row_id)
    chat_id = row.recipient_chat_id if row is not None else None
    if not mark_failed(session, row_id=row_id, token=token, error=error):
        return False
    if chat_id is not None:
        alert_inbox(session, chat_id=chat_id, reason=error, uncertain=False, now=now)
    return True


def inbox_chats_for(session: Session, *, staff: models.StaffMember) -> list[int]:
    """The chats of the inbox (role `inbox`) of the staff member's municipalities, or of every municipality
    when theirs has none; never the staff member's own chat."""
    inbox = (
        select(models.StaffMember.telegram_id)
        .where(
            models.StaffMember.role == "inbox",
            models.StaffMember.active.is_(True),
            models.StaffMember.telegram_id.is_not(None),
            models.StaffMember.id != staff.id,
        )
        .order_by(models.StaffMember.id)
    )
    municipalities = select(models.Area.municipality_code).where(models.Area.code.in_(staff.area_codes))
    same = inbox.where(
        models.StaffMember.id.in_(
            select(models.StaffArea.staff_id)
            .join(models.Area, models.Area.code == models.StaffArea.area_code)
            .where(models.Area.municipality_code.in_(municipalities))
        )
    )
    chats = [int(c) for c in session.scalars(same) if c is not None]
    return chats or [int(c) for c in session.scalars(inbox) if c is not None]


def alert_inbox(session: Session, *, chat_id: int, reason: str, uncertain: bool, now: datetime) -> int:
    """Tell the inbox that a message to this chat's staff member did not (surely) arrive, unless they were
    told about this staff member within `ALERT_EVERY`. Returns how many inbox chats were told (0 for a chat
    that is not an active staff member's, or when told recently)."""
    staff = staff_for_chat(session, chat_id=chat_id)
    if staff is None:
        return 0
    prefix = delivery_alert_prefix(staff.id)
    recent = session.scalar(
        select(func.count())
        .select_from(models.OutboxMessage)
        .where(models.OutboxMessage.purpose.startswith(prefix), models.OutboxMessage.created_at > now - ALERT_EVERY)
    )
    if recent:
        return 0
    chats = inbox_chats_for(session, staff=staff)
    if not chats:
        log.error("a message to staff member %s was not delivered and there is no inbox to tell", staff.id)
        return 0
    from html import escape

    text = INBOX_ALERT.format(
        name=escape(staff.name),
        role=escape(staff.role),
        maybe=" (of misschien wel: het antwoord van Telegram bleef uit)" if uncertain else "",
        reason=escape(reason.splitlines()[0][:ERROR_CHARS] if reason else "onbekend"),
    )
    purpose = delivery_alert(staff.id, now)
    for chat in chats:
        enqueue(session, purpose=purpose, chat_id=chat, text=text, priority=5, now=now)
    log.warning("the inbox was told that staff member %s did not get a message (%s)", staff.id, reason)
    return len(chats)


@dataclass(frozen=True)
class Undelivered:
    """A failed or uncertain row as an operator sees it: no message text beyond a short prefix."""

    id: int
    status: str
    purpose: str
    chat_id: int
    age: timedelta
    attempts: int
    error: str
    prefix: str

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "status": self.status,
            "purpose": self.purpose,
            "chat_id": self.chat_id,
            "age_seconds": int(self.age.total_seconds()),
            "attempts": self.attempts,
            "error": self.error,
            "prefix": self.prefix,
        }


def short_prefix(payload: dict[str, object], *, chars: int = PREFIX_CHARS) -> str:
    """The first few characters of what the row says (text, caption or question), as plain text."""
    for key in ("text", "caption", "question"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            text = " ".join(plain_text(value).split())
            return text if len(text) <= chars else text[:chars] + "…"
    return ""


def undelivered(session: Session, *, now: datetime) -> list[Undelivered]:
    """Failed and uncertain rows, oldest first."""
    rows = session.scalars(
        select(models.OutboxMessage)
        .where(models.OutboxMessage.status.in_(UNDELIVERED))
        .order_by(models.OutboxMessage.created_at, models.OutboxMessage.id)
    )
    return [
        Undelivered(
            id=row.id,
            status=row.status,
            purpose=row.purpose,
            chat_id=row.recipient_chat_id,
            age=now - row.created_at,
            attempts=row.attempts,
            error=(row.error or "").splitlines()[0][:ERROR_CHARS] if row.error else "",
            prefix=short_prefix(row.payload),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Requeued:
    requeued: list[int]
    not_undelivered: list[int]  # asked for, but unknown or not failed/uncertain: left alone


def requeue(session: Session, *, row_ids: Sequence[int] | None, now: datetime) -> Requeued:
    """Put failed or uncertain rows back in the queue, due now, with a fresh budget of tries.
    `row_ids=None`: every failed and uncertain row."""
    query = select(models.OutboxMessage.id).where(models.OutboxMessage.status.in_(UNDELIVERED))
    if row_ids is not None:
        query = query.where(models.OutboxMessage.id.in_(list(row_ids)))
    ids = sorted(session.scalars(query))
    if ids:
        session.execute(
            update(models.OutboxMessage)
            .where(models.OutboxMessage.id.in_(ids), models.OutboxMessage.status.in_(UNDELIVERED))
            .values(
                status="pending",
                not_before=now,
                attempts=0,
                claimed_by=None,
                claim_token=None,
                send_started_at=None,
                uncertain_at=None,
                error=None,
            )
        )
    asked = list(dict.fromkeys(row_ids)) if row_ids is not None else []
    return Requeued(requeued=ids, not_undelivered=[i for i in asked if i not in set(ids)])


@dataclass(frozen=True)
class Summary:
    failed: int
    uncertain: int
    pending: int
    due: int  # pending and due now
    oldest_due: timedelta | None  # how long the oldest due row has waited

    @property
    def worrying(self) -> bool:
        return bool(self.failed or self.uncertain)

    def describe(self) -> str:
        line = (
            f"outbox: {self.failed} failed, {self.uncertain} uncertain (maybe delivered), "
            f"{self.pending} pending ({self.due} due now"
        )
        if self.oldest_due is not None:
            line += f", the oldest waiting {int(self.oldest_due.total_seconds() // 60)} min"
        line += ")"
        if self.worrying:
            line += "; `wijkbot outbox failed` lists them, `wijkbot outbox retry ID` sends one again"
        return line


def summary(session: Session, *, now: datetime) -> Summary:
    """Counts of the rows that need attention or are still to be sent."""
    grouped = session.execute(select(models.OutboxMessage.status, func.count()).group_by(models.OutboxMessage.status))
    counts = {str(status): int(count) for status, count in grouped}
    due = (models.OutboxMessage.status == "pending", models.OutboxMessage.not_before <= now)
    due_count = session.scalar(select(func.count()).select_from(models.OutboxMessage).where(*due))
    oldest = session.scalar(
        select(models.OutboxMessage.not_before).where(*due).order_by(models.OutboxMessage.not_before).limit(1)
    )
    return Summary(
        failed=int(counts.get("failed", 0)),
        uncertain=int(counts.get("uncertain", 0)),
        pending=int(counts.get("pending", 0)),
        due=int(due_count or 0),
        oldest_due=(now - oldest) if oldest is not None else None,
    )
