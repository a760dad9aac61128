"""Routing rules as data: ordered, first match wins, checked on load against wijkbot/data/schema/routing.schema.json
and then against the registry (see docs/routing.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from wijkbot.data_schema import DataFileError, check, read_yaml, shown
from wijkbot.municipalities import DATA_DIR, Registry
from wijkbot.staff import staff_for_area

KINDS = ("idea", "report", "question", "contact")  # routing.schema.json lists them too (a test compares)
AREA_STAFF = "area_staff"


class RoutingError(DataFileError):
    """The routing rules are wrong; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    name: str
    kinds: frozenset[str]
    municipalities: frozenset[str]
    areas: frozenset[str]
    send_to: str
    person: str | None
    copy_council: bool

    def matches(self, *, kind: str, municipality: str, area_code: str) -> bool:
        return (
            (not self.kinds or kind in self.kinds)
            and (not self.municipalities or municipality in self.municipalities)
            and (not self.areas or area_code in self.areas)
        )


@dataclass(frozen=True)
class Route:
    """Where one item goes: the people, the role they hold, and the words to tell the resident."""

    rule: str
    role: str
    staff_ids: tuple[int, ...]
    council_ids: tuple[int, ...]
    fallback: bool
    description: str


def parse_rules(raw: Any, registry: Registry, *, source: str = "routing.yaml") -> tuple[Rule, ...]:
    """Build and check the rules; the last one must match everything so no item is left unrouted."""
    check(raw, "routing", source=source, error=RoutingError)  # keys, kinds, roles, code forms
    rules: list[Rule] = []
    for index, entry in enumerate(raw["rules"], start=1):
        name = str(entry.get("name") or f"rule {index}")
        when = entry.get("when") or {}
        kinds = frozenset(when.get("kinds", []))
        municipalities = frozenset(when.get("municipalities", []))
        areas = frozenset(when.get("areas", []))
        # A rule naming a municipality that is not configured here (WIJKBOT_MUNICIPALITIES) never matches.
        if bad_areas := {a for a in areas if registry.find_area(a) is None}:
            raise RoutingError(f"{source}: {name}: unknown area code(s) {sorted(bad_areas)}")
        send_to = entry["send_to"]
        person = None
        if isinstance(send_to, Mapping):
            person, send_to = str(send_to["person"]), "person"
        rules.append(Rule(name, kinds, municipalities, areas, str(send_to), person, bool(entry.get("copy_council"))))
    last = rules[-1]
    if last.kinds or last.municipalities or last.areas:
        raise RoutingError(
            f"{source}: the last rule ({last.name}) must match everything (no `when`), so nothing is unrouted"
        )
    return tuple(rules)


def load_rules(registry: Registry, path: Path | None = None) -> tuple[Rule, ...]:
    path = path or DATA_DIR / "routing.yaml"
    return parse_rules(read_yaml(path, error=RoutingError), registry, source=shown(path))


def first_match(rules: Sequence[Rule], *, kind: str, municipality: str, area_code: str) -> Rule:
    for rule in rules:
        if rule.matches(kind=kind, municipality=municipality, area_code=area_code):
            return rule
    raise RoutingError("no routing rule matched")  # parse_rules guarantees a catch-all


def route_item(session: Session, registry: Registry, rules: Sequence[Rule], *, kind: str, area_code: str) -> Route:
    """Decide who receives an item of this kind in this area."""
    area = registry.area(area_code)
    municipality = registry.municipality(area.municipality_code)
    rule = first_match(rules, kind=kind, municipality=municipality.code, area_code=area_code)
    role = municipality.staff_role if rule.send_to == AREA_STAFF else rule.send_to
    if rule.person is not None:
        staff = list(
            session.scalars(
                select(models.StaffMember).where(
                    models.StaffMember.name == rule.person, models.StaffMember.active.is_(True)
                )
            )
        )
    else:
        staff = staff_for_area(session, area_code=area_code, role=role)
    council = staff_for_area(session, area_code=area_code, role="council") if rule.copy_council else []
    title = municipality.staff_title if role == municipality.staff_role else role
    description = f"de {title} van {area.name}"
    fallback = False
    if not staff:
        fallback = True
        staff = _fallback_inbox(session, registry, municipality_code=municipality.code)
        description = f"het team wijkgericht werken van de gemeente {municipality.name}"
    body = registry.body_for(area_code)
    if council and body is not None:
        description += f" en de {body.name}"
    return Route(
        rule=rule.name,
        role=role,
        staff_ids=tuple(s.id for s in staff),
        council_ids=tuple(c.id for c in council if c.id not in {s.id for s in staff}),
        fallback=fallback,
        description=description,
    )


def _fallback_inbox(session: Session, registry: Registry, *, municipality_code: str) -> list[models.StaffMember]:
    area_codes = [a.code for a in registry.municipality(municipality_code).areas]
    return list(
        session.scalars(
            select(models.StaffMember)
            .where(
                models.StaffMember.id.in_(
                    select(models.StaffArea.staff_id).where(models.StaffArea.area_code.in_(area_codes))
                ),
                models.StaffMember.role == "inbox",
                models.StaffMember.active.is_(True),
            )
            .order_by(models.StaffMember.id)
        )
    )
