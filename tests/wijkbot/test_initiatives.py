"""Buurtinitiatieven: started from an idea, supported by neighbours of its wijk, decided by the profile's
deciding role within the budget, and every stage told to the initiator and the supporters."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from tests.factories import make_resident, make_staff
from tests.polls_support import POLICY, make_subscriber
from wijkbot.initiatives import (
    STAGES,
    InitiativeError,
    budgets,
    card,
    decide,
    decide_typed,
    end_support_periods,
    list_initiatives,
    parse_amount,
    realised_text,
    start_initiative,
    support,
    title_of,
)
from wijkbot.items import file_item
from wijkbot.municipalities import Budget, Registry
from wijkbot.outreach import enqueue_checkin
from wijkbot.privacy import erase_resident, export_resident
from wijkbot.rights import NotAllowed
from wijkbot.services import Services
from wijkbot.workflow import INITIATIVE, State

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DORST = "WK082613"  # Oosterhout: the wijkmakelaar decides, € 150.000 in 2026
DORST_POSTCODE = "4849 AB"
ELSEWHERE_POSTCODE = "4907 AA"  # another wijk of Oosterhout


@pytest.fixture
def codes() -> object:
    made = iter(f"c{n:07d}" for n in range(10_000))
    return lambda: next(made)


def _idea(
    session: Session, services: Services, *, area: str = DORST, text: str = "Een jeu de boules baan"
) -> models.Item:
    resident = make_resident(session, first_name="Anna")
    return file_item(
        session, services.registry, services.rules, resident=resident, kind="idea", area_code=area, text=text
    ).item


def _start(session: Session, services: Services, item: models.Item, codes: object, **kw: object) -> models.Initiative:
    resident = session.get(models.Resident, item.resident_id)
    assert resident is not None
    return start_initiative(
        session,
        services.registry,
        telegram_id=resident.telegram_id,
        item_id=item.id,
        requested=kw.get("requested", 1000),  # type: ignore[arg-type]
        criteria={"outside": True},
        now=NOW,
        new_code=codes,  # type: ignore[arg-type]
    )


def _neighbour(session: Session, services: Services, code: str, postcode: str = DORST_POSTCODE, joins: bool = False):  # type: ignore[no-untyped-def]
    resident = make_resident(session, first_name="Buur")
    return support(
        session,
        services.registry,
        code=code,
        telegram_id=resident.telegram_id,
        first_name="Buur",
        joins=joins,
        postcode=postcode,
        now=NOW,
    ), resident


def _purposes(session: Session, chat_id: int) -> list[str]:
    rows = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == chat_id))
    return [r.purpose for r in rows]


def test_an_open_idea_becomes_an_initiative_gathering_support_and_its_staff_hear_it(
    session: Session, services: Services, codes: object
) -> None:
    staff = make_staff(session, services.registry, areas=[DORST])
    item = _idea(session, services)
    initiative = _start(session, services, item, codes)
    assert (item.kind, item.status) == ("initiative", "collecting")
    assert [(e.kind, e.status) for e in item.events] == [
        ("filed", "new"),
        ("became_initiative", "idea"),
        ("initiative_started", "collecting"),
    ]
    assert (initiative.support_needed, initiative.support_until) == (10, NOW + timedelta(days=60))
    assert initiative.requested == 1000 and initiative.criteria == {"outside": True}
    assert f"item:{item.id}:initiative:{staff.id}" in _purposes(session, staff.telegram_id or 0)


def test_only_the_residents_own_open_idea_can_become_one(session: Session, services: Services, codes: object) -> None:
    item = _idea(session, services)
    stranger = make_resident(session)
    with pytest.raises(InitiativeError, match="kan ik niet"):
        start_initiative(
            session, services.registry, telegram_id=stranger.telegram_id, item_id=item.id, requested=None, now=NOW
        )
    _start(session, services, item, codes)
    with pytest.raises(InitiativeError):  # no longer an idea
        _start(session, services, item, codes)


def test_a_neighbour_from_the_wijk_counts_and_the_initiator_sees_the_count(
    session: Session, services: Services, codes: object
) -> None:
    item = _idea(session, services)
    initiative = _start(session, services, item, codes)
    done, neighbour = _neighbour(session, services, initiative.share_code, joins=True)
    assert (done.outcome, done.count) == ("counted", 1)
    assert neighbour.area_code == DORST and neighbour.postcode == "4849AB"  # asked once, kept as their home
    initiator = session.get(models.Resident, item.resident_id)
    assert initiator is not None
    texts = session.scalars(
        select(models.OutboxMessage.payload).where(models.OutboxMessage.recipient_chat_id == initiator.telegram_id)
    ).all()
    assert any("doet mee met je buurtinitiatief" in t["text"] and "1 van de 10" in t["text"] for t in texts)
    again = support(
        session,
        services.registry,
        code=initiative.share_code,
        telegram_id=neighbour.telegram_id,
        first_name="B",
        joins=False,
        now=NOW,
    )
    assert (again.outcome, again.count) == ("already", 1)


def test_a_neighbour_from_another_wijk_is_refused_politely_and_does_not_count(
    session: Session, services: Services, codes: object
) -> None:
    initiative = _start(session, services, _idea(session, services), codes)
    done, _ = _neighbour(session, services, initiative.share_code, postcode=ELSEWHERE_POSTCODE)
    assert done.outcome == "outside" and "alleen van bewoners van Dorst" in done.message
    assert initiative.supporters == []


def test_without_a_known_home_the_postcode_is_asked_and_a_wrong_one_is_explained(
    session: Session, services: Services, codes: object
) -> None:
    initiative = _start(session, services, _idea(session, services), codes)
    resident = make_resident(session)
    asked = support(
        session,
        services.registry,
        code=initiative.share_code,
        telegram_id=resident.telegram_id,
        first_name="B",
        joins=False,
        now=NOW,
    )
    assert asked.outcome == "needs_postcode"
    wrong = support(
        session,
        services.registry,
        code=initiative.share_code,
        telegram_id=resident.telegram_id,
        first_name="B",
        joins=False,
        postcode="hallo",
        now=NOW,
    )
    assert wrong.outcome == "needs_postcode" and "geen postcode" in wrong.message
    assert initiative.supporters == []


def test_an_unknown_code_and_the_initiators_own_support_are_answered(
    session: Session, services: Services, codes: object
) -> None:
    item = _idea(session, services)
    initiative = _start(session, services, item, codes)
    initiator = session.get(models.Resident, item.resident_id)
    assert initiator is not None
    own = support(
        session,
        services.registry,
        code=initiative.share_code,
        telegram_id=initiator.telegram_id,
        first_name="A",
        joins=False,
        now=NOW,
    )
    assert own.outcome == "own"
    unknown = support(session, services.registry, code="zzzzzzzz", telegram_id=1, first_name="A", joins=False, now=NOW)
    assert unknown.outcome == "closed"


def _to_review(
    session: Session, services: Services, codes: object, *, needed: int = 3
) -> tuple[models.Item, models.Initiative, list[models.Resident]]:
    item = _idea(session, services)
    initiative = _start(session, services, item, codes)
    initiative.support_needed = needed
    neighbours = [_neighbour(session, services, initiative.share_code)[1] for _ in range(needed)]
    return item, initiative, neighbours


def test_at_the_threshold_it_goes_to_review_and_the_deciders_get_the_buttons_and_the_checklist(
    session: Session, services: Services, codes: object
) -> None:
    decider = make_staff(session, services.registry, areas=[DORST])
    item, _, _ = _to_review(session, services, codes)
    assert item.status == "review" and item.remind_at is not None
    row = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.purpose == f"item:{item.id}:review:{decider.id}")
    ).one()
    assert "3 (van wie 0 meedoen)" in row.payload["text"]
    assert "Budget 2026: nog € 150.000 van € 150.000 over." in row.payload["text"]
    assert "Is het buiten, op straat, in een park of op een plein? ja" in row.payload["text"]
    data = [b["callback_data"] for line in row.payload["buttons"] for b in line]
    assert data == [
        f"ini:{item.id}:grant",
        f"item:{item.id}:reply",
        f"ini:{item.id}:support",
        f"ini:{item.id}:reject",
        f"ini:{item.id}:funds",
    ]


def test_a_grant_is_recorded_with_who_and_when_the_ledger_shows_it_and_everyone_hears(
    session: Session, services: Services, codes: object
) -> None:
    decider = make_staff(session, services.registry, areas=[DORST], name="Wim")
    item, initiative, neighbours = _to_review(session, services, codes)
    text, buttons = decide_typed(
        session, services.registry, staff=decider, action="grant", item_id=item.id, text="€ 750", now=NOW
    )
    assert "€ 750 toegekend" in text and buttons == [
        [{"text": "Start uitvoering", "callback_data": f"ini:{item.id}:start"}]
    ]
    assert (initiative.granted, initiative.budget_year, initiative.decided_by_id, initiative.decided_at) == (
        750,
        2026,
        decider.id,
        NOW,
    )
    [ledger] = budgets(session, services.registry, municipality="GM0826", year=2026)
    assert ledger.as_json() == {
        "municipality": "GM0826",
        "area": None,
        "year": 2026,
        "available": 150000,
        "granted": 750,
        "remaining": 149250,
    }
    for person in neighbours:
        assert f"initiative:{item.id}:stage:granted:{person.id}" in _purposes(session, person.telegram_id)
    decide(session, services.registry, staff=decider, item_id=item.id, decision="start", now=NOW)
    decide(session, services.registry, staff=decider, item_id=item.id, decision="done", now=NOW)
    assert item.status == "done" and item.closed_at == NOW
    assert list_initiatives(session, stage="done") == [
        {
            "id": item.id,
            "title": "Een jeu de boules baan",
            "area": DORST,
            "stage": "done",
            "supporters": 3,
            "requested": 1000,
            "granted": 750,
        }
    ]
    assert "Een jeu de boules baan (€ 750)" in realised_text(
        session, services.registry, telegram_id=neighbours[0].telegram_id
    )


def test_a_grant_beyond_the_remainder_is_refused_and_changes_nothing(
    session: Session, services: Services, codes: object
) -> None:
    decider = make_staff(session, services.registry, areas=[DORST])
    item, initiative, _ = _to_review(session, services, codes)
    with pytest.raises(InitiativeError, match=re.escape("€ 150.001 past niet: er is in 2026 nog € 150.000 over")):
        decide(session, services.registry, staff=decider, item_id=item.id, decision="grant", amount=150_001, now=NOW)
    assert item.status == "review" and initiative.granted is None


def test_without_a_budget_for_the_year_nothing_is_granted(session: Session, services: Services, codes: object) -> None:
    decider = make_staff(session, services.registry, areas=[DORST])
    item, _, _ = _to_review(session, services, codes)
    with pytest.raises(InitiativeError, match="geen budget voor initiatieven in 2099"):
        decide(
            session,
            services.registry,
            staff=decider,
            item_id=item.id,
            decision="grant",
            amount=10,
            now=NOW.replace(year=2099),
        )


def test_only_the_deciding_role_of_the_initiatives_area_decides(
    session: Session, services: Services, codes: object
) -> None:
    other_area = make_staff(session, services.registry, areas=["WK082606"])
    lead = make_staff(session, services.registry, areas=[DORST], role="lead")
    council = make_staff(session, services.registry, areas=[DORST], role="council")
    item, _, _ = _to_review(session, services, codes)
    with pytest.raises(NotAllowed, match="hoort niet bij jouw gebied"):
        decide(session, services.registry, staff=other_area, item_id=item.id, decision="support", now=NOW)
    for member in (lead, council):
        with pytest.raises(NotAllowed, match="Over dit initiatief beslist de wijkmakelaar"):
            decide(session, services.registry, staff=member, item_id=item.id, decision="support", now=NOW)
    assert item.status == "review"


def test_in_oss_the_council_decides_on_its_own_budget(session: Session, services: Services, codes: object) -> None:
    oss = services.registry.municipality("GM0828")
    rules = dataclasses.replace(oss.initiatives, budgets=(Budget(year=2026, amount=5000, area="WK082800"),))
    registry = Registry(
        tuple(
            dataclasses.replace(m, initiatives=rules) if m.code == "GM0828" else m
            for m in services.registry.municipalities
        )
    )
    services = dataclasses.replace(services, registry=registry)
    raad = make_staff(session, registry, areas=["WK082800"], role="council", name="Raad Centrum")
    coordinator = make_staff(session, registry, areas=["WK082800"], role="wijkcoordinator")
    item = _idea(session, services, area="WK082800")
    initiative = _start(session, services, item, codes)
    initiative.support_needed = 1
    _neighbour(session, services, initiative.share_code, postcode="5341 AA")
    assert item.status == "review"
    with pytest.raises(NotAllowed, match="beslist de wijk- of dorpsraad"):
        decide(session, registry, staff=coordinator, item_id=item.id, decision="grant", amount=700, now=NOW)
    decide(session, registry, staff=raad, item_id=item.id, decision="grant", amount=700, now=NOW)
    [ledger] = budgets(session, registry, municipality="GM0828")
    assert (ledger.area, ledger.granted, ledger.remaining) == ("WK082800", 700, 4300)
    advice = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.purpose == f"item:{item.id}:review:{coordinator.id}")
    ).one()
    assert "jij kunt meedenken" in advice.payload["text"] and advice.payload.get("buttons") is None


def test_a_rejection_needs_a_reason_and_another_fund_explains_how_to_apply(
    session: Session, services: Services, codes: object
) -> None:
    decider = make_staff(session, services.registry, areas=[DORST])
    item, initiative, _ = _to_review(session, services, codes)
    with pytest.raises(InitiativeError, match="Geef een reden"):
        decide(session, services.registry, staff=decider, item_id=item.id, decision="reject", reason=" ", now=NOW)
    decide(session, services.registry, staff=decider, item_id=item.id, decision="fund", fund=0, now=NOW)
    assert item.status == "other_fund" and initiative.fund == "subsidie voor activiteiten"
    initiator = session.get(models.Resident, item.resident_id)
    assert initiator is not None
    told = session.scalars(
        select(models.OutboxMessage).where(
            models.OutboxMessage.purpose == f"initiative:{item.id}:stage:other_fund:{initiator.id}"
        )
    ).one()
    assert "Zo vraag je het aan" in told.payload["text"]


def test_a_decision_in_the_wrong_stage_is_refused(session: Session, services: Services, codes: object) -> None:
    decider = make_staff(session, services.registry, areas=[DORST])
    item = _idea(session, services)
    _start(session, services, item, codes)
    with pytest.raises(InitiativeError, match="staat op collecting"):
        decide(session, services.registry, staff=decider, item_id=item.id, decision="grant", amount=10, now=NOW)


def test_an_erased_supporter_no_longer_counts_and_their_support_is_in_their_data(
    session: Session, services: Services, codes: object
) -> None:
    item = _idea(session, services)
    initiative = _start(session, services, item, codes)
    _, neighbour = _neighbour(session, services, initiative.share_code)
    exported = export_resident(session, telegram_id=neighbour.telegram_id)
    assert exported is not None
    assert [(s["initiative"], s["joins"]) for s in exported["supporting"]] == [(item.id, False)]
    erase_resident(session, telegram_id=neighbour.telegram_id)
    session.expire_all()
    assert session.get(models.Initiative, item.id).supporters == []  # type: ignore[union-attr]
    assert "0 van de 10" in card(session, services.registry, initiative)


@pytest.mark.parametrize(
    ("typed", "euros"), [("750", 750), ("€ 1.250", 1250), ("1250,-", 1250), ("2.500 euro", 2500), ("300,00", 300)]
)
def test_amounts_are_read_as_people_type_them(typed: str, euros: int) -> None:
    assert parse_amount(typed) == euros


@pytest.mark.parametrize("typed", ["", "veel", "-5", "0", "2000000", "12,50"])
def test_other_amounts_are_refused_with_an_example(typed: str) -> None:
    with pytest.raises(InitiativeError):
        parse_amount(typed)


def test_the_title_is_the_first_line_cut_at_a_word() -> None:
    assert title_of("Bankjes\nbij de vijver") == "Bankjes"
    long = "woord " * 30
    assert len(title_of(long)) <= 80 and title_of(long).endswith("…")


def test_the_contract_stages_are_the_initiative_lifecycle() -> None:
    assert set(STAGES) == {s.value for s in INITIATIVE.states} - {State.WITHDRAWN.value, State.EXPIRED.value}


def test_a_realised_initiative_is_named_in_its_areas_check_ins_for_ninety_days(
    session: Session, services: Services, codes: object
) -> None:
    decider = make_staff(session, services.registry, areas=[DORST])
    item, _, _ = _to_review(session, services, codes, needed=1)
    for decision in ("support", "done"):
        decide(session, services.registry, staff=decider, item_id=item.id, decision=decision, now=NOW)
    subscriber = make_subscriber(session, DORST)

    def checkin_text(now: datetime) -> str:
        enqueue_checkin(session, services.registry, area_code=DORST, policy=POLICY, now=now)
        rows = session.scalars(
            select(models.OutboxMessage)
            .where(models.OutboxMessage.recipient_chat_id == subscriber.telegram_id)
            .order_by(models.OutboxMessage.id.desc())
        )
        return str(next(iter(rows)).payload["text"])

    assert "Onlangs gerealiseerd in Dorst: «Een jeu de boules baan»." in checkin_text(NOW + timedelta(days=8))
    assert "gerealiseerd" not in checkin_text(NOW + timedelta(days=91))


def test_when_the_support_period_ends_short_of_the_threshold_it_goes_to_review_all_the_same(
    session: Session, services: Services, codes: object
) -> None:
    decider = make_staff(session, services.registry, areas=[DORST])
    item = _idea(session, services)
    initiative = _start(session, services, item, codes)
    _neighbour(session, services, initiative.share_code)
    assert end_support_periods(session, services.registry, now=NOW + timedelta(days=59)) == 0
    assert end_support_periods(session, services.registry, now=NOW + timedelta(days=60)) == 1
    assert item.status == "review" and [e.text for e in item.events if e.kind == "review"] == ["period ended"]
    review = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.purpose == f"item:{item.id}:review:{decider.id}")
    ).one()
    assert "Steun: 1 (van wie 0 meedoen); nodig 10." in review.payload["text"]
    assert end_support_periods(session, services.registry, now=NOW + timedelta(days=61)) == 0
