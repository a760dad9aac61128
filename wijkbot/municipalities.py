"""The area registry: municipalities, their wijken and dorpen, buurten, postcodes and councils.

Read from the data files in `wijkbot/data/`, checked on load (first against their JSON Schemas in
`wijkbot/data/schema/`, then for the references between their parts), and immutable afterwards. Both the bot
and the action server use it; it imports neither `telegram` nor `rasa_sdk`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from wijkbot.data_schema import DataFileError, check, read_yaml, shown

DATA_DIR = Path(__file__).with_name("data")


class DataError(DataFileError):
    """The municipality data is inconsistent; the message says where."""


@dataclass(frozen=True)
class Buurt:
    code: str
    name: str
    population: int | None
    pc4: str | None


@dataclass(frozen=True)
class Body:
    """A participation body: wijkraad, dorpsraad or village association."""

    id: str
    name: str
    kind: str
    website: str | None
    area_codes: tuple[str, ...]


@dataclass(frozen=True)
class Area:
    """A CBS wijk; `kind` says whether the municipality calls it a wijk or a dorp."""

    code: str
    name: str
    kind: str
    municipality_code: str
    population: int | None
    buurten: tuple[Buurt, ...]
    body_id: str | None

    @property
    def label(self) -> str:
        """How a resident names it: "Dorst" or "wijk Slotjes"."""
        return self.name if self.kind == "dorp" else f"wijk {self.name}"


@dataclass(frozen=True)
class Criterion:
    key: str
    question: str
    missing: str


@dataclass(frozen=True)
class Fund:
    """Another pot an initiative can be pointed to: what it is for and how to apply."""

    name: str
    purpose: str
    how: str


@dataclass(frozen=True)
class Budget:
    """The money for initiatives in one year, for the municipality (`area` None) or one area."""

    year: int
    amount: int
    area: str | None = None


@dataclass(frozen=True)
class InitiativeRules:
    """How a municipality runs initiatives (profiles.yaml `initiatives`); defaults are Oosterhout's platform's."""

    support_needed: int = 10
    support_days: int = 60
    support_from: str = "area"  # whose support counts: "area" (the initiative's wijk) or "municipality"
    decides: str = "area_staff"  # who decides: "area_staff" (its own role) or "council" (the wijk- of dorpsraad)
    budgets: tuple[Budget, ...] = ()
    other_funds: tuple[Fund, ...] = ()


@dataclass(frozen=True)
class Department:
    """A team of the municipality (gebiedsbeheer, afval, groen, …) with its own queue: the staff with the role
    `afdeling:<key>` (profiles.yaml)."""

    key: str
    name: str


@dataclass(frozen=True)
class CannedAnswer:
    """A standard answer staff can pick on the item page of the web workspace (profiles.yaml), then edit."""

    key: str
    title: str
    text: str  # may hold {voornaam}, {nummer}, {gebied}, {medewerker}, and [[…]] blanks staff fill in
    kinds: frozenset[str]  # the item kinds it fits; empty: every kind

    def fits(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    staff_role: str
    staff_title: str
    lead_title: str
    council_title: str
    website: str | None
    phone: str | None
    privacy_url: str
    budget: str
    initiative_criteria: tuple[Criterion, ...]
    areas: tuple[Area, ...]
    initiatives: InitiativeRules
    bodies: tuple[Body, ...]
    pc4_index: Mapping[str, tuple[str, ...]]
    pc4_special: Mapping[str, str]
    neighbours: Mapping[str, str] = field(default_factory=dict)
    places: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    canned_answers: tuple[CannedAnswer, ...] = ()
    departments: tuple[Department, ...] = ()

    def department(self, key: str) -> Department | None:
        return next((department for department in self.departments if department.key == key), None)


def _initiative_rules(raw: Mapping[str, Any], *, where: str, area_codes: set[str]) -> InitiativeRules:
    budgets = tuple(
        Budget(year=int(b["year"]), amount=int(b["amount"]), area=b.get("area")) for b in raw.get("budgets", [])
    )
    for budget in budgets:
        if budget.area is not None and budget.area not in area_codes:
            raise DataError(f"{where}: an initiative budget names unknown area {budget.area}")
    keys = [(b.year, b.area) for b in budgets]
    if len(keys) != len(set(keys)):
        raise DataError(f"{where}: an initiative budget is given twice for the same year and area")
    defaults = InitiativeRules()
    return InitiativeRules(
        support_needed=int(raw.get("support_needed", defaults.support_needed)),
        support_days=int(raw.get("support_days", defaults.support_days)),
        support_from=str(raw.get("support_from", defaults.support_from)),
        decides=str(raw.get("decides", defaults.decides)),
        budgets=budgets,
        other_funds=tuple(Fund(str(f["name"]), str(f["for"]), str(f["how"])) for f in raw.get("other_funds", [])),
    )


@dataclass(frozen=True)
class Registry:
    """All configured municipalities, with look-ups by code and by name."""

    municipalities: tuple[Municipality, ...]

    def municipality(self, code: str) -> Municipality:
        for municipality in self.municipalities:
            if municipality.code == code:
                return municipality
        raise KeyError(code)

    @property
    def areas(self) -> tuple[Area, ...]:
        return tuple(area for m in self.municipalities for area in m.areas)

    def area(self, code: str) -> Area:
        for area in self.areas:
            if area.code == code:
                return area
        raise KeyError(code)

    def find_area(self, code: str) -> Area | None:
        try:
            return self.area(code)
        except KeyError:
            return None

    def body_for(self, area_code: str) -> Body | None:
        area = self.area(area_code)
        municipality = self.municipality(area.municipality_code)
        return next((body for body in municipality.bodies if body.id == area.body_id), None)

    def areas_by_place(self, text: str) -> tuple[Area, ...]:
        """Areas a place name points at: a wijk or dorp name, a buurt name or a woonplaats."""
        wanted = normalise_name(text)
        if not wanted:
            return ()
        found: list[Area] = []
        for municipality in self.municipalities:
            for area in municipality.areas:
                names = [area.name, *(b.name for b in area.buurten)]
                if any(normalise_name(n) == wanted for n in names):
                    found.append(area)
            for place, codes in municipality.places.items():
                if normalise_name(place) == wanted:
                    found.extend(self.area(c) for c in codes if self.area(c) not in found)
        return tuple(dict.fromkeys(found))

    def place_names(self) -> list[str]:
        """Every place, wijk, dorp and buurt name, for the NLU lookup table."""
        names: set[str] = set()
        for municipality in self.municipalities:
            names.add(municipality.name)
            names.update(municipality.places)
            for area in municipality.areas:
                names.add(area.name)
                names.update(b.name for b in area.buurten)
        return sorted(names)


def normalise_name(text: str) -> str:
    """Lower-case, no punctuation, single spaces: "Den  Hout!" and "den hout" compare equal."""
    text = re.sub(r"[^\w\s]", " ", text.lower().replace("'t ", "het "))
    return " ".join(text.split())


def _as_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _expand_pc4_ranges(table: Mapping[str, str]) -> dict[str, str]:
    """Turn {"5101-5107": "Dongen"} into one entry per PC4."""
    expanded: dict[str, str] = {}
    for key, place in table.items():
        low, _, high = str(key).partition("-")
        for pc4 in range(int(low), int(high or low) + 1):
            expanded[str(pc4)] = place
    return expanded


def _build_places(raw: Mapping[str, Any], areas: Iterable[Area], bodies: Iterable[Body]) -> dict[str, tuple[str, ...]]:
    """Woonplaatsen mapped to the areas they lie in, from dorp names and the councils' kernen."""
    places: dict[str, list[str]] = {}
    area_list = list(areas)
    for woonplaats in raw.get("woonplaatsen", []):
        matches = [a.code for a in area_list if normalise_name(a.name) == normalise_name(woonplaats)]
        if matches:
            places[woonplaats] = matches
    for body in bodies:
        for kern in raw_kernen(raw, body.id):
            places.setdefault(kern, list(body.area_codes))
    for woonplaats in raw.get("woonplaatsen", []):
        if woonplaats not in places and normalise_name(woonplaats) == normalise_name(raw["name"]):
            places[woonplaats] = [a.code for a in area_list if a.kind == "wijk"]
    return {place: tuple(codes) for place, codes in places.items()}


