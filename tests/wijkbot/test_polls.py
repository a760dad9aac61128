"""Polls in the domain: validation and rights, the bulk broadcast, votes, results with small-group suppression."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import models
from tests.factories import make_staff
from tests.polls_support import (
    DEN_HOUT,
    DORST,
    NOW,
    POLICY,
    SLOTJES,
    ZONE,
    bulk_subscribers,
    make_subscriber,
    outbox_rows,
)
from wijkbot.municipalities import Registry
from wijkbot.outreach import add_contacts
from wijkbot.payloads import Ballot, Delivery, Poll
from wijkbot.polls import (
    PollError,
    broadcast_poll,
    close_due_polls,
    create_poll,
    export_poll_votes,
    open_due_polls,
    parse_local_time,
    poll_results,
    record_poll_message,
    record_vote,
    results_lines,
    schedule_poll,
)

DAY = timedelta(days=1)
OOSTERHEIDE = "WK082605"


def new_poll(session: Session, registry: Registry, areas: list[str], **kwargs: object) -> models.Poll:
    values: dict[str, object] = {
        "question": "Meer bankjes in het park?",
        "options": ["Ja", "Nee", "Weet niet"],
        "area_codes": areas,
        "via": "test",
        "now": NOW,
        "closes_at": NOW + 7 * DAY,
    }
    values.update(kwargs)
    return create_poll(session, registry, **values)  # type: ignore[arg-type]


def sent_ballots(session: Session, poll: models.Poll) -> list[models.PollBallot]:
    """Pretend the sender sent every poll message: each ballot gets a Telegram poll id."""
    ballots = list(session.scalars(select(models.PollBallot).where(models.PollBallot.poll_id == poll.id)))
    for ballot in ballots:
        record_poll_message(
            session,
            message=Poll(question="?", options=["a", "b"], ballot=Ballot(poll.id, ballot.resident_id)),
            delivery=Delivery(7, poll_id=f"tg-{poll.id}-{ballot.resident_id}"),
        )
    session.expire_all()
    return list(session.scalars(select(models.PollBallot).where(models.PollBallot.poll_id == poll.id)))


# --- creating -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"question": "  "}, "leeg"),
        ({"question": "x" * 301}, "te lang"),
        ({"options": ["Ja"]}, "2 tot 10"),
        ({"options": [str(n) for n in range(11)]}, "2 tot 10"),
        ({"options": ["Ja", "ja"]}, "één keer"),
        ({"options": ["Ja", "x" * 101]}, "hooguit 100"),
        ({"area_codes": ["WK999999"]}, "Onbekende"),
        ({"area_codes": []}, "minstens één"),
        ({"closes_at": NOW - DAY}, "sluiten na"),
    ],
)
def test_a_poll_is_checked_before_it_is_scheduled(
    session: Session, registry: Registry, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(PollError, match=message):
        new_poll(session, registry, [SLOTJES], **changes)


def test_staff_and_council_poll_only_their_own_areas(session: Session, registry: Registry) -> None:
    maker = make_staff(session, registry, areas=[SLOTJES])
    council = make_staff(session, registry, areas=[DORST], role="council", name="Dorpsraad")
    inbox = make_staff(session, registry, areas=[SLOTJES], role="inbox", name="Postbus")
    assert new_poll(session, registry, [SLOTJES], creator=maker).creator_staff_id == maker.id
    assert new_poll(session, registry, [DORST], creator=council).status == "scheduled"
    with pytest.raises(PollError, match="eigen gebied"):
        new_poll(session, registry, [SLOTJES, DORST], creator=maker)
    with pytest.raises(PollError, match="geen rechten"):
        new_poll(session, registry, [SLOTJES], creator=inbox)
    maker.active = False
    with pytest.raises(PollError, match="geen rechten"):
        new_poll(session, registry, [SLOTJES], creator=maker)


def test_without_a_start_a_poll_starts_now_and_runs_the_default_time(session: Session, registry: Registry) -> None:
    poll = new_poll(session, registry, [SLOTJES], closes_at=None, default_duration=3 * DAY)
    assert poll.starts_at == NOW and poll.closes_at == NOW + 3 * DAY


# --- broadcasting -------------------------------------------------------------------------------------


def test_the_broadcast_reaches_the_subscribers_of_its_areas_and_nobody_else(
    session: Session, registry: Registry
) -> None:
    inside = [make_subscriber(session, SLOTJES) for _ in range(3)] + [make_subscriber(session, DEN_HOUT)]
    make_subscriber(session, SLOTJES, opted_in=False)
    make_subscriber(session, SLOTJES, blocked=True)
    make_subscriber(session, DORST)
    poll = new_poll(session, registry, [SLOTJES, DEN_HOUT])
    assert broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW) == 4
    assert broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW) == 0  # once only
    rows = outbox_rows(session, purpose_prefix=f"poll:{poll.id}")
    assert sorted(r.recipient_chat_id for r in rows) == sorted(2 * [r.telegram_id for r in inside])
    intro = next(r for r in rows if r.method == "sendMessage" and r.recipient_chat_id == inside[0].telegram_id)
    assert "wijk Slotjes" in intro.payload["text"] and "alleen de totalen" in intro.payload["text"]
    assert "/stop" in intro.payload["text"]
    den_hout = next(r for r in rows if r.method == "sendMessage" and r.recipient_chat_id == inside[3].telegram_id)
    assert "Peiling voor Den Hout" in den_hout.payload["text"]
    poll_row = next(r for r in rows if r.method == "sendPoll")
    assert poll_row.payload["options"] == ["Ja", "Nee", "Weet niet"]
    assert poll_row.payload["outreach"]["kind"] == "poll"
    assert poll.status == "open"


def test_only_due_polls_open(session: Session, registry: Registry) -> None:
    make_subscriber(session, SLOTJES)
    later = new_poll(session, registry, [SLOTJES], starts_at=NOW + DAY)
    now = new_poll(session, registry, [SLOTJES])
    assert open_due_polls(session, registry, policy=POLICY, now=NOW) == 1
    assert (now.status, later.status) == ("open", "scheduled")
    assert open_due_polls(session, registry, policy=POLICY, now=NOW + DAY) == 1
    assert later.status == "open"


def test_a_poll_planned_in_quiet_hours_waits_for_the_morning(session: Session, registry: Registry) -> None:
    make_subscriber(session, SLOTJES)
    evening = NOW.replace(hour=21)  # 22:00 in Amsterdam
    poll = new_poll(session, registry, [SLOTJES], starts_at=evening, now=evening)
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=evening)
    [row, _] = outbox_rows(session, purpose_prefix=f"poll:{poll.id}")
    assert row.not_before.astimezone(ZONE).hour == 9 and row.not_before > evening


def test_the_weekly_cap_holds_a_poll_back_or_leaves_the_resident_out(session: Session, registry: Registry) -> None:
    recent = make_subscriber(session, SLOTJES)
    too_recent = make_subscriber(session, SLOTJES)
    add_contacts(
        session,
        [
            {"resident_id": recent.id, "kind": "checkin", "ref": "c", "at": NOW - 5 * DAY},
            {"resident_id": too_recent.id, "kind": "checkin", "ref": "c", "at": NOW - DAY},
        ],
    )
    poll = new_poll(session, registry, [SLOTJES], closes_at=NOW + 4 * DAY)
    assert broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW) == 1
    rows = outbox_rows(session, purpose_prefix=f"poll:{poll.id}")
    assert {r.recipient_chat_id for r in rows} == {recent.telegram_id}
    assert all(r.not_before.astimezone(ZONE).hour == 11 and r.not_before.date() == (NOW + 2 * DAY).date() for r in rows)


def test_ten_thousand_subscribers_are_all_enqueued_in_one_broadcast(session: Session, registry: Registry) -> None:
    """Two rows each (invitation and poll). How fast is the bench's business (part broadcast, "enqueue")."""
    bulk_subscribers(session, SLOTJES, 10_000)
    poll = new_poll(session, registry, [SLOTJES])
    assert broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW) == 10_000
    session.flush()
    count = session.scalar(select(func.count()).select_from(models.OutboxMessage))
    assert count == 20_000


