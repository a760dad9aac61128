"""Better polls (issue 12): the invitation explains the Telegram poll; results reach the area's raad and lead
as well as the creator and the voters; several answers per resident where the creator wants them; a poll for
one buurt, and the resident's buurt asked after subscribing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from db import models
from tests.factories import make_staff
from tests.polls_support import DEN_HOUT, NOW, POLICY, SLOTJES, make_subscriber, outbox_rows
from wijkbot.municipalities import Registry
from wijkbot.offers import buurt_question, choose_buurt
from wijkbot.outreach import add_contacts
from wijkbot.payloads import Ballot, Delivery, Poll
from wijkbot.polls import (
    PollError,
    broadcast_poll,
    close_due_polls,
    count_subscribers,
    create_poll,
    planned_reach,
    poll_results,
    reach_line,
    record_poll_message,
    record_vote,
    results_lines,
)
from wijkbot.staff import deactivate_staff

DAY = timedelta(days=1)


def test_the_invitation_says_the_poll_shows_only_your_own_vote_until_the_results(
    session: Session, registry: Registry
) -> None:
    make_subscriber(session, SLOTJES)
    poll = create_poll(
        session, registry, question="Meer bankjes?", options=["Ja", "Nee"], area_codes=[SLOTJES], via="test", now=NOW
    )
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    [intro] = outbox_rows(session, purpose_prefix=f"poll:{poll.id}:intro")
    assert "alleen je eigen stem" in intro.payload["text"] and "uitslag" in intro.payload["text"]


def test_results_reach_the_raad_and_the_lead_of_the_area_as_well_as_the_creator(
    session: Session, registry: Registry
) -> None:
    maker = make_staff(session, registry, areas=[SLOTJES], telegram_id=901, name="Sanne")
    raad = make_staff(session, registry, areas=[SLOTJES], role="council", telegram_id=902, name="Wim")
    lead = make_staff(session, registry, areas=[SLOTJES, DEN_HOUT], role="lead", telegram_id=903, name="Wethouder")
    make_staff(session, registry, areas=[SLOTJES], telegram_id=904, name="Collega")  # not the creator: no copy
    make_staff(session, registry, areas=[DEN_HOUT], role="council", telegram_id=905, name="Andere raad")
    gone = make_staff(session, registry, areas=[SLOTJES], role="council", telegram_id=906, name="Oud-raadslid")
    deactivate_staff(session, staff_id=gone.id)
    unbound = make_staff(session, registry, areas=[SLOTJES], role="council", name="Zonder Telegram")
    unbound.telegram_id = None  # invited, not yet on Telegram
    make_subscriber(session, SLOTJES)
    poll = create_poll(
        session, registry, question="Meer bankjes?", options=["Ja", "Nee"], area_codes=[SLOTJES], via="test",
        creator=maker, now=NOW, closes_at=NOW + DAY,
    )  # fmt: skip
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    assert close_due_polls(session, registry, threshold=5, now=NOW + DAY) == 1
    results = outbox_rows(session, purpose_prefix=f"poll:{poll.id}:results")
    assert sorted(r.recipient_chat_id for r in results) == [901, 902, 903]
    assert all("Uitslag van peiling" in r.payload["text"] for r in results)
    assert raad.telegram_id == 902 and lead.telegram_id == 903


# --- several answers ------------------------------------------------------------------------------------


def vote(session: Session, poll: models.Poll, resident: models.Resident, options: list[int]) -> str:
    ballot = session.get(models.PollBallot, (poll.id, resident.id))
    assert ballot is not None
    if ballot.telegram_poll_id is None:
        record_poll_message(
            session,
            message=Poll(question="?", options=["a", "b"], ballot=Ballot(poll.id, resident.id)),
            delivery=Delivery(7, poll_id=f"tg-{poll.id}-{resident.id}"),
        )
        session.refresh(ballot)
    return record_vote(
        session, telegram_poll_id=ballot.telegram_poll_id or "", user_id=resident.telegram_id, option_ids=options,
        now=NOW,
    )  # fmt: skip


def test_a_poll_with_several_answers_counts_voters_and_votes_apart(session: Session, registry: Registry) -> None:
    residents = [make_subscriber(session, SLOTJES) for _ in range(6)]
    poll = create_poll(
        session, registry, question="Wat wil je in het park?", options=["Bankjes", "Bomen", "Speeltuin"],
        area_codes=[SLOTJES], via="test", now=NOW, closes_at=NOW + DAY, multiple=True,
    )  # fmt: skip
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    [telegram_poll] = [r for r in outbox_rows(session, purpose_prefix=f"poll:{poll.id}") if r.method == "sendPoll"][:1]
    assert telegram_poll.payload["allows_multiple_answers"] is True
    assert vote(session, poll, residents[0], [0, 1]) == "voted"
    assert vote(session, poll, residents[1], [0, 1, 2]) == "voted"
    assert vote(session, poll, residents[2], [2, 2, 7]) == "voted"  # a repeat and an unknown option are dropped
    for resident in residents[3:5]:
        vote(session, poll, resident, [0])
    assert vote(session, poll, residents[5], []) == "retracted"  # no vote
    results = poll_results(session, registry, poll_id=poll.id, threshold=5)
    assert results.total == 5  # voters, not votes
    assert [(o.text, o.votes) for o in results.options] == [("Bankjes", 4), ("Bomen", 2), ("Speeltuin", 2)]
    text = results_lines(results, threshold=5)
    assert "Bankjes: 4 (80%)" in text and "Aantal stemmers: 5" in text and "meer antwoorden" in text
    # closing seals the voters with the votes, and a voter's result names all their choices
    close_due_polls(session, registry, threshold=5, now=NOW + DAY)
    sealed = poll_results(session, registry, poll_id=poll.id, threshold=5)
    assert sealed.total == 5 and [o.votes for o in sealed.options] == [4, 2, 2]
    to_second = [
        r
        for r in outbox_rows(session, purpose_prefix=f"poll:{poll.id}:results")
        if r.recipient_chat_id == residents[1].telegram_id
    ]
    assert "Je stemde op «Bankjes, Bomen, Speeltuin»" in to_second[0].payload["text"]


def test_a_poll_with_one_answer_keeps_only_the_first(session: Session, registry: Registry) -> None:
    resident = make_subscriber(session, SLOTJES)
    poll = create_poll(
        session, registry, question="Bankjes?", options=["Ja", "Nee"], area_codes=[SLOTJES], via="test", now=NOW
    )
    broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW)
    [telegram_poll] = [r for r in outbox_rows(session, purpose_prefix=f"poll:{poll.id}") if r.method == "sendPoll"]
    assert "allows_multiple_answers" not in telegram_poll.payload  # the default, left out
    vote(session, poll, resident, [0, 1])
    assert [o.votes for o in poll_results(session, registry, poll_id=poll.id, threshold=1).options] == [1, 0]


# --- a poll for one buurt -------------------------------------------------------------------------------

OOST, MIDDEN = "BU08260100", "BU08260101"


def test_a_buurt_poll_with_several_answers_reaches_only_that_buurt_and_its_results_the_raad_and_lead(
    session: Session, registry: Registry
) -> None:
    raad = make_staff(session, registry, areas=[SLOTJES], role="council", telegram_id=911)
    lead = make_staff(session, registry, areas=[SLOTJES], role="lead", telegram_id=912)
    oost = []
    for _ in range(5):
        resident = make_subscriber(session, SLOTJES)
        resident.buurt_code = OOST
        oost.append(resident)
    midden = make_subscriber(session, SLOTJES)
    midden.buurt_code = MIDDEN
    unknown = make_subscriber(session, SLOTJES)  # buurt not given: not in a buurt poll
    session.flush()
    assert count_subscribers(session, area_codes=[SLOTJES], buurt_codes=[OOST]) == 5
    poll = create_poll(
        session, registry, question="Wat wil je op het pleintje?", options=["Bankjes", "Bomen", "Speeltuin"],
        area_codes=[SLOTJES], via="test", now=NOW, closes_at=NOW + DAY, multiple=True, buurt_codes=[OOST],
    )  # fmt: skip
    assert broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW) == 5
    reached = {r.recipient_chat_id for r in outbox_rows(session, purpose_prefix=f"poll:{poll.id}")}
    assert reached == {r.telegram_id for r in oost} and midden.telegram_id not in reached
    assert unknown.telegram_id not in reached
    [intro, *_] = outbox_rows(session, purpose_prefix=f"poll:{poll.id}:intro")
    assert "Peiling voor Slotjes-Oost (wijk Slotjes)" in intro.payload["text"]
    for resident, options in zip(oost, ([0, 1], [0, 1, 2], [1], [0], [0, 2]), strict=True):
        assert vote(session, poll, resident, options) == "voted"
    close_due_polls(session, registry, threshold=5, now=NOW + DAY)
    results = poll_results(session, registry, poll_id=poll.id, threshold=5)
    assert results.total == 5 and [o.votes for o in results.options] == [4, 3, 2]
    staff_rows = [
        r for r in outbox_rows(session, purpose_prefix=f"poll:{poll.id}:results") if r.recipient_chat_id in (911, 912)
    ]
    assert len(staff_rows) == 2 and "Bankjes: 4 (80%)" in staff_rows[0].payload["text"]
    assert raad.id != lead.id


def test_a_buurt_must_lie_in_the_polls_area(session: Session, registry: Registry) -> None:
    with pytest.raises(PollError, match="niet in het gebied"):
        create_poll(
            session, registry, question="Bankjes?", options=["Ja", "Nee"], area_codes=[DEN_HOUT], via="test",
            now=NOW, buurt_codes=[OOST],
        )  # fmt: skip


def test_a_resident_picks_a_buurt_of_their_own_wijk_only(session: Session, registry: Registry) -> None:
    resident = make_subscriber(session, SLOTJES)
    question = buurt_question(registry, area_code=SLOTJES)
    assert question is not None and "In welke buurt van wijk Slotjes woon je?" in question[0]
    assert [b["callback_data"] for row in question[1] for b in row][-1] == "bu:none"
    assert buurt_question(registry, area_code="WK999999") is None
    tid = resident.telegram_id
    assert "werkt niet" in choose_buurt(session, registry, telegram_id=tid, buurt_code="BU08261300")  # Dorst
    assert resident.buurt_code is None
    assert "Slotjes-Oost" in choose_buurt(session, registry, telegram_id=tid, buurt_code=OOST)
    assert resident.buurt_code == OOST
    assert "heel wijk Slotjes" in choose_buurt(session, registry, telegram_id=tid, buurt_code="none")
    assert resident.buurt_code == OOST


# --- reach in the /peiling preview ----------------------------------------------------------------------


def test_the_preview_says_how_many_of_the_subscribers_the_poll_reaches(session: Session, registry: Registry) -> None:
    free = [make_subscriber(session, SLOTJES) for _ in range(2)]
    capped = make_subscriber(session, SLOTJES)
    make_subscriber(session, SLOTJES, opted_in=False)
    add_contacts(session, [{"resident_id": capped.id, "kind": "checkin", "ref": "checkin:x", "at": NOW - DAY}])
    population = registry.area(SLOTJES).population or 0
    short = planned_reach(
        session, registry, area_codes=[SLOTJES], buurt_codes=None, policy=POLICY, starts_at=NOW,
        closes_at=NOW + 2 * DAY,
    )  # fmt: skip
    assert (short.reached, short.subscribed, short.population) == (2, 3, population)
    line = reach_line(short)
    assert line.startswith("Bereikt 2 van de 3 inwoners die zich aanmeldden (3 van de ")
    assert "deze week al een bericht" in line
    # open long enough, the capped resident gets it when their week is over
    long = planned_reach(
        session, registry, area_codes=[SLOTJES], buurt_codes=None, policy=POLICY, starts_at=NOW,
        closes_at=NOW + 14 * DAY,
    )  # fmt: skip
    assert (long.reached, long.subscribed) == (3, 3) and "deze week" not in reach_line(long)
    # and it is what the broadcast then does
    poll = create_poll(
        session, registry, question="Bankjes?", options=["Ja", "Nee"], area_codes=[SLOTJES], via="test", now=NOW,
        closes_at=NOW + 2 * DAY,
    )  # fmt: skip
    assert broadcast_poll(session, registry, poll=poll, policy=POLICY, now=NOW) == short.reached == len(free)