def raw_kernen(raw: Mapping[str, Any], body_id: str) -> list[str]:
    for body in raw.get("participation_bodies", []):
        if body["id"] == body_id:
            return [str(k) for k in body.get("kernen", [])]
    return []


def _parse_municipality(raw: Mapping[str, Any], profile: Mapping[str, Any], *, source: str) -> Municipality:
    code = str(raw["code"])
    where = f"{source}: municipality {code}"
    areas: list[Area] = []
    for raw_area in raw["areas"]:
        area_code = str(raw_area["code"])  # the schema checked its form, WK and six digits
        if area_code[2:6] != code[2:6]:
            raise DataError(f"{where}: area code {area_code!r} is not a CBS wijk code of this municipality")
        buurten = []
        for raw_buurt in raw_area.get("buurten", []):
            buurten.append(
                Buurt(
                    code=str(raw_buurt["code"]),
                    name=str(raw_buurt["name"]),
                    population=_as_int(raw_buurt.get("population_2024")),
                    pc4=str(raw_buurt["pc4_most_common"]) if raw_buurt.get("pc4_most_common") else None,
                )
            )
        areas.append(
            Area(
                code=area_code,
                name=str(raw_area["name"]),
                kind=str(raw_area["kind"]),
                municipality_code=code,
                population=_as_int(raw_area.get("population_2024")),
                buurten=tuple(buurten),
                body_id=raw_area.get("wdr"),
            )
        )
    area_codes = {a.code for a in areas}
    if len(area_codes) != len(areas):
        raise DataError(f"{where}: duplicate area codes")

    bodies: list[Body] = []
    for raw_body in raw.get("participation_bodies", []):
        named = [str(c) for c in raw_body.get("cbs_wijken", [])]
        # An area's own `wdr` link counts too: the councils' cbs_wijken lists are not always complete.
        linked = tuple(dict.fromkeys([*named, *(a.code for a in areas if a.body_id == raw_body["id"])]))
        unknown = set(linked) - area_codes
        if unknown:
            raise DataError(f"{where}: body {raw_body['id']} names unknown areas {sorted(unknown)}")
        bodies.append(
            Body(
                id=str(raw_body["id"]),
                name=str(raw_body["name"]),
                kind=str(raw_body["kind"]),
                website=raw_body.get("website"),
                area_codes=linked,
            )
        )
    body_ids = {b.id for b in bodies}
    for area in areas:
        if area.body_id is not None and area.body_id not in body_ids:
            raise DataError(f"{where}: area {area.code} names unknown body {area.body_id!r}")

    pc4_index: dict[str, tuple[str, ...]] = {}
    for pc4, codes in raw.get("pc4_index", {}).items():
        unknown = set(codes) - area_codes
        if unknown:
            raise DataError(f"{where}: pc4 {pc4} names unknown areas {sorted(unknown)}")
        pc4_index[str(pc4)] = tuple(codes)
    for area in areas:
        if not any(area.code in codes for codes in pc4_index.values()):
            raise DataError(f"{where}: area {area.code} has no postcode in pc4_index")

    criteria = tuple(
        Criterion(key=str(c["key"]), question=str(c["question"]), missing=str(c["missing"]))
        for c in profile.get("initiative_criteria", [])
    )
    return Municipality(
        code=code,
        name=str(raw["name"]),
        staff_role=str(profile["staff_role"]),
        staff_title=str(profile["staff_title"]),
        lead_title=str(profile["lead_title"]),
        council_title=str(profile["council_title"]),
        website=profile.get("website"),
        phone=profile.get("phone"),
        privacy_url=str(profile["privacy_url"]),
        budget=str(profile.get("budget", "")).strip(),
        initiative_criteria=criteria,
        areas=tuple(areas),
        initiatives=_initiative_rules(profile.get("initiatives") or {}, where=where, area_codes=area_codes),
        bodies=tuple(bodies),
        pc4_index=pc4_index,
        pc4_special={str(k): str(v) for k, v in raw.get("pc4_special", {}).items()},
        neighbours=_expand_pc4_ranges(raw.get("neighbouring_pc4_not_in_municipality", {})),
        places=_build_places(raw, areas, bodies),
    )


