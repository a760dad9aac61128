"""Neighbourhood polls: created with validation and rights, broadcast in bulk, votes counted, closed with results.

```mermaid
stateDiagram-v2
    [*] --> scheduled: create_poll (staff in Telegram, or the CLI)
    scheduled --> open: open_due_polls at starts_at: one ballot and two outbox rows per subscriber
    open --> closed: close_due_polls at closes_at: polls stopped, results and chart to creator, voters, raad, lead
```

A ballot is one resident's copy of a poll: which Telegram poll it became (so a PollAnswer finds its way
back) and the current vote. Per-area results under the small-group threshold are not shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot import purposes
from wijkbot.charts import bar_chart_png
from wijkbot.media import store_media
from wijkbot.municipalities import Registry
from wijkbot.outbox import Queued, enqueue, enqueue_many, insert_in_chunks
from wijkbot.outreach import STOP_LINE, Policy, add_contacts, recent_contacts, subscribers
from wijkbot.payloads import Ballot, Delivery, OutreachMark, Payload, Photo, Poll, StopPoll, Text
from wijkbot.rights import Action, roles_that_may
from wijkbot.staff import staff_for_area
from wijkbot.staff_loop import staff_title
from wijkbot.text_budget import CAPTION_LIMIT, TEXT_LIMIT, fit_lines, truncate, units, visible_length

POLL_ROLES = roles_that_may(Action.POLL)  # wijkbot.rights decides who may make polls
MIN_OPTIONS, MAX_OPTIONS = 2, 10
MAX_QUESTION, MAX_OPTION = 300, 100
MONTHS = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)


class PollError(ValueError):
    """A poll cannot be made or shown; the message says why, in plain words."""


# --- creating ---------------------------------------------------------------------------------------


def clean_question(text: str) -> str:
    question = " ".join(text.split())
    if not question:
        raise PollError("De vraag is leeg.")
    if units(question) > MAX_QUESTION:  # as Telegram counts: an emoji is two
        raise PollError(f"De vraag is te lang: hooguit {MAX_QUESTION} tekens, nu {units(question)}.")
    return question


def clean_options(options: Sequence[str]) -> list[str]:
    cleaned = [" ".join(option.split()) for option in options]
    cleaned = [option for option in cleaned if option]
    if not MIN_OPTIONS <= len(cleaned) <= MAX_OPTIONS:
        raise PollError(f"Geef {MIN_OPTIONS} tot {MAX_OPTIONS} antwoorden; nu {len(cleaned)}.")
    too_long = [option for option in cleaned if units(option) > MAX_OPTION]
    if too_long:
        raise PollError(f"Een antwoord mag hooguit {MAX_OPTION} tekens hebben: «{too_long[0][:40]}…».")
    if len({option.casefold() for option in cleaned}) != len(cleaned):
        raise PollError("Elk antwoord mag maar één keer voorkomen.")
    return cleaned


def clean_areas(registry: Registry, area_codes: Sequence[str]) -> list[str]:
    codes = list(dict.fromkeys(code.strip().upper() for code in area_codes if code.strip()))
    if not codes:
        raise PollError("Kies minstens één wijk of dorp.")
    unknown = [code for code in codes if registry.find_area(code) is None]
    if unknown:
        raise PollError(f"Onbekende gebiedscode(s): {', '.join(unknown)}.")
    return codes


def clean_buurten(registry: Registry, area_codes: Sequence[str], buurt_codes: Sequence[str]) -> list[str]:
    """Buurt codes that lie in the poll's areas (wijkbot/data/municipalities.yaml)."""
    known = {b.code for code in area_codes for b in registry.area(code).buurten}
    codes = list(dict.fromkeys(code.strip().upper() for code in buurt_codes if code.strip()))
    foreign = [code for code in codes if code not in known]
    if foreign:
        raise PollError(f"Deze buurt(en) liggen niet in het gebied van de peiling: {', '.join(foreign)}.")
    return codes