# --- voting and results -------------------------------------------------------------------------------


def test_votes_changes_and_retractions_are_counted(session: Session, registry: Registry) -> None:
    voters = [make_subscriber(session, SLOTJES) for _ in range(3)]
    poll = new_poll(session, registry, [SLOTJES])
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    ballots = {b.resident_id: b for b in sent_ballots(session, poll)}
    tg = {v.telegram_id: ballots[v.id].telegram_poll_id or "" for v in voters}
    a, b, c = (v.telegram_id for v in voters)
    assert record_vote(session, telegram_poll_id=tg[a], user_id=a, option_ids=[0], now=NOW) == "voted"
    assert record_vote(session, telegram_poll_id=tg[b], user_id=b, option_ids=[0], now=NOW) == "voted"
    assert record_vote(session, telegram_poll_id=tg[b], user_id=b, option_ids=[1], now=NOW) == "changed"
    assert record_vote(session, telegram_poll_id=tg[c], user_id=c, option_ids=[2], now=NOW) == "voted"
    assert record_vote(session, telegram_poll_id=tg[c], user_id=c, option_ids=[], now=NOW) == "retracted"
    assert record_vote(session, telegram_poll_id=tg[a], user_id=b, option_ids=[1], now=NOW) == "unknown"  # not theirs
    assert record_vote(session, telegram_poll_id="nope", user_id=a, option_ids=[1], now=NOW) == "unknown"
    results = poll_results(session, registry, poll_id=poll.id, threshold=1)
    assert [(o.text, o.votes) for o in results.options] == [("Ja", 1), ("Nee", 1), ("Weet niet", 0)]
    assert results.total == 2 and results.recipients == 3
    late = NOW + 8 * DAY
    assert record_vote(session, telegram_poll_id=tg[a], user_id=a, option_ids=[1], now=late) == "closed"


