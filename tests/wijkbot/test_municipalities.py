"""The area registry: loaded from the data files and checked on load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wijkbot.municipalities import DATA_DIR, DataError, Registry, load_registry


def test_both_municipalities_are_loaded_with_their_areas(registry: Registry) -> None:
    oosterhout, oss = registry.municipalities
    assert (oosterhout.code, len(oosterhout.areas)) == ("GM0826", 14)
    assert (oss.code, len(oss.areas)) == ("GM0828", 23)
    assert len(oss.bodies) == 11
    assert oosterhout.staff_title == "wijkmakelaar" and oss.staff_title == "wijkcoördinator"


def test_a_dorp_is_named_plainly_and_a_wijk_with_its_word(registry: Registry) -> None:
    assert registry.area("WK082613").label == "Dorst"
    assert registry.area("WK082601").label == "wijk Slotjes"


@pytest.mark.parametrize(
    ("place", "codes"),
    [
        ("Dorst", {"WK082613"}),
        ("den hout", {"WK082611"}),
        ("Slotjes-Midden", {"WK082601"}),
        ("Huisseling", {"WK082814", "WK082817"}),
        ("Berghem", {"WK082810"}),
    ],
)
def test_places_wijken_and_buurten_lead_to_their_areas(registry: Registry, place: str, codes: set[str]) -> None:
    assert {a.code for a in registry.areas_by_place(place)} == codes


def test_an_unknown_place_finds_nothing(registry: Registry) -> None:
    assert registry.areas_by_place("Amsterdam") == ()


def test_every_area_of_oss_has_its_council(registry: Registry) -> None:
    for area in registry.municipality("GM0828").areas:
        body = registry.body_for(area.code)
        assert body is not None and area.code in body.area_codes


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    path = target / "municipalities.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("'4911':\n    - WK082611", "'4911':\n    - WK082699", "unknown areas"),
        (
            "kind: dorp",
            "kind: stad",
            r"(?s)municipalities\.yaml does not match .*"
            r"\$\.municipalities\[0\]\.areas\[\d+\]\.kind: 'stad' is not one of \['wijk', 'dorp'\]",
        ),
        ("wdr: wr_ckm", "wdr: wr_unknown", "unknown body"),
    ],
)
def test_inconsistent_data_is_refused_with_a_clear_message(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_registry(data_dir=_broken_copy(tmp_path, old, new))


def test_an_unknown_municipality_code_is_refused() -> None:
    with pytest.raises(DataError, match="unknown municipality"):
        load_registry(["GM0363"])