def buurt_names(registry: Registry, area_codes: Sequence[str], buurt_codes: Sequence[str]) -> list[str]:
    names = {b.code: b.name for code in area_codes for b in registry.area(code).buurten}
    return [names.get(code, code) for code in buurt_codes]


def check_creator(staff: models.StaffMember, area_codes: Sequence[str]) -> None:
    """Staff and council members may poll the areas assigned to them in the database, and only those."""
    if not staff.active or staff.role not in POLL_ROLES:
        raise PollError("Je hebt geen rechten om peilingen te maken.")
    foreign = [code for code in area_codes if code not in staff.area_codes]
    if foreign:
        raise PollError(f"Je kunt alleen peilingen maken voor je eigen gebied, niet voor {', '.join(foreign)}.")


def create_poll(
    session: Session,
    registry: Registry,
    *,
    question: str,
    options: Sequence[str],
    area_codes: Sequence[str],
    via: str,
    creator: models.StaffMember | None = None,
    starts_at: datetime | None = None,
    closes_at: datetime | None = None,
    default_duration: timedelta = timedelta(days=7),
    multiple: bool = False,
    buurt_codes: Sequence[str] | None = None,
    now: datetime | None = None,
) -> models.Poll:
    """Schedule a poll. Without `starts_at` it starts now; without `closes_at` it runs `default_duration`; with
    `multiple` residents may pick several answers; with `buurt_codes` only the subscribers of those buurten of
    its areas get it."""
    now = now or utcnow()
    codes = clean_areas(registry, area_codes)
    buurten = clean_buurten(registry, codes, buurt_codes) if buurt_codes else None
    if creator is not None:
        check_creator(creator, codes)
    start = starts_at or now
    end = closes_at or max(start, now) + default_duration
    if start.tzinfo is None or end.tzinfo is None:
        raise PollError("Tijden moeten een tijdzone hebben.")
    if end <= max(start, now):
        raise PollError("De peiling moet sluiten na het begin (en in de toekomst).")
    poll = models.Poll(
        question=clean_question(question),
        options=clean_options(options),
        area_codes=codes,
        creator_staff_id=creator.id if creator else None,
        created_via=via,
        status="scheduled",
        starts_at=start,
        closes_at=end,
        created_at=now,
        allows_multiple=multiple,
        buurt_codes=buurten,
    )
    session.add(poll)
    session.flush()
    return poll


def count_subscribers(session: Session, *, area_codes: Sequence[str], buurt_codes: Sequence[str] | None = None) -> int:
    """How many residents would get a poll for these areas (or these buurten of them) now (before the cap)."""
    query = subscribers(area_codes, buurt_codes).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


def local_time_text(at: datetime, zone: ZoneInfo) -> str:
    """ "24 november om 09:00", in the municipality's time zone."""
    local = at.astimezone(zone)
    return f"{local.day} {MONTHS[local.month - 1]} om {local:%H:%M}"


# --- broadcasting -----------------------------------------------------------------------------------


def _from_whom(registry: Registry, creator: models.StaffMember | None) -> str:
    if creator is None:
        return "De gemeente"
    return f"{escape(creator.name)} ({escape(staff_title(registry, creator))})"


def invitation_text(
    registry: Registry, *, poll: models.Poll, area_code: str, creator: models.StaffMember | None, zone: ZoneInfo
) -> str:
    """The message before the Telegram poll: who asks, until when, that only totals are seen, how to stop."""
    area = registry.find_area(area_code)
    where = area.label if area else "je buurt"
    if area is not None and poll.buurt_codes:
        names = [b.name for b in area.buurten if b.code in poll.buurt_codes]
        where = f"{', '.join(names)} ({area.label})" if names else where
    return (
        f"<b>Peiling voor {escape(where)}</b>\n"
        f"{_from_whom(registry, creator)} wil graag weten wat jij vindt. Stem hieronder. "
        f"Dat kan tot {local_time_text(poll.closes_at, zone)}.\n\n"
        "De gemeente ziet alleen de totalen, niet wat jij kiest. In de peiling zie je alleen je eigen stem; "
        "de uitslag krijg je van mij als de peiling sluit.\n\n"
        f"{STOP_LINE}"
    )