def vote_all(session: Session, poll: models.Poll, residents: list[models.Resident], option: int = 0) -> None:
    ballots = {b.resident_id: b for b in sent_ballots(session, poll)}
    for resident in residents:
        telegram_poll_id = ballots[resident.id].telegram_poll_id or ""
        record_vote(
            session, telegram_poll_id=telegram_poll_id, user_id=resident.telegram_id, option_ids=[option], now=NOW
        )


def test_small_groups_are_not_shown_per_area(session: Session, registry: Registry) -> None:
    slotjes = [make_subscriber(session, SLOTJES) for _ in range(6)]
    oosterheide = [make_subscriber(session, OOSTERHEIDE) for _ in range(7)]
    den_hout = [make_subscriber(session, DEN_HOUT) for _ in range(2)]
    poll = new_poll(session, registry, [SLOTJES, OOSTERHEIDE, DEN_HOUT])
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    vote_all(session, poll, slotjes[:3] + oosterheide[:4] + den_hout, option=0)
    vote_all(session, poll, slotjes[3:] + oosterheide[4:], option=1)
    body = poll_results(session, registry, poll_id=poll.id, threshold=5).as_json()
    assert body == {
        "poll": poll.id,
        "question": "Meer bankjes in het park?",
        "total": 15,
        "options": [{"text": "Ja", "votes": 9}, {"text": "Nee", "votes": 6}, {"text": "Weet niet", "votes": 0}],
        "areas": [
            # Den Hout (2) is too small; Slotjes, the smallest of the others, is hidden with it, or else Den
            # Hout's two votes would be the total minus the shown areas
            {"code": SLOTJES, "total": None, "options": None},
            {
                "code": OOSTERHEIDE,
                "total": 7,
                "options": [{"text": "Ja", "votes": 4}, {"text": "Nee", "votes": 3}, {"text": "Weet niet", "votes": 0}],
            },
            {"code": DEN_HOUT, "total": None, "options": None},
        ],
    }


def test_a_hidden_area_cannot_be_worked_out_by_subtraction(session: Session, registry: Registry) -> None:
    slotjes = [make_subscriber(session, SLOTJES) for _ in range(5)]
    den_hout = [make_subscriber(session, DEN_HOUT) for _ in range(1)]
    poll = new_poll(session, registry, [SLOTJES, DEN_HOUT])
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    vote_all(session, poll, slotjes, option=0)
    vote_all(session, poll, den_hout, option=1)
    results = poll_results(session, registry, poll_id=poll.id, threshold=5)
    assert results.total == 6 and [o.votes for o in results.options] == [5, 1, 0]
    assert [(a.total, a.options) for a in results.areas] == [(None, None), (None, None)]
    assert "Slotjes (" not in results_lines(results, threshold=5)


def test_a_lone_voter_s_choice_is_never_shown(session: Session, registry: Registry) -> None:
    voter, _silent = make_subscriber(session, DORST), make_subscriber(session, DORST)
    poll = new_poll(session, registry, [DORST])
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    vote_all(session, poll, [voter], option=1)
    results = poll_results(session, registry, poll_id=poll.id, threshold=5)
    assert results.total == 1 and results.recipients == 2
    assert [o.votes for o in results.options] == [None, None, None]
    assert results.as_json()["areas"] == [{"code": DORST, "total": None, "options": None}]
    text = results_lines(results, threshold=5)
    assert "Nee: " not in text and "Minder dan 5 stemmen" in text


def test_closing_a_poll_unlinks_every_ballot_from_its_resident(session: Session, registry: Registry) -> None:
    residents = [make_subscriber(session, SLOTJES) for _ in range(6)]
    poll = new_poll(session, registry, [SLOTJES])
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    vote_all(session, poll, residents[:4], option=0)
    vote_all(session, poll, residents[4:5], option=2)
    before = poll_results(session, registry, poll_id=poll.id, threshold=5).as_json()
    late_ballot = next(b for b in sent_ballots(session, poll) if b.resident_id == residents[0].id)
    assert export_poll_votes(session, resident_id=residents[0].id)  # while open the resident can see their vote

    assert close_due_polls(session, registry, threshold=5, now=NOW + 7 * DAY) == 1

    assert session.scalar(select(func.count()).select_from(models.PollBallot)) == 0
    assert export_poll_votes(session, resident_id=residents[0].id) == []
    after = poll_results(session, registry, poll_id=poll.id, threshold=5)
    assert after.as_json() == before and after.recipients == 6
    # a late answer to the stopped Telegram poll finds nothing to change
    late = record_vote(
        session, telegram_poll_id=late_ballot.telegram_poll_id or "", user_id=residents[0].telegram_id, option_ids=[1]
    )
    assert late == "unknown"