def _parse_canned_answers(profile: Mapping[str, Any], *, where: str) -> tuple[CannedAnswer, ...]:
    answers = tuple(
        CannedAnswer(
            key=str(raw["key"]),
            title=str(raw["title"]).strip(),
            text=str(raw["text"]).strip(),
            kinds=frozenset(str(kind) for kind in raw.get("kinds", [])),
        )
        for raw in profile.get("canned_answers", [])
    )
    keys = [answer.key for answer in answers]
    doubled = sorted({key for key in keys if keys.count(key) > 1})
    if doubled:
        raise DataError(f"{where}: canned_answers has the key(s) {doubled} more than once")
    return answers


def _parse_departments(profile: Mapping[str, Any], *, where: str) -> tuple[Department, ...]:
    departments = tuple(
        Department(key=str(raw["key"]), name=str(raw["name"]).strip()) for raw in profile.get("departments", [])
    )
    keys = [department.key for department in departments]
    doubled = sorted({key for key in keys if keys.count(key) > 1})
    if doubled:
        raise DataError(f"{where}: departments has the key(s) {doubled} more than once")
    return departments


def _read_yaml(name: str, data_dir: Path | None) -> dict[str, Any]:
    """`municipalities.yaml` or `profiles.yaml`, checked against its schema (wijkbot/data/schema/)."""
    path = (data_dir or DATA_DIR) / name
    loaded = read_yaml(path, error=DataError)
    check(loaded, name.removesuffix(".yaml"), source=shown(path), error=DataError)
    assert isinstance(loaded, dict)  # the schema says so
    return loaded