@dataclass(frozen=True)
class Scheduled:
    poll: models.Poll
    sent: int | None  # ballots sent now; None when the poll starts later (the due-poll job opens it then)


def schedule_poll(
    session: Session,
    registry: Registry,
    *,
    question: str,
    options: Sequence[str],
    area_codes: Sequence[str],
    via: str,
    policy: Policy,
    creator: models.StaffMember | None = None,
    starts_at: datetime | None = None,
    closes_at: datetime | None = None,
    default_duration: timedelta = timedelta(days=7),
    multiple: bool = False,
    buurt_codes: Sequence[str] | None = None,
    now: datetime,
) -> Scheduled:
    """Make a poll (create_poll) and open it at once when it starts now (broadcast_poll): the one way a poll is
    scheduled, from the command line (`wijkbot poll create`) and from Telegram (/peiling)."""
    poll = create_poll(
        session,
        registry,
        question=question,
        options=options,
        area_codes=area_codes,
        via=via,
        creator=creator,
        starts_at=starts_at,
        closes_at=closes_at,
        default_duration=default_duration,
        multiple=multiple,
        buurt_codes=buurt_codes,
        now=now,
    )
    if poll.starts_at > now:
        return Scheduled(poll, None)
    return Scheduled(poll, broadcast_poll(session, registry, poll=poll, policy=policy, now=now))


def last_send(starts_at: datetime, closes_at: datetime) -> datetime:
    """The last moment a ballot is still sent: an hour before closing (a quarter of a short poll's time)."""
    return closes_at - min(timedelta(hours=1), (closes_at - starts_at) / 4)


@dataclass(frozen=True)
class PlannedReach:
    reached: int  # subscribers who would get the poll while it is open (the weekly cap allowing)
    subscribed: int  # subscribers of its areas (or buurten)
    population: int  # CBS inhabitants of its areas (0 when unknown; not used for a buurt poll)


def planned_reach(
    session: Session,
    registry: Registry,
    *,
    area_codes: Sequence[str],
    buurt_codes: Sequence[str] | None,
    policy: Policy,
    starts_at: datetime,
    closes_at: datetime,
) -> PlannedReach:
    """For the /peiling preview: how many of the subscribers a poll would reach, as broadcast_poll plans it."""
    eligible = subscribers(area_codes, buurt_codes)
    recent = recent_contacts(
        session,
        resident_ids=eligible.with_only_columns(models.Resident.id).order_by(None),
        since=starts_at - policy.window,
    )
    last_moment = last_send(starts_at, closes_at)
    reached = subscribed = 0
    for resident_id, _chat, _area in session.execute(eligible):
        subscribed += 1
        at = policy.plan(recent.get(resident_id, []), starts_at)
        reached += at is not None and at <= last_moment
    population = 0 if buurt_codes else sum(registry.area(code).population or 0 for code in area_codes)
    return PlannedReach(reached, subscribed, population)


def reach_line(reach: PlannedReach) -> str:
    """ "Bereikt 40 van de 52 inwoners die zich aanmeldden (52 van de 9.870 inwoners)." """
    line = f"Bereikt {reach.reached} van de {reach.subscribed} inwoners die zich aanmeldden"
    if reach.population:
        line += f" ({reach.subscribed} van de {reach.population:,} inwoners)".replace(",", ".")
    if reach.reached < reach.subscribed:
        line += ". Wie deze week al een bericht kreeg, krijgt hem niet als hij eerder sluit"
    return line + "."