def test_closing_stops_the_polls_and_sends_results_with_a_chart(session: Session, registry: Registry) -> None:
    maker = make_staff(session, registry, areas=[SLOTJES], telegram_id=777)
    voter, silent = make_subscriber(session, SLOTJES), make_subscriber(session, SLOTJES)
    others = [make_subscriber(session, SLOTJES) for _ in range(4)]
    poll = new_poll(session, registry, [SLOTJES], creator=maker)
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    vote_all(session, poll, [voter], option=1)
    vote_all(session, poll, others, option=0)
    assert close_due_polls(session, registry, threshold=5, now=NOW + DAY) == 0  # not yet
    assert close_due_polls(session, registry, threshold=5, now=NOW + 7 * DAY) == 1
    rows = [r for r in outbox_rows(session, purpose_prefix=f"poll:{poll.id}:") if not r.purpose.endswith(":intro")]
    stops = [r for r in rows if r.method == "stopPoll"]
    everyone = [voter, silent, *others]
    assert sorted(r.recipient_chat_id for r in stops) == sorted(r.telegram_id for r in everyone)
    to_voter = [r for r in rows if r.recipient_chat_id == voter.telegram_id and r.method != "stopPoll"]
    assert [r.method for r in to_voter] == ["sendMessage", "sendPhoto"]
    assert "Je stemde op «Nee»" in to_voter[0].payload["text"] and "/stop" in to_voter[0].payload["text"]
    assert not [r for r in rows if r.recipient_chat_id == silent.telegram_id and r.method != "stopPoll"]
    to_staff = [r for r in rows if r.recipient_chat_id == 777]
    assert [r.method for r in to_staff] == ["sendMessage", "sendPhoto"]
    assert "6 inwoners kregen de peiling" in to_staff[0].payload["text"]
    media = session.get(models.Media, to_staff[1].payload["media_id"])
    assert media is not None and media.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert poll.status == "closed"
    assert close_due_polls(session, registry, threshold=5, now=NOW + 8 * DAY) == 0


def test_staff_type_times_the_way_they_say_them() -> None:
    assert parse_local_time("28-11 19:30", zone=ZONE, now=NOW) == NOW.replace(day=28, hour=18, minute=30)
    assert parse_local_time("morgen", zone=ZONE, now=NOW) == NOW.replace(day=25, hour=8)
    assert parse_local_time("1-1", zone=ZONE, now=NOW) == NOW.replace(year=2027, month=1, day=1, hour=8)
    assert parse_local_time("2026-12-01 09:00", zone=ZONE, now=NOW) == NOW.replace(month=12, day=1, hour=8)
    assert parse_local_time("volgende week", zone=ZONE, now=NOW) is None
    assert parse_local_time("31-02", zone=ZONE, now=NOW) is None


# --- scheduling: the one way the command line and /peiling make a poll -----------------------------------


def test_a_poll_that_starts_now_is_opened_at_once(session: Session, registry: Registry) -> None:
    bulk_subscribers(session, SLOTJES, 3)
    scheduled = schedule_poll(
        session,
        registry,
        question="Een bankje?",
        options=["Ja", "Nee"],
        area_codes=[SLOTJES],
        via="test",
        policy=POLICY,
        now=NOW,
    )
    assert scheduled.sent == 3
    assert len(outbox_rows(session, purpose_prefix=f"poll:{scheduled.poll.id}")) == 6  # invitation and poll each


def test_a_poll_that_starts_later_is_left_to_the_due_poll_job(session: Session, registry: Registry) -> None:
    bulk_subscribers(session, SLOTJES, 3)
    scheduled = schedule_poll(
        session,
        registry,
        question="Een bankje?",
        options=["Ja", "Nee"],
        area_codes=[SLOTJES],
        via="test",
        policy=POLICY,
        starts_at=NOW + DAY,
        closes_at=NOW + 3 * DAY,
        now=NOW,
    )
    assert scheduled.sent is None and scheduled.poll.starts_at > NOW
    assert outbox_rows(session, purpose_prefix=f"poll:{scheduled.poll.id}") == []
    assert open_due_polls(session, registry, policy=POLICY, now=NOW + DAY) == 1
