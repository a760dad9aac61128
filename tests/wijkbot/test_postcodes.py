"""Postcode parsing and resolution against the municipality data."""

from __future__ import annotations

import pytest
import yaml

from wijkbot.municipalities import DATA_DIR, Registry
from wijkbot.postcodes import Status, find_postcode, parse_postcode, resolve_postcode

RAW = yaml.safe_load((DATA_DIR / "municipalities.yaml").read_text(encoding="utf-8"))
PC4_CASES = [(m["code"], pc4, tuple(codes)) for m in RAW["municipalities"] for pc4, codes in m["pc4_index"].items()]


@pytest.mark.parametrize(("municipality", "pc4", "codes"), PC4_CASES, ids=[c[1] for c in PC4_CASES])
def test_every_pc4_in_the_data_resolves_as_the_data_says(
    registry: Registry, municipality: str, pc4: str, codes: tuple[str, ...]
) -> None:
    result = resolve_postcode(f"{pc4} AB", registry)
    assert result.municipality == municipality
    assert tuple(a.code for a in result.areas) == codes
    assert result.status == (Status.UNIQUE if len(codes) == 1 else Status.AMBIGUOUS)


@pytest.mark.parametrize("typed", ["4911 AB", "4911ab", "4911AB", " 4911  ab ", "4911 aB"])
def test_a_postcode_is_read_with_or_without_space_in_any_case(registry: Registry, typed: str) -> None:
    result = resolve_postcode(typed, registry)
    assert result.status == Status.UNIQUE
    assert result.postcode == "4911AB"
    assert result.as_json()["areas"] == [{"code": "WK082611", "name": "Den Hout"}]


@pytest.mark.parametrize(
    "typed",
    [
        "0911 AB",
        "999 AB",
        "12345 AB",
        "4911 A",
        "4911 ABC",
        "4911 SA",
        "4911 sd",
        "4911SS",
        "AB 4911",
        "49-11AB",
        "",
        "vier negen",
        "4911 ÄB",
        "４９１１AB",
    ],
)
def test_impossible_postcodes_are_invalid(registry: Registry, typed: str) -> None:
    result = resolve_postcode(typed, registry)
    assert result.status == Status.INVALID
    assert result.as_json() == {"status": "invalid", "municipality": None, "areas": []}


@pytest.mark.parametrize(
    ("typed", "place"),
    [
        ("4844 AA", "Terheijden (Drimmelen)"),
        ("4847 AB", "Teteringen (Breda)"),
        ("5104 CD", "Dongen"),
        ("5335 AA", "Alem (Maasdriel, Gld)"),
        ("5374 AA", "Schaijk (Maashorst)"),
        ("5382 AA", "Vinkel ('s-Hertogenbosch)"),
    ],
)
def test_postcodes_just_outside_both_municipalities_say_where_they_are(
    registry: Registry, typed: str, place: str
) -> None:
    result = resolve_postcode(typed, registry)
    assert result.status == Status.OUTSIDE
    assert result.municipality is None and result.areas == ()
    assert result.place == place


@pytest.mark.parametrize("typed", ["1012 AB", "4910 AA", "5350 AA", "9999 ZZ"])
def test_valid_postcodes_elsewhere_are_outside_without_a_place(registry: Registry, typed: str) -> None:
    result = resolve_postcode(typed, registry)
    assert result.status == Status.OUTSIDE
    assert result.place is None


def test_a_postbus_postcode_asks_for_the_wijk_of_that_municipality(registry: Registry) -> None:
    result = resolve_postcode("5340 AA", registry)
    assert result.status == Status.AMBIGUOUS
    assert result.municipality == "GM0828"
    assert len(result.areas) == 23
    assert result.note and "Postbus" in result.note


def test_only_the_configured_municipalities_are_resolved() -> None:
    from wijkbot.municipalities import load_registry

    only_oss = load_registry(["GM0828"])
    assert resolve_postcode("4911 AB", only_oss).status == Status.OUTSIDE
    assert resolve_postcode("5341 AB", only_oss).status == Status.UNIQUE


def test_a_bare_pc4_is_accepted() -> None:
    assert parse_postcode("4911") is not None and str(parse_postcode("4911")) == "4911"


@pytest.mark.parametrize(
    ("sentence", "found"),
    [
        ("ik woon op 4911 ab in den hout", "4911AB"),
        ("postcode:5341AB.", "5341AB"),
        ("4911 sa en 5342 xy", "5342XY"),
        ("bel 0612345678", None),
        ("geen postcode", None),
    ],
)
def test_a_postcode_is_found_inside_a_sentence(sentence: str, found: str | None) -> None:
    postcode = find_postcode(sentence)
    assert (str(postcode) if postcode else None) == found
