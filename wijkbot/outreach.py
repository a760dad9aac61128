"""Outreach: who may get an unsolicited message, and when; the periodic check-in and the unfinished-form nudge.

Guard rails, for every poll, check-in and nudge:
- only residents who opted in (and did not block the bot); an opt-out also stops rows already queued,
  because the sender screens every outreach row when it claims it (`screen_claimed`);
- at most `max_per_window` unsolicited messages per resident per window (default one per 7 days), counted
  from `OutreachContact` rows written when a message is planned;
- nothing leaves in quiet hours (default 21:00-09:00 local time): it is held until they end;
- every message says how to stop.

Every function takes `now`, so time is controllable in tests. Outreach outbox rows carry
an `OutreachMark` (wijkbot.payloads: resident, kind, poll) so they can be screened without a join.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot import purposes
from wijkbot.initiatives import latest_realised
from wijkbot.municipalities import Registry
from wijkbot.outbox import Queued, enqueue_many, insert_in_chunks
from wijkbot.payloads import OutreachMark, Text
from wijkbot.settings import Settings
from wijkbot.telegram_html import plain_text

STOP_LINE = "<i>Geen berichten meer van mij? Stuur /stop.</i>"
CAPPED_KINDS = ("poll", "checkin", "nudge", "announcement")  # announcement: wijkbot.announcements
IDEA_BUTTONS: list[dict[str, str]] = [
    {"title": "Ik heb een idee", "payload": "/share_idea"},
    {"title": "Ik wil iets melden", "payload": "/report_issue"},
    {"title": "Ik heb een vraag", "payload": "/ask_question"},
]
CHECKIN_TIME = time(10, 0)
NUDGE_STALE_AFTER = timedelta(hours=48)
REALISED_SHOWN_FOR = timedelta(days=90)  # a realised initiative is named in the area's check-ins this long


@dataclass(frozen=True)
class Policy:
    """When unsolicited messages may leave: quiet hours in the local zone and a cap per resident."""

    zone: ZoneInfo
    quiet: tuple[time, time] | None
    max_per_window: int = 1
    window: timedelta = timedelta(days=7)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            zone=settings.zone,
            quiet=settings.quiet_hours,
            max_per_window=settings.outreach_max_per_week,
            window=timedelta(days=settings.outreach_window_days),
        )

    def is_quiet(self, at: datetime) -> bool:
        """Whether `at` falls in the quiet hours."""
        if self.quiet is None or self.quiet[0] == self.quiet[1]:
            return False
        start, end = self.quiet
        local = at.astimezone(self.zone).time()
        if start < end:
            return start <= local < end
        return local >= start or local < end

    def next_allowed(self, at: datetime) -> datetime:
        """`at`, or the end of the quiet hours `at` falls in."""
        if not self.is_quiet(at) or self.quiet is None:
            return at
        start, end = self.quiet
        local = at.astimezone(self.zone)
        day = local.date()
        if start > end and local.time() >= start:
            day += timedelta(days=1)
        return datetime.combine(day, end, tzinfo=self.zone).astimezone(at.tzinfo)

    def free_at(self, recent: Sequence[datetime], at: datetime) -> datetime | None:
        """The earliest moment from `at` on when the cap allows one more message; None when it never does.

        `recent` are this resident's planned contacts within the window (any order).
        """
        if self.max_per_window <= 0:
            return None
        latest = sorted(recent, reverse=True)
        if len(latest) < self.max_per_window:
            return at
        return max(at, latest[self.max_per_window - 1] + self.window)

    def plan(self, recent: Sequence[datetime], at: datetime) -> datetime | None:
        """When a message wanted at `at` may leave: after the cap allows it and outside quiet hours."""
        free = self.free_at(recent, at)
        return None if free is None else self.next_allowed(free)


@dataclass(frozen=True)
class Recipient:
    resident_id: int
    chat_id: int
    area_code: str


def subscribers(
    area_codes: Iterable[str], buurt_codes: Iterable[str] | None = None
) -> Select[tuple[int, int, str | None]]:
    """Residents of these areas (and, given, only of these buurten) who opted in and did not block the bot, as
    (id, telegram id, area)."""
    query = (
        select(models.Resident.id, models.Resident.telegram_id, models.Resident.area_code)
        .where(
            models.Resident.area_code.in_(list(area_codes)),
            models.Resident.outreach_opt_in.is_(True),
            models.Resident.blocked.is_(False),
        )
        .order_by(models.Resident.id)
    )
    if buurt_codes is not None:
        query = query.where(models.Resident.buurt_code.in_(list(buurt_codes)))
    return query


def load_recipients(session: Session, *, area_codes: Iterable[str]) -> list[Recipient]:
    return [Recipient(rid, chat, area or "") for rid, chat, area in session.execute(subscribers(area_codes))]


def recent_contacts(
    session: Session, *, resident_ids: Select[Any] | Sequence[int], since: datetime
) -> dict[int, list[datetime]]:
    """Planned unsolicited contacts after `since` (future ones included), per resident."""
    found: dict[int, list[datetime]] = defaultdict(list)
    query = select(models.OutreachContact.resident_id, models.OutreachContact.at).where(
        models.OutreachContact.resident_id.in_(resident_ids),
        models.OutreachContact.at > since,
        models.OutreachContact.kind.in_(CAPPED_KINDS),
    )
    for resident_id, at in session.execute(query):
        found[resident_id].append(at)
    return found


def add_contacts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record planned unsolicited messages in bulk: {"resident_id", "kind", "ref", "at"}."""
    if rows:
        insert_in_chunks(session, insert(models.OutreachContact), rows)


