"""Outreach policy and campaigns: quiet hours, the weekly cap, opt-out screening, check-ins and the nudge."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from tests.polls_support import DEN_HOUT, NOW, POLICY, SLOTJES, ZONE, make_subscriber, outbox_rows
from wijkbot.municipalities import Registry
from wijkbot.outbox import claim_due, enqueue, mark_sent
from wijkbot.outreach import (
    IDEA_BUTTONS,
    Policy,
    add_contacts,
    asks_question,
    enqueue_checkin,
    prune_contacts,
    run_checkins,
    screen_claimed,
    send_nudges,
    track_open_question,
)
from wijkbot.payloads import OutreachMark, Poll, Text
from wijkbot.residents import set_outreach

DAY = timedelta(days=1)


def local(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


# --- the policy ---------------------------------------------------------------------------------------


def test_quiet_hours_hold_messages_until_the_morning() -> None:
    assert not POLICY.is_quiet(local(9)) and not POLICY.is_quiet(local(20, 59))
    assert POLICY.is_quiet(local(21)) and POLICY.is_quiet(local(23, 30)) and POLICY.is_quiet(local(8, 59))
    assert POLICY.next_allowed(local(22)) == local(9, day=25)
    assert POLICY.next_allowed(local(6)) == local(9)
    assert POLICY.next_allowed(local(12)) == local(12)
    daytime_quiet = Policy(zone=ZONE, quiet=(time(12), time(13)))
    assert daytime_quiet.next_allowed(local(12, 30)) == local(13)
    assert not Policy(zone=ZONE, quiet=None).is_quiet(local(3))


def test_quiet_hours_follow_the_local_clock_across_summer_time() -> None:
    summer_night = datetime(2026, 7, 1, 22, 0, tzinfo=ZONE)
    assert POLICY.is_quiet(summer_night)
    assert POLICY.next_allowed(summer_night) == datetime(2026, 7, 2, 9, 0, tzinfo=ZONE)


def test_the_weekly_cap_counts_planned_contacts() -> None:
    assert POLICY.free_at([], NOW) == NOW
    assert POLICY.free_at([NOW - 8 * DAY], NOW) == NOW
    assert POLICY.free_at([NOW - 2 * DAY], NOW) == NOW + 5 * DAY
    assert POLICY.free_at([NOW + 2 * DAY], NOW) == NOW + 9 * DAY  # one already planned later
    two = Policy(zone=ZONE, quiet=None, max_per_window=2)
    assert two.free_at([NOW - DAY], NOW) == NOW
    assert two.free_at([NOW - DAY, NOW - 3 * DAY], NOW) == NOW + 4 * DAY
    assert Policy(zone=ZONE, quiet=None, max_per_window=0).free_at([], NOW) is None
    assert POLICY.plan([NOW - 6 * DAY - timedelta(hours=12)], NOW) == local(9, day=25)  # free at 23:00: morning


# --- the sender's screen ------------------------------------------------------------------------------


def _queue_outreach(session: Session, resident: models.Resident, purpose: str, **marker: object) -> None:
    enqueue(
        session,
        purpose=purpose,
        chat_id=resident.telegram_id,
        message=Text(text="Wat speelt er?", outreach=OutreachMark(resident.id, "checkin", **marker)),  # type: ignore[arg-type]
        not_before=NOW - DAY,
    )


def test_rows_of_residents_who_opted_out_are_skipped_even_when_already_queued(session: Session) -> None:
    stays, leaves = make_subscriber(session, SLOTJES), make_subscriber(session, SLOTJES)
    _queue_outreach(session, stays, "checkin:1")
    _queue_outreach(session, leaves, "checkin:1")
    enqueue(session, purpose="reply:1", chat_id=leaves.telegram_id, text="Dank je", not_before=NOW - DAY)
    set_outreach(session, leaves, opt_in=False, via="/stop")
    rows = claim_due(session, worker="w", now=NOW)
    kept = screen_claimed(session, rows, policy=POLICY, now=NOW)
    assert sorted((r.recipient_chat_id, r.purpose) for r in kept) == sorted(
        [(stays.telegram_id, "checkin:1"), (leaves.telegram_id, "reply:1")]  # an answer is not outreach
    )
    [skipped] = [r for r in rows if r not in kept]
    assert skipped.status == "skipped" and skipped.recipient_chat_id == leaves.telegram_id


def test_in_quiet_hours_outreach_goes_back_to_the_queue_and_replies_do_not(session: Session) -> None:
    resident = make_subscriber(session, SLOTJES)
    _queue_outreach(session, resident, "checkin:1")
    enqueue(session, purpose="reply:1", chat_id=resident.telegram_id, text="Dank je", not_before=NOW - DAY)
    night = local(23)
    rows = claim_due(session, worker="w", now=night)
    kept = screen_claimed(session, rows, policy=POLICY, now=night)
    assert [r.purpose for r in kept] == ["reply:1"]
    [held] = [r for r in rows if r not in kept]
    assert (held.status, held.not_before, held.claimed_by) == ("pending", local(9, day=25), None)
    assert claim_due(session, worker="w", now=night + timedelta(minutes=1)) == []
    mark_sent(session, row_id=kept[0].id, token=kept[0].claim_token or "", telegram_message_id=1)
    assert [r.purpose for r in claim_due(session, worker="w", now=local(9, 1, day=25))] == ["checkin:1"]


def test_a_poll_invitation_for_a_closed_poll_is_not_sent(session: Session, registry: Registry) -> None:
    from wijkbot.polls import create_poll

    resident = make_subscriber(session, SLOTJES)
    poll = create_poll(session, registry, question="Q?", options=["a", "b"], area_codes=[SLOTJES], via="t", now=NOW)
    poll.status = "closed"
    enqueue(
        session,
        purpose="poll:x",
        chat_id=resident.telegram_id,
        message=Poll(question="Q?", options=["a", "b"], outreach=OutreachMark(resident.id, "poll", poll.id)),
        not_before=NOW - DAY,
    )
    rows = claim_due(session, worker="w", now=NOW)
    assert screen_claimed(session, rows, policy=POLICY, now=NOW) == []
    assert rows[0].status == "skipped"


# --- check-ins ----------------------------------------------------------------------------------------


def test_a_check_in_asks_the_area_s_subscribers_and_opens_the_idea_flow(session: Session, registry: Registry) -> None:
    yes, also = make_subscriber(session, SLOTJES), make_subscriber(session, SLOTJES)
    make_subscriber(session, SLOTJES, opted_in=False)
    make_subscriber(session, DEN_HOUT)
    assert enqueue_checkin(session, registry, area_code=SLOTJES, policy=POLICY, now=NOW) == 2
    rows = outbox_rows(session, purpose_prefix="checkin:")
    assert sorted(r.recipient_chat_id for r in rows) == sorted([yes.telegram_id, also.telegram_id])
    text = rows[0].payload["text"]
    assert "Wat speelt er in Slotjes? Heb je een idee of zorg" in text and "/stop" in text
    assert rows[0].payload["rasa_buttons"] == IDEA_BUTTONS
    assert IDEA_BUTTONS[0] == {"title": "Ik heb een idee", "payload": "/share_idea"}
    # the same day again: nothing twice, and the weekly cap is used
    assert enqueue_checkin(session, registry, area_code=SLOTJES, policy=POLICY, now=NOW + DAY) == 0
    assert enqueue_checkin(session, registry, area_code=SLOTJES, policy=POLICY, now=NOW + 8 * DAY) == 2


def test_check_ins_run_from_the_schedule_in_the_database(session: Session, registry: Registry) -> None:
    make_subscriber(session, SLOTJES)
    every = timedelta(days=28)
    assert run_checkins(session, registry, policy=POLICY, every=every, now=NOW) == 0  # schedules made
    schedule = session.get(models.CheckinSchedule, SLOTJES)
    assert schedule is not None and schedule.next_at.astimezone(ZONE).hour == 10
    assert schedule.next_at.date() == (NOW + every).date()
    assert run_checkins(session, registry, policy=POLICY, every=every, now=schedule.next_at) == 1
    assert schedule.last_at is not None
    assert run_checkins(session, registry, policy=POLICY, every=every, now=schedule.last_at + DAY) == 0
    assert run_checkins(session, registry, policy=POLICY, every=timedelta(0), now=NOW + 90 * DAY) == 0


def test_a_check_in_skips_residents_who_just_had_a_poll(session: Session, registry: Registry) -> None:
    polled = make_subscriber(session, SLOTJES)
    fresh = make_subscriber(session, SLOTJES)
    add_contacts(session, [{"resident_id": polled.id, "kind": "poll", "ref": "poll:1", "at": NOW - 2 * DAY}])
    assert enqueue_checkin(session, registry, area_code=SLOTJES, policy=POLICY, now=NOW) == 1
    [row] = outbox_rows(session, purpose_prefix="checkin:")
    assert row.recipient_chat_id == fresh.telegram_id


# --- the unfinished-form nudge ------------------------------------------------------------------------


def test_a_question_ending_the_turn_is_recognised() -> None:
    assert asks_question("Wat is je postcode?")
    assert asks_question("<b>Waar</b> is het precies? 📍 ")
    assert not asks_question("Dank je wel! Je idee is doorgestuurd.")
    assert not asks_question("") and not asks_question(None)


def test_one_nudge_after_the_resident_went_quiet_on_a_form(session: Session) -> None:
    resident = make_subscriber(session, SLOTJES)
    after = timedelta(hours=20)
    track_open_question(session, chat_id=resident.telegram_id, asked=True, now=NOW)
    assert send_nudges(session, policy=POLICY, after=after, now=NOW + timedelta(hours=2)) == 0
    assert send_nudges(session, policy=POLICY, after=after, now=NOW + after) == 1
    assert send_nudges(session, policy=POLICY, after=after, now=NOW + after + DAY) == 0  # a single nudge
    [row] = outbox_rows(session, purpose_prefix="nudge:")
    assert row.recipient_chat_id == resident.telegram_id and "/stop" in row.payload["text"]
    assert row.payload["rasa_buttons"] == IDEA_BUTTONS
    # a further question in the same form does not earn a second nudge; a finished form clears it
    track_open_question(session, chat_id=resident.telegram_id, asked=True, now=NOW + 2 * after)
    assert send_nudges(session, policy=POLICY, after=after, now=NOW + 4 * after) == 0
    track_open_question(session, chat_id=resident.telegram_id, asked=False)
    assert session.get(models.OpenQuestion, resident.id) is None


def test_no_nudge_without_consent_or_when_the_question_is_stale(session: Session) -> None:
    silent = make_subscriber(session, SLOTJES, opted_in=False)
    stale = make_subscriber(session, SLOTJES)
    track_open_question(session, chat_id=silent.telegram_id, asked=True, now=NOW)
    track_open_question(session, chat_id=stale.telegram_id, asked=True, now=NOW - 5 * DAY)
    track_open_question(session, chat_id=123, asked=True, now=NOW)  # nobody we know: nothing stored
    assert send_nudges(session, policy=POLICY, after=timedelta(hours=20), now=NOW + DAY) == 0
    assert list(session.scalars(select(models.OpenQuestion.nudged_at))) == [NOW + DAY, NOW + DAY]


def test_old_contacts_are_forgotten(session: Session) -> None:
    resident = make_subscriber(session, SLOTJES)
    add_contacts(
        session,
        [
            {"resident_id": resident.id, "kind": "poll", "ref": "old", "at": NOW - 15 * DAY},
            {"resident_id": resident.id, "kind": "poll", "ref": "new", "at": NOW - 3 * DAY},
        ],
    )
    assert prune_contacts(session, policy=POLICY, now=NOW) == 1
    assert list(session.scalars(select(models.OutreachContact.ref))) == ["new"]
