"""Where a resident means: postcodes anywhere in a sentence, place names, area codes from buttons."""

from __future__ import annotations

import pytest

from wijkbot.locate import area_choices, resolve_location, resolve_place
from wijkbot.municipalities import Registry
from wijkbot.postcodes import Status


@pytest.mark.parametrize(
    ("typed", "status", "codes"),
    [
        ("4911ab", Status.UNIQUE, ["WK082611"]),
        ("kerkstraat 12, 5341 AB Oss", Status.UNIQUE, ["WK082800"]),
        ("4902", Status.AMBIGUOUS, ["WK082601", "WK082602", "WK082608"]),
        ("WK082601", Status.UNIQUE, ["WK082601"]),
        ("wk082601", Status.UNIQUE, ["WK082601"]),
        ("Dorst", Status.UNIQUE, ["WK082613"]),
        ("den hout", Status.UNIQUE, ["WK082611"]),
        ("de Ruwaard", Status.UNIQUE, ["WK082806"]),
        ("ik woon in dorst", Status.UNIQUE, ["WK082613"]),
        ("Vrachelen in Oosterhout", Status.UNIQUE, ["WK082607"]),
        ("het centrum van oss", Status.UNIQUE, ["WK082800"]),
        ("Centrum", Status.AMBIGUOUS, ["WK082600", "WK082800"]),
        ("4811 AB", Status.OUTSIDE, []),
        ("bij de kerk", Status.INVALID, []),
        ("", Status.INVALID, []),
    ],
)
def test_a_location_resolves_to_the_areas_it_names(
    registry: Registry, typed: str, status: Status, codes: list[str]
) -> None:
    resolution = resolve_location(typed, registry)
    assert resolution.status == status
    assert [a.code for a in resolution.areas] == codes


def test_a_municipality_name_narrows_and_never_picks_the_other_municipality(registry: Registry) -> None:
    resolution = resolve_place("Oss Noord-West", registry)
    assert resolution.status == Status.AMBIGUOUS
    assert {a.municipality_code for a in resolution.areas} == {"GM0828"}


def test_button_titles_name_the_municipality_only_when_mixed(registry: Registry) -> None:
    same = resolve_location("4902", registry).areas
    assert area_choices(same, registry) == [
        ("WK082601", "Slotjes"),
        ("WK082602", "West"),
        ("WK082608", "Industrieterrein Zuid"),
    ]
    mixed = resolve_location("Centrum", registry).areas
    assert area_choices(mixed, registry) == [
        ("WK082600", "Oosterhout-Centrum (Oosterhout)"),
        ("WK082800", "Centrum (Oss)"),
    ]