def prune_contacts(session: Session, *, policy: Policy, now: datetime) -> int:
    """Forget planned contacts the cap no longer looks at (older than two windows)."""
    result = session.execute(delete(models.OutreachContact).where(models.OutreachContact.at < now - 2 * policy.window))
    return int(getattr(result, "rowcount", 0) or 0)


# --- the sender's screen --------------------------------------------------------------------------


def screen_claimed(
    session: Session, rows: list[models.OutboxMessage], *, policy: Policy, now: datetime
) -> list[models.OutboxMessage]:
    """Of these claimed rows, those to send now. Outreach rows of residents who opted out (or blocked the
    bot), and poll invitations of polls no longer open, are marked skipped; in quiet hours the other
    outreach rows go back to the queue until the morning."""
    marked = [(row, OutreachMark.from_json(row.payload.get("outreach"))) for row in rows]
    resident_ids = {info.resident_id for _, info in marked if info is not None}
    if not resident_ids:
        return rows
    allowed = set(
        session.scalars(
            select(models.Resident.id).where(
                models.Resident.id.in_(resident_ids),
                models.Resident.outreach_opt_in.is_(True),
                models.Resident.blocked.is_(False),
            )
        )
    )
    poll_ids = {info.poll_id for _, info in marked if info is not None and info.kind == "poll"}
    open_polls = (
        set(
            session.scalars(
                select(models.Poll.id).where(
                    models.Poll.id.in_(poll_ids), models.Poll.status == "open", models.Poll.closes_at > now
                )
            )
        )
        if poll_ids
        else set()
    )
    held_until = policy.next_allowed(now) if policy.is_quiet(now) else None
    keep: list[models.OutboxMessage] = []
    for row, info in marked:
        if info is None:
            keep.append(row)
            continue
        if info.resident_id not in allowed:
            _skip(row, "resident opted out of outreach")
        elif info.kind == "poll" and info.poll_id not in open_polls:
            _skip(row, "poll is no longer open")
        elif held_until is not None:
            row.status, row.not_before, row.claimed_by = "pending", held_until, None
        else:
            keep.append(row)
    session.flush()
    return keep


def _skip(row: models.OutboxMessage, reason: str) -> None:
    row.status = "skipped"
    row.error = reason


# --- check-ins ------------------------------------------------------------------------------------


def checkin_text(area_name: str, realised: str | None = None) -> str:
    """The check-in; `realised`: the title of an initiative realised there lately ("mooie voorbeelden laten
    zien"), so neighbours see what the chat led to."""
    shown = f"Onlangs gerealiseerd in {escape(area_name)}: «{escape(realised)}». " if realised else ""
    return (
        f"Hoi! {shown}Wat speelt er in {escape(area_name)}? Heb je een idee of zorg over je buurt? "
        f"Vertel het me, dan komt het bij de juiste persoon van de gemeente.\n\n{STOP_LINE}"
    )


def enqueue_checkin(session: Session, registry: Registry, *, area_code: str, policy: Policy, now: datetime) -> int:
    """Ask the subscribers of one area what is going on; those whose weekly cap is used are left out."""
    area = registry.area(area_code)
    recipients = load_recipients(session, area_codes=[area_code])
    recent = recent_contacts(
        session,
        resident_ids=select(models.Resident.id).where(models.Resident.area_code == area_code),
        since=now - policy.window,
    )
    at = policy.next_allowed(now)
    purpose = purposes.checkin(area_code, now.astimezone(policy.zone).date().isoformat())
    text = checkin_text(area.name, latest_realised(session, area_code=area_code, since=now - REALISED_SHOWN_FOR))
    rows: list[Queued] = []
    contacts: list[dict[str, Any]] = []
    for recipient in recipients:
        if policy.free_at(recent.get(recipient.resident_id, []), now) != now:
            continue
        message = Text(text=text, rasa_buttons=IDEA_BUTTONS, outreach=OutreachMark(recipient.resident_id, "checkin"))
        rows.append(Queued(purpose, recipient.chat_id, message, not_before=at))
        contacts.append({"resident_id": recipient.resident_id, "kind": "checkin", "ref": purpose, "at": at})
    enqueue_many(session, rows, now=now)
    add_contacts(session, contacts)
    return len(rows)


