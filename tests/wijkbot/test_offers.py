"""The opt-in offered where it is natural (wijkbot.offers, issue 12): its rules on a moved clock, and its hooks
after a filed item and after an answered question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from tests.factories import make_resident, make_staff
from wijkbot import purposes
from wijkbot.items import file_item
from wijkbot.municipalities import Registry
from wijkbot.offers import (
    OfferRules,
    decline_offer,
    may_offer,
    offer_after_answer,
    offer_after_filing,
    queue_offer,
)
from wijkbot.privacy import export_resident
from wijkbot.reach import accept_link
from wijkbot.residents import set_home_area, set_outreach
from wijkbot.services import Services
from wijkbot.staff_loop import reply

DORST = "WK082613"
NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def offers(session: Session, telegram_id: int) -> list[models.OutboxMessage]:
    return list(
        session.scalars(
            select(models.OutboxMessage)
            .where(
                models.OutboxMessage.recipient_chat_id == telegram_id,
                models.OutboxMessage.purpose.like("offer:%"),
            )
            .order_by(models.OutboxMessage.id)
        )
    )


def resident_of_dorst(session: Session) -> models.Resident:
    resident = make_resident(session)
    set_home_area(session, resident, area_code=DORST)
    return resident


# --- the rule -------------------------------------------------------------------------------------------


def rule(**changes: object) -> bool:
    state: dict[str, object] = {
        "opted_in": False,
        "blocked": False,
        "area_code": DORST,
        "offered_at": None,
        "declined_at": None,
        "now": NOW,
    }
    state.update(changes)
    return may_offer(**state)  # type: ignore[arg-type]


def test_a_resident_with_a_known_wijk_who_was_never_asked_gets_the_offer() -> None:
    assert rule() is True


@pytest.mark.parametrize("changes", [{"opted_in": True}, {"blocked": True}, {"area_code": None}])
def test_never_to_a_subscriber_a_blocker_or_a_resident_whose_wijk_is_unknown(changes: dict[str, object]) -> None:
    assert rule(**changes) is False


def test_never_twice_in_a_week() -> None:
    assert rule(offered_at=NOW - 7 * DAY + timedelta(seconds=1)) is False
    assert rule(offered_at=NOW - DAY) is False
    assert rule(offered_at=NOW - 7 * DAY) is True


def test_never_within_90_days_after_a_nee() -> None:
    assert rule(declined_at=NOW - 89 * DAY) is False
    assert rule(declined_at=NOW - 90 * DAY + timedelta(seconds=1)) is False
    assert rule(declined_at=NOW - 90 * DAY) is True
    assert may_offer(
        opted_in=False,
        blocked=False,
        area_code=DORST,
        offered_at=None,
        declined_at=NOW - 10 * DAY,
        now=NOW,
        rules=OfferRules(after_no=timedelta(days=5)),
    )


# --- queue_offer on a moved clock ----------------------------------------------------------------------


def test_the_offer_names_the_wijk_has_ja_and_nee_and_waits_a_week(session: Session, registry: Registry) -> None:
    resident = resident_of_dorst(session)
    tid = resident.telegram_id
    assert queue_offer(session, registry, telegram_id=tid, purpose=purposes.link_offer(1), now=NOW)
    [row] = offers(session, tid)
    assert "Wil je af en toe horen wat er in Dorst speelt?" in row.payload["text"]
    assert [b["callback_data"] for line in row.payload["buttons"] for b in line] == [f"of:yes:{DORST}", "of:no"]
    assert resident.offered_at == NOW
    # six days later: not again; seven days later: again
    assert not queue_offer(session, registry, telegram_id=tid, purpose=purposes.link_offer(2), now=NOW + 6 * DAY)
    assert queue_offer(session, registry, telegram_id=tid, purpose=purposes.link_offer(3), now=NOW + 7 * DAY)
    assert [r.purpose for r in offers(session, tid)] == ["offer:1", "offer:3"]


def test_after_a_nee_the_offer_waits_90_days(session: Session, registry: Registry) -> None:
    resident = resident_of_dorst(session)
    tid = resident.telegram_id
    assert queue_offer(session, registry, telegram_id=tid, purpose=purposes.link_offer(1), now=NOW)
    decline_offer(session, telegram_id=tid, now=NOW)
    assert not queue_offer(session, registry, telegram_id=tid, purpose=purposes.link_offer(2), now=NOW + 89 * DAY)
    assert queue_offer(session, registry, telegram_id=tid, purpose=purposes.link_offer(3), now=NOW + 90 * DAY)


def test_an_opt_out_counts_as_a_nee(session: Session, registry: Registry) -> None:
    resident = resident_of_dorst(session)
    set_outreach(session, resident, opt_in=True, via="chat", now=NOW - 30 * DAY)
    assert not queue_offer(session, registry, telegram_id=resident.telegram_id, purpose=purposes.link_offer(1), now=NOW)
    set_outreach(session, resident, opt_in=False, via="/stop", now=NOW)
    assert resident.offer_declined_at == NOW
    later = NOW + 60 * DAY
    assert not queue_offer(
        session, registry, telegram_id=resident.telegram_id, purpose=purposes.link_offer(2), now=later
    )


def test_no_offer_to_staff_to_unknown_chats_or_without_a_wijk(session: Session, registry: Registry) -> None:
    staff = make_staff(session, registry, areas=[DORST], telegram_id=8801)
    assert staff.telegram_id is not None
    staff_as_resident = make_resident(session, telegram_id=8801)
    set_home_area(session, staff_as_resident, area_code=DORST)
    assert not queue_offer(session, registry, telegram_id=8801, purpose=purposes.link_offer(1), now=NOW)
    assert not queue_offer(session, registry, telegram_id=8802, purpose=purposes.link_offer(1), now=NOW)
    nowhere = make_resident(session)
    assert not queue_offer(session, registry, telegram_id=nowhere.telegram_id, purpose=purposes.link_offer(1), now=NOW)
    # an item's wijk will do when the resident's own is not known
    assert queue_offer(
        session, registry, telegram_id=nowhere.telegram_id, purpose=purposes.link_offer(1), now=NOW, area_code=DORST
    )


def test_ja_records_consent_through_the_one_write_path(session: Session, registry: Registry) -> None:
    resident = make_resident(session)
    assert accept_link(session, registry, telegram_id=resident.telegram_id, area_code=DORST, now=NOW, via="offer")
    assert (resident.outreach_opt_in, resident.consent_at, resident.consent_via) == (True, NOW, "offer")
    assert resident.area_code == DORST and resident.source is None


# --- the hooks ------------------------------------------------------------------------------------------


def file(session: Session, services: Services, resident: models.Resident, kind: str) -> models.Item:
    return file_item(
        session,
        services.registry,
        services.rules,
        resident=resident,
        kind=kind,
        area_code=DORST,
        text="Wanneer wordt het gras gemaaid?",
    ).item


def test_after_a_filed_item_the_offer_follows_only_when_the_turn_filed_one(
    session: Session, services: Services
) -> None:
    resident = make_resident(session)  # wijk unknown: the item's wijk is offered
    tid = resident.telegram_id
    assert not offer_after_filing(session, services.registry, telegram_id=tid, update_id=41, now=NOW)
    item = file(session, services, resident, "idea")
    # what actions/submit.py keeps through wijkbot.effects for this turn
    session.add(models.TurnEffect(telegram_id=tid, update_id=42, action="file_idea", result={"item_id": item.id}))
    session.flush()
    assert not offer_after_filing(session, services.registry, telegram_id=tid, update_id=41, now=NOW)
    assert offer_after_filing(session, services.registry, telegram_id=tid, update_id=42, now=NOW)
    assert [r.purpose for r in offers(session, tid)] == [f"offer:item:{item.id}"]
    assert "Dorst" in offers(session, tid)[0].payload["text"]


def test_after_an_answered_question_the_offer_follows_the_answer(session: Session, services: Services) -> None:
    sanne = make_staff(session, services.registry, areas=[DORST])
    resident = resident_of_dorst(session)
    question = file(session, services, resident, "question")
    reply(session, services.registry, staff=sanne, item_id=question.id, text="Volgende week.", now=NOW)
    rows = list(
        session.scalars(
            select(models.OutboxMessage)
            .where(models.OutboxMessage.recipient_chat_id == resident.telegram_id)
            .order_by(models.OutboxMessage.id)
        )
    )
    assert [r.purpose.split(":")[0] + ":" + r.purpose.split(":")[1] for r in rows] == [
        f"item:{question.id}",
        "offer:reply",
    ]
    assert rows[0].priority == rows[1].priority  # same priority, so the answer (lower id) is sent first
    # a second answer within the week: no second offer
    reply(session, services.registry, staff=sanne, item_id=question.id, text="Of de week erna.", now=NOW + DAY)
    assert len(offers(session, resident.telegram_id)) == 1


def test_no_offer_after_answering_an_idea_or_report(session: Session, services: Services) -> None:
    sanne = make_staff(session, services.registry, areas=[DORST])
    resident = resident_of_dorst(session)
    for kind in ("idea", "report"):
        item = file(session, services, resident, kind)
        reply(session, services.registry, staff=sanne, item_id=item.id, text="Dank je!", now=NOW)
        assert not offer_after_answer(
            session, services.registry, item=item, resident=resident, event_id=item.events[-1].id, now=NOW
        )
    assert offers(session, resident.telegram_id) == []


def test_mijngegevens_shows_when_the_offer_was_made_and_declined(session: Session, registry: Registry) -> None:
    resident = resident_of_dorst(session)
    queue_offer(session, registry, telegram_id=resident.telegram_id, purpose=purposes.link_offer(1), now=NOW)
    decline_offer(session, telegram_id=resident.telegram_id, now=NOW + DAY)
    exported = export_resident(session, telegram_id=resident.telegram_id)
    assert exported is not None
    assert exported["resident"]["opt_in_offered_at"] == NOW.isoformat()
    assert exported["resident"]["opt_in_declined_at"] == (NOW + DAY).isoformat()