def broadcast_poll(session: Session, registry: Registry, *, poll: models.Poll, policy: Policy, now: datetime) -> int:
    """Open the poll: a ballot, a planned contact and two outbox rows (text, then the Telegram poll) per
    subscriber of its areas, in bulk. A resident whose weekly cap is used gets it when the cap allows, if
    the poll is still open long enough then. Returns the number of ballots."""
    if poll.status != "scheduled":
        return 0
    start = max(now, poll.starts_at)
    last_moment = last_send(poll.starts_at, poll.closes_at)
    creator = session.get(models.StaffMember, poll.creator_staff_id) if poll.creator_staff_id else None
    eligible = subscribers(poll.area_codes, poll.buurt_codes)
    recent = recent_contacts(
        session, resident_ids=eligible.with_only_columns(models.Resident.id).order_by(None), since=start - policy.window
    )
    texts: dict[str, str] = {}
    ballots: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    rows: list[Queued] = []
    ref = purposes.poll_ballot(poll.id)
    for resident_id, chat_id, area_code in session.execute(eligible):
        at = policy.plan(recent.get(resident_id, []), start)
        if at is None or at > last_moment:
            continue
        area = area_code or ""
        if area not in texts:
            texts[area] = invitation_text(registry, poll=poll, area_code=area, creator=creator, zone=policy.zone)
        marker = OutreachMark(resident_id, "poll", poll.id)
        ballots.append({"poll_id": poll.id, "resident_id": resident_id, "area_code": area, "chat_id": chat_id})
        contacts.append({"resident_id": resident_id, "kind": "poll", "ref": ref, "at": at})
        intro = Text(text=texts[area], outreach=marker)
        rows.append(Queued(purposes.poll_intro(poll.id), chat_id, intro, not_before=at))
        ballot = Ballot(poll.id, resident_id)
        question = Poll(
            question=poll.question,
            options=list(poll.options),
            allows_multiple_answers=poll.allows_multiple,
            ballot=ballot,
            outreach=marker,
        )
        rows.append(Queued(ref, chat_id, question, not_before=at))
    insert_in_chunks(session, insert(models.PollBallot), ballots)
    add_contacts(session, contacts)
    enqueue_many(session, rows)
    poll.status = "open"
    poll.opened_at = now
    return len(ballots)


def _due(session: Session, query: Any) -> list[models.Poll]:
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def open_due_polls(session: Session, registry: Registry, *, policy: Policy, now: datetime | None = None) -> int:
    """Broadcast the scheduled polls whose start time has come; returns how many polls opened."""
    now = now or utcnow()
    polls = _due(
        session,
        select(models.Poll)
        .where(models.Poll.status == "scheduled", models.Poll.starts_at <= now)
        .order_by(models.Poll.starts_at),
    )
    for poll in polls:
        broadcast_poll(session, registry, poll=poll, policy=policy, now=now)
    return len(polls)


def record_poll_message(session: Session, *, message: Payload, delivery: Delivery) -> None:
    """Delivery hook: the sender sent a ballot's Telegram poll; remember its poll id, so that answers find
    their ballot."""
    if not isinstance(message, Poll) or message.ballot is None or delivery.poll_id is None:
        return
    session.execute(
        update(models.PollBallot)
        .where(
            models.PollBallot.poll_id == message.ballot.poll_id,
            models.PollBallot.resident_id == message.ballot.resident_id,
        )
        .values(telegram_poll_id=delivery.poll_id, message_id=delivery.message_id)
    )


# --- voting -----------------------------------------------------------------------------------------