def _at_local(day_at: datetime, clock: time, zone: ZoneInfo) -> datetime:
    local = day_at.astimezone(zone)
    return datetime.combine(local.date(), clock, tzinfo=zone).astimezone(day_at.tzinfo)


def run_checkins(session: Session, registry: Registry, *, policy: Policy, every: timedelta, now: datetime) -> int:
    """Send the check-ins that are due (per area, every `every`, at 10:00 local); returns messages queued.

    An area without a schedule gets one, its first check-in one period from now.
    """
    if every <= timedelta(0):
        return 0
    known = set(session.scalars(select(models.CheckinSchedule.area_code)))
    for area in registry.areas:
        if area.code not in known:
            session.add(
                models.CheckinSchedule(area_code=area.code, next_at=_at_local(now + every, CHECKIN_TIME, policy.zone))
            )
    session.flush()
    due_query = select(models.CheckinSchedule).where(models.CheckinSchedule.next_at <= now)
    if session.get_bind().dialect.name == "postgresql":
        due_query = due_query.with_for_update(skip_locked=True)
    queued = 0
    for schedule in session.scalars(due_query):
        if registry.find_area(schedule.area_code) is not None:
            queued += enqueue_checkin(session, registry, area_code=schedule.area_code, policy=policy, now=now)
        schedule.last_at = now
        schedule.next_at = _at_local(now + every, CHECKIN_TIME, policy.zone)
    return queued


# --- the unfinished-form nudge --------------------------------------------------------------------


def asks_question(text: str | None) -> bool:
    """Whether a reply ends with a question (after markup, emoji and spaces), like a form's next question."""
    plain = plain_text(text or "").rstrip()
    while plain and not plain[-1].isalnum() and plain[-1] != "?":
        plain = plain[:-1]
    return plain.endswith("?")


_OPEN_QUESTION = (  # built once (after every assistant turn): the resident and their open question, if any
    select(models.Resident.id, models.OpenQuestion.asked_at)
    .outerjoin(models.OpenQuestion, models.OpenQuestion.resident_id == models.Resident.id)
    .where(models.Resident.telegram_id == bindparam("chat_id"))
)


def track_open_question(session: Session, *, chat_id: int, asked: bool, now: datetime | None = None) -> None:
    """After each assistant turn: remember that it ended with a question the resident has not answered yet
    (`asked`), or forget it (the form was finished or left). One nudge per unanswered streak at most."""
    found = session.execute(_OPEN_QUESTION, {"chat_id": chat_id}).first()
    if found is None:
        return
    resident_id, asked_at = found
    if asked_at is None and not asked:
        return  # the usual case: nothing remembered, nothing to remember
    row = session.get(models.OpenQuestion, resident_id)
    if asked:
        if row is None:
            session.add(models.OpenQuestion(resident_id=resident_id, asked_at=now or utcnow()))
        else:
            row.asked_at = now or utcnow()
    elif row is not None:
        session.delete(row)
        session.flush()


NUDGE_TEXT = (
    "Je was nog bezig met een bericht voor de gemeente, maar het is nog niet af. Wil je het afmaken? "
    "Typ je antwoord, of kies hieronder opnieuw.\n\n" + STOP_LINE
)


def send_nudges(session: Session, *, policy: Policy, after: timedelta, now: datetime) -> int:
    """One nudge to residents who left a form question unanswered for `after`; returns how many.

    Stale questions (older than `after` + 48 h) and residents whose weekly cap is used are let go.
    """
    if after <= timedelta(0):
        return 0
    waiting = session.execute(
        select(
            models.OpenQuestion, models.Resident.telegram_id, models.Resident.outreach_opt_in, models.Resident.blocked
        )
        .join(models.Resident, models.Resident.id == models.OpenQuestion.resident_id)
        .where(models.OpenQuestion.nudged_at.is_(None), models.OpenQuestion.asked_at <= now - after)
    ).all()
    if not waiting:
        return 0
    recent = recent_contacts(session, resident_ids=[row.resident_id for row, *_ in waiting], since=now - policy.window)
    at = policy.next_allowed(now)
    rows: list[Queued] = []
    contacts: list[dict[str, Any]] = []
    for question, chat_id, opted_in, blocked in waiting:
        question.nudged_at = now
        if not opted_in or blocked or question.asked_at < now - after - NUDGE_STALE_AFTER:
            continue
        if policy.free_at(recent.get(question.resident_id, []), now) != now:
            continue
        purpose = purposes.nudge(question.asked_at)
        message = Text(text=NUDGE_TEXT, rasa_buttons=IDEA_BUTTONS, outreach=OutreachMark(question.resident_id, "nudge"))
        rows.append(Queued(purpose, chat_id, message, not_before=at))
        contacts.append({"resident_id": question.resident_id, "kind": "nudge", "ref": purpose, "at": at})
    enqueue_many(session, rows, now=now)
    add_contacts(session, contacts)
    return len(rows)