def load_registry(codes: Iterable[str] | None = None, *, data_dir: Path | None = None) -> Registry:
    """Read, validate and return the registry for the given municipality codes (default: all)."""
    facts = _read_yaml("municipalities.yaml", data_dir)
    profiles = _read_yaml("profiles.yaml", data_dir)["municipalities"]
    by_code = {str(m["code"]): m for m in facts["municipalities"]}
    wanted = list(codes) if codes is not None else list(by_code)
    missing = [c for c in wanted if c not in by_code or c not in profiles]
    if missing:
        raise DataError(
            f"unknown municipality code(s) {missing}: each needs its facts in municipalities.yaml and its words in "
            f"profiles.yaml; known: {sorted(set(by_code) & set(profiles))}"
        )
    source = shown((data_dir or DATA_DIR) / "municipalities.yaml")
    profile_source = shown((data_dir or DATA_DIR) / "profiles.yaml")
    return Registry(
        municipalities=tuple(
            replace(
                _parse_municipality(by_code[c], profiles[c], source=source),
                canned_answers=_parse_canned_answers(profiles[c], where=f"{profile_source}: municipality {c}"),
                departments=_parse_departments(profiles[c], where=f"{profile_source}: municipality {c}"),
            )
            for c in wanted
        )
    )


@lru_cache(maxsize=8)
def registry_for(codes: tuple[str, ...]) -> Registry:
    """The registry for these municipality codes, loaded once per process."""
    return load_registry(codes)
