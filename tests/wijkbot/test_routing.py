"""Routing rules: data, ordered, first match wins, checked on load."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_staff
from wijkbot.municipalities import Registry
from wijkbot.routing import RoutingError, load_rules, parse_rules, route_item


def test_the_shipped_rules_load(registry: Registry) -> None:
    rules = load_rules(registry)
    assert rules[-1].kinds == frozenset() and rules[-1].send_to == "area_staff"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"rules": []}, "non-empty"),
        ({"rules": [{"send_to": "burgemeester"}]}, r"\$\.rules\[0\]\.send_to: 'burgemeester' is not one of"),
        (
            {"rules": [{"when": {"kinds": ["klacht"]}, "send_to": "area_staff"}, {"send_to": "area_staff"}]},
            r"\$\.rules\[0\]\.when\.kinds\[0\]: 'klacht' is not one of \['idea',",
        ),
        ({"rules": [{"when": {"areas": ["WK999999"]}, "send_to": "lead"}, {"send_to": "area_staff"}]}, "unknown area"),
        ({"rules": [{"when": {"kinds": ["idea"]}, "send_to": "area_staff"}]}, "must match everything"),
        ({"rules": [{"send_to": "area_staff", "cc": True}]}, r"\$\.rules\[0\]: .*'cc' was unexpected"),
    ],
)
def test_wrong_rules_are_refused_on_load(registry: Registry, rules: dict[str, object], message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        parse_rules(rules, registry)


def test_an_item_goes_to_the_wijkmakelaar_of_its_area(session: Session, registry: Registry) -> None:
    dorst = make_staff(session, registry, areas=["WK082613"], name="Dorst-makelaar")
    make_staff(session, registry, areas=["WK082611"], name="Den-Hout-makelaar")
    route = route_item(session, registry, load_rules(registry), kind="idea", area_code="WK082613")
    assert route.staff_ids == (dorst.id,)
    assert route.description == "de wijkmakelaar van Dorst"
    assert not route.fallback


def test_first_match_wins(session: Session, registry: Registry) -> None:
    lead = make_staff(session, registry, areas=["WK082613"], role="lead", name="Wethouder")
    make_staff(session, registry, areas=["WK082613"], name="Makelaar")
    rules = parse_rules(
        {
            "rules": [
                {"when": {"kinds": ["report"]}, "send_to": "lead"},
                {"when": {"kinds": ["report"]}, "send_to": "area_staff"},
                {"send_to": "area_staff"},
            ]
        },
        registry,
    )
    route = route_item(session, registry, rules, kind="report", area_code="WK082613")
    assert route.staff_ids == (lead.id,) and route.rule == "rule 1"


def test_with_nobody_assigned_the_item_goes_to_the_fallback_inbox(session: Session, registry: Registry) -> None:
    inbox = make_staff(session, registry, areas=["WK082600"], role="inbox", name="Loket")
    route = route_item(session, registry, load_rules(registry), kind="question", area_code="WK082613")
    assert route.fallback and route.staff_ids == (inbox.id,)
    assert "gemeente Oosterhout" in route.description


def test_an_oss_idea_is_copied_to_the_wijkraad(session: Session, registry: Registry) -> None:
    coordinator = make_staff(session, registry, areas=["WK082806"], role="wijkcoordinator", name="Coördinator")
    council = make_staff(session, registry, areas=["WK082806"], role="council", name="Wijkraad Ruwaard lid")
    route = route_item(session, registry, load_rules(registry), kind="idea", area_code="WK082806")
    assert route.staff_ids == (coordinator.id,) and route.council_ids == (council.id,)
    assert route.description == "de wijkcoördinator van Ruwaard en de Wijkraad Ruwaard"
    report = route_item(session, registry, load_rules(registry), kind="report", area_code="WK082806")
    assert report.council_ids == ()