def record_vote(
    session: Session, *, telegram_poll_id: str, user_id: int, option_ids: Sequence[int], now: datetime | None = None
) -> str:
    """Store a PollAnswer: "voted", "changed", "retracted"; or "closed"/"unknown" when it does not count."""
    now = now or utcnow()
    query = select(models.PollBallot).where(models.PollBallot.telegram_poll_id == telegram_poll_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    ballot = session.scalars(query).one_or_none()
    if ballot is None or ballot.chat_id != user_id:
        return "unknown"
    poll = session.get(models.Poll, ballot.poll_id)
    if poll is None or poll.status != "open" or now >= poll.closes_at:
        return "closed"
    chosen = sorted({int(o) for o in option_ids if 0 <= int(o) < len(poll.options)})
    if not poll.allows_multiple:
        chosen = chosen[:1]
    had_vote = bool(ballot.option_ids)
    ballot.voted_at = now
    if not chosen:
        ballot.option_ids = None
        return "retracted"
    if had_vote:
        ballot.changes += 1
    ballot.option_ids = chosen
    return "changed" if had_vote else "voted"


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionCount:
    text: str
    votes: int | None  # None: fewer than the small-group threshold voted in all, not shown


@dataclass(frozen=True)
class AreaResult:
    code: str
    name: str
    total: int | None  # None: under the small-group threshold (or hidden with it), not shown
    options: list[OptionCount] | None


@dataclass(frozen=True)
class PollResults:
    poll_id: int
    question: str
    status: str
    recipients: int
    total: int
    options: list[OptionCount]
    areas: list[AreaResult]
    multiple: bool = False  # several answers per voter: shares are of the voters and add up to more than 100%

    @property
    def shown(self) -> bool:
        """Whether the counts per answer are shown at all (enough people voted)."""
        return all(o.votes is not None for o in self.options)

    def as_json(self) -> dict[str, Any]:
        """The contract of `wijkbot poll results ID --json`."""
        return {
            "poll": self.poll_id,
            "question": self.question,
            "total": self.total,
            "options": [{"text": o.text, "votes": o.votes} for o in self.options],
            "areas": [
                {
                    "code": a.code,
                    "total": a.total,
                    "options": None if a.options is None else [{"text": o.text, "votes": o.votes} for o in a.options],
                }
                for a in self.areas
            ],
        }


@dataclass(frozen=True)
class _Counts:
    recipients: int
    votes: dict[str, list[int]]  # per area: votes per option
    voters: dict[str, int]  # per area: residents who voted (fewer than the votes when several answers may be picked)


def _count_ballots(session: Session, poll: models.Poll) -> _Counts:
    """Count an open poll's ballots, or read a closed poll's tallies (its ballots are gone)."""
    tallies = list(session.scalars(select(models.PollTally).where(models.PollTally.poll_id == poll.id)))
    per_area: dict[str, list[int]] = {code: [0] * len(poll.options) for code in poll.area_codes}
    voters: dict[str, int] = dict.fromkeys(poll.area_codes, 0)
    if tallies:
        for tally in tallies:
            per_area[tally.area_code] = list(tally.votes)
            voters[tally.area_code] = tally.voters if tally.voters is not None else sum(tally.votes)
        return _Counts(recipients=sum(t.recipients for t in tallies), votes=per_area, voters=voters)
    recipients = 0
    rows = session.execute(
        select(models.PollBallot.area_code, models.PollBallot.option_ids).where(models.PollBallot.poll_id == poll.id)
    )
    for area_code, option_ids in rows:
        recipients += 1
        counts = per_area.setdefault(area_code, [0] * len(poll.options))
        chosen = [option for option in option_ids or [] if 0 <= option < len(poll.options)]
        for option in chosen:
            counts[option] += 1
        voters[area_code] = voters.get(area_code, 0) + bool(chosen)
    return _Counts(recipients=recipients, votes=per_area, voters=voters)


def hidden_areas(voters: dict[str, int], *, threshold: int) -> set[str]:
    """The areas whose counts are not shown: those with fewer than `threshold` voters, and as many of the
    smallest others as it takes so that the hidden ones together hold at least `threshold` voters; otherwise
    a hidden area could be worked out by subtracting the shown ones from the total. Areas nobody voted in
    hold no one's choice and are shown as 0."""
    hidden = {code for code, n in voters.items() if 0 < n < threshold}
    shown = sorted((n, code) for code, n in voters.items() if code not in hidden and n > 0)
    while hidden and sum(voters[c] for c in hidden) < threshold and shown:
        hidden.add(shown.pop(0)[1])
    return hidden


def poll_results(session: Session, registry: Registry, *, poll_id: int, threshold: int) -> PollResults:
    """Totals and per-area counts, without showing any group smaller than `threshold`: not per area, not
    by subtraction, and not at all when fewer than `threshold` voted in all."""
    poll = session.get(models.Poll, poll_id)
    if poll is None:
        raise PollError(f"Peiling {poll_id} bestaat niet.")
    counts = _count_ballots(session, poll)
    voters = {code: counts.voters.get(code, 0) for code in counts.votes}
    total = sum(voters.values())
    totals = [sum(votes[i] for votes in counts.votes.values()) for i in range(len(poll.options))]
    enough = total >= threshold
    hidden = hidden_areas(voters, threshold=threshold) if enough else set(voters)
    areas = []
    for code, votes in counts.votes.items():
        area = registry.find_area(code)
        shown = code not in hidden
        areas.append(
            AreaResult(
                code=code,
                name=area.name if area else code,
                total=voters[code] if shown else None,
                options=[OptionCount(t, n) for t, n in zip(poll.options, votes, strict=True)] if shown else None,
            )
        )
    return PollResults(
        poll_id=poll.id,
        question=poll.question,
        status=poll.status,
        recipients=counts.recipients,
        total=total,
        options=[OptionCount(t, n if enough else None) for t, n in zip(poll.options, totals, strict=True)],
        areas=areas,
        multiple=poll.allows_multiple,
    )


def seal_ballots(session: Session, *, poll: models.Poll) -> None:
    """Sum a closed poll's ballots into tallies per area and delete the ballots: no link stays between a
    resident and their choice."""
    counts = _count_ballots(session, poll)
    recipients: dict[str, int] = {
        code: int(n)
        for code, n in session.execute(
            select(models.PollBallot.area_code, func.count())
            .where(models.PollBallot.poll_id == poll.id)
            .group_by(models.PollBallot.area_code)
        )
    }
    for code, votes in counts.votes.items():
        session.merge(
            models.PollTally(
                poll_id=poll.id,
                area_code=code,
                recipients=int(recipients.get(code, 0)),
                votes=votes,
                voters=counts.voters.get(code, 0),
            )
        )
    session.execute(delete(models.PollBallot).where(models.PollBallot.poll_id == poll.id))


def _share(votes: int, total: int) -> str:
    return f"{votes} ({round(100 * votes / total)}%)" if total else "0"


def results_lines(results: PollResults, *, threshold: int, limit: int | None = None) -> str:
    """The answers with their counts and, for a poll of several areas, the counts per area. With `limit`
    (visible units, wijkbot.text_budget) the per-area list is cut short with "… en nog N gebieden"."""
    if not results.shown:
        answers = "\n".join(f"• {escape(o.text)}" for o in results.options)
        return (
            f"{answers}\n\nAantal stemmen: {results.total}\n<i>Minder dan {threshold} stemmen: om niemands keuze "
            "te verraden tonen we de stemmen per antwoord niet.</i>"
        )
    lines = [f"• {escape(o.text)}: {_share(o.votes or 0, results.total)}" for o in results.options]
    text = "\n".join(lines) + f"\n\nAantal stemmen: {results.total}"
    if results.multiple:
        text = "\n".join(lines) + f"\n\nAantal stemmers: {results.total} (ieder kon meer antwoorden kiezen)"
    if len(results.areas) <= 1:
        return text
    parts = []
    for area in results.areas:
        if area.options is None or area.total is None:
            parts.append(f"• {escape(area.name)}: niet apart getoond (te weinig stemmen)")
        else:
            counts = ", ".join(f"{escape(o.text)} {o.votes}" for o in area.options)
            parts.append(f"• {escape(area.name)} ({area.total}): {counts}")
    note = ""
    if any(a.total is None for a in results.areas):
        note = f"\n<i>Gebieden met samen minder dan {threshold} stemmen tonen we niet apart.</i>"
    head = text + "\n\n<b>Per gebied</b>\n"
    if limit is None:
        return head + "\n".join(parts) + note
    return fit_lines(head, parts, note, limit=limit, more=lambda n: f"• … en nog {n} gebieden")


def staff_results_text(results: PollResults, *, threshold: int) -> str:
    """The whole result for the poll's creator: several messages when it is long (wijkbot.outbox splits it)."""
    return (
        f"<b>Uitslag van peiling #{results.poll_id}</b>\n«{escape(results.question)}»\n\n"
        f"{results_lines(results, threshold=threshold)}\n\n"
        f"{results.recipients} inwoners kregen de peiling."
    )


def voter_results_text(results: PollResults, *, threshold: int, choice: str) -> str:
    """The result for a voter, in one message: with many areas the per-area list is cut short."""
    head = f"<b>De uitslag is er!</b>\nJe stemde op «{escape(choice)}» bij de vraag «{escape(results.question)}».\n\n"
    tail = f"\n\nDank je wel voor het meedoen. De gemeente neemt de uitslag mee.\n\n{STOP_LINE}"
    room = TEXT_LIMIT - visible_length(head) - visible_length(tail)
    return f"{head}{results_lines(results, threshold=threshold, limit=room)}{tail}"


def results_chart(registry: Registry, results: PollResults) -> bytes:
    return bar_chart_png(
        title=results.question,
        labels=[o.text for o in results.options],
        values=[o.votes or 0 for o in results.options],
        subtitle=f"{results.total} stemmen",
    )


def close_poll(session: Session, registry: Registry, *, poll: models.Poll, threshold: int, now: datetime) -> int:
    """Close the poll: stop the Telegram polls, send the results with a chart to everyone who voted and to the
    creator, the raad and the lead of its areas (`results_staff`). Returns the number of messages queued."""
    if poll.status == "closed":
        return 0
    poll.status = "closed"
    poll.closed_at = now
    session.flush()
    results = poll_results(session, registry, poll_id=poll.id, threshold=threshold)
    media = (
        store_media(
            session,
            kind="chart",
            filename=f"peiling-{poll.id}.png",
            content_type="image/png",
            data=results_chart(registry, results),
        )
        if results.shown
        else None
    )
    poll.results_media_id = media.id if media else None
    caption = truncate(escape(f"Uitslag: {poll.question}"), limit=CAPTION_LIMIT)
    ballots = session.execute(
        select(
            models.PollBallot.resident_id,
            models.PollBallot.chat_id,
            models.PollBallot.message_id,
            models.PollBallot.option_ids,
        ).where(models.PollBallot.poll_id == poll.id)
    ).all()
    rows: list[Queued] = []
    for resident_id, chat_id, message_id, option_ids in ballots:
        if message_id is not None:
            rows.append(Queued(purposes.poll_stop(poll.id), chat_id, StopPoll(message_id=message_id), priority=-5))
        chosen = [o for o in option_ids or [] if 0 <= o < len(poll.options)]
        if not chosen:
            continue
        marker = OutreachMark(resident_id, "results", poll.id)
        choice = ", ".join(poll.options[o] for o in chosen)
        text = voter_results_text(results, threshold=threshold, choice=choice)
        rows.append(Queued(purposes.poll_results(poll.id), chat_id, Text(text=text, outreach=marker)))
        if media is not None:
            chart = Photo(media_id=media.id, caption=caption, outreach=marker)
            rows.append(Queued(purposes.poll_chart(poll.id), chat_id, chart))
    enqueue_many(session, rows)
    queued = len(rows)
    text = staff_results_text(results, threshold=threshold)
    for member in results_staff(session, poll=poll):
        assert member.telegram_id is not None
        enqueue(session, purpose=purposes.poll_results(poll.id), chat_id=member.telegram_id, text=text, priority=5)
        queued += 1
        if media is not None:
            enqueue(
                session,
                purpose=purposes.poll_chart(poll.id),
                chat_id=member.telegram_id,
                message=Photo(media_id=media.id, caption=caption),
                priority=5,
            )
            queued += 1
    seal_ballots(session, poll=poll)
    return queued


RESULTS_ROLES = ("council", "lead")  # besides the creator: the area's wijk- or dorpsraad and wijkwethouder


def results_staff(session: Session, *, poll: models.Poll) -> list[models.StaffMember]:
    """Who gets a closed poll's full results besides the voters: its creator, and the raad (`council`) and the
    `lead` of each of its areas (issue 12); each once, only those on Telegram."""
    found: dict[int, models.StaffMember] = {}
    creator = session.get(models.StaffMember, poll.creator_staff_id) if poll.creator_staff_id else None
    if creator is not None:
        found[creator.id] = creator
    for code in poll.area_codes:
        for role in RESULTS_ROLES:
            for member in staff_for_area(session, area_code=code, role=role):
                found.setdefault(member.id, member)
    return [member for member in found.values() if member.telegram_id is not None]


def close_due_polls(session: Session, registry: Registry, *, threshold: int, now: datetime | None = None) -> int:
    """Close the open polls whose closing time has come; returns how many closed."""
    now = now or utcnow()
    polls = _due(
        session,
        select(models.Poll)
        .where(models.Poll.status.in_(("open", "scheduled")), models.Poll.closes_at <= now)
        .order_by(models.Poll.closes_at),
    )
    for poll in polls:
        close_poll(session, registry, poll=poll, threshold=threshold, now=now)
    return len(polls)


def list_polls(session: Session, *, limit: int = 50) -> list[models.Poll]:
    return list(session.scalars(select(models.Poll).order_by(models.Poll.id.desc()).limit(limit)))


_DAY_MONTH = re.compile(
    r"^(?P<day>\d{1,2})[-/.](?P<month>\d{1,2})(?:[-/.](?P<year>\d{2}|\d{4}))?"
    r"(?:\s+(?:om\s+)?(?P<hour>\d{1,2})[:.](?P<minute>\d{2}))?$"
)
_TOMORROW = re.compile(r"^morgen(?:\s+(?:om\s+)?(?P<hour>\d{1,2})(?:[:.](?P<minute>\d{2}))?)?$")


def parse_local_time(text: str, *, zone: ZoneInfo, now: datetime) -> datetime | None:
    """A time typed by staff: "28-11 19:30", "28-11-2026 9:00", "morgen 9:00", or ISO; None if unclear.

    Without a year the next such date is meant; without a time, 09:00.
    """
    value = " ".join(text.strip().lower().split())
    local_now = now.astimezone(zone)
    try:
        if match := _TOMORROW.match(value):
            day = local_now.date() + timedelta(days=1)
            at = time(int(match["hour"] or 9), int(match["minute"] or 0))
            return datetime.combine(day, at, tzinfo=zone)
        if match := _DAY_MONTH.match(value):
            at = time(int(match["hour"] or 9), int(match["minute"] or 0))
            year = int(match["year"]) if match["year"] else local_now.year
            year = year + 2000 if year < 100 else year
            found = datetime.combine(date(year, int(match["month"]), int(match["day"])), at, tzinfo=zone)
            if match["year"] is None and found < local_now:
                found = found.replace(year=year + 1)
            return found
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def export_poll_votes(session: Session, *, resident_id: int) -> list[dict[str, Any]]:
    """A resident's ballots, for their data export: which polls they got and what they chose."""
    rows = session.execute(
        select(
            models.Poll.id,
            models.Poll.question,
            models.Poll.options,
            models.PollBallot.option_ids,
            models.PollBallot.voted_at,
        )
        .join(models.PollBallot, models.PollBallot.poll_id == models.Poll.id)
        .where(models.PollBallot.resident_id == resident_id)
        .order_by(models.Poll.id)
    )
    return [
        {
            "poll": poll_id,
            "question": question,
            "choice": [options[o] for o in option_ids or [] if 0 <= o < len(options)],
            "voted_at": voted_at.isoformat() if voted_at else None,
        }
        for poll_id, question, options, option_ids, voted_at in rows
    ]
