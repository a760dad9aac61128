"""Better polls (issue 12): the invitation explains the Telegram poll; results reach the area's raad and lead
as well as the creator and the voters."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tests.conftest import make_staff
from tests.polls_support import DEN_HOUT, NOW, POLICY, SLOTJES, make_subscriber, outbox_rows
from wijkbot.municipalities import Registry
from wijkbot.polls import broadcast_poll, close_due_polls, create_poll
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
