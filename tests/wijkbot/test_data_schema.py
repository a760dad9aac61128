"""The data files are checked against their JSON Schemas on load: a bad file is refused with one clear message
naming the file, the place in it and what is wrong (wijkbot/data_schema.py, wijkbot/data/schema/)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from wijkbot import cli, municipalities
from wijkbot.data_schema import check, schema
from wijkbot.municipalities import DATA_DIR, DataError, load_registry, registry_for
from wijkbot.routing import KINDS, RoutingError, load_rules
from wijkbot.settings import get_settings
from wijkbot.staff import ROLES

# One small municipality with one dorp: enough for the loaders, small enough to read in a failing test.
FACTS: dict[str, Any] = {
    "municipalities": [
        {
            "code": "GM0826",
            "name": "Oosterhout",
            "woonplaatsen": ["Dorst"],
            "areas": [
                {
                    "code": "WK082613",
                    "name": "Dorst",
                    "kind": "dorp",
                    "population_2024": 5000,
                    "buurten": [{"code": "BU08261300", "name": "Dorst", "pc4_most_common": "4849"}],
                }
            ],
            "pc4_index": {"4849": ["WK082613"]},
            "pc4_special": {"4900": "Postbus"},
            "neighbouring_pc4_not_in_municipality": {"5101-5107": "Dongen"},
        }
    ]
}
PROFILES: dict[str, Any] = {
    "municipalities": {
        "GM0826": {
            "staff_role": "wijkmakelaar",
            "staff_title": "wijkmakelaar",
            "lead_title": "wijkwethouder",
            "council_title": "dorpsraad",
            "phone": "14 0162",
            "privacy_url": "https://www.oosterhout.nl/privacy",
            "initiative_criteria": [{"key": "outside", "question": "Is het buiten?", "missing": "Alleen buiten."}],
        }
    }
}


def _write(folder: Path, facts: Any = FACTS, profiles: Any = PROFILES) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "municipalities.yaml").write_text(yaml.safe_dump(facts, allow_unicode=True), encoding="utf-8")
    (folder / "profiles.yaml").write_text(yaml.safe_dump(profiles, allow_unicode=True), encoding="utf-8")
    return folder


def _changed(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `document` with the value at a dotted path ("municipalities.0.areas.0.code") replaced, or
    removed when `value` is `...`."""
    copy: dict[str, Any] = yaml.safe_load(yaml.safe_dump(document))
    *parents, last = path.split(".")
    node: Any = copy
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return copy


def test_the_shipped_files_match_their_schemas_and_the_schemas_are_valid_json_schema() -> None:
    for name in ("municipalities", "profiles", "routing", "themes"):
        Draft202012Validator.check_schema(schema(name))
        check(yaml.safe_load((DATA_DIR / f"{name}.yaml").read_text(encoding="utf-8")), name, source=name)


def test_the_small_files_of_these_tests_load(tmp_path: Path) -> None:
    registry = load_registry(data_dir=_write(tmp_path / "data"))
    assert [a.code for a in registry.areas] == ["WK082613"]
    assert registry.municipality("GM0826").privacy_url == "https://www.oosterhout.nl/privacy"


def test_the_schemas_name_the_kinds_and_roles_the_code_knows() -> None:
    """The schemas repeat wijkbot.routing.KINDS and wijkbot.staff.ROLES so an editor can check a file; this
    keeps the copies equal (a new role or kind changes both, docs/howto.md)."""
    rule = schema("routing")["$defs"]["rule"]["properties"]
    assert tuple(rule["when"]["properties"]["kinds"]["items"]["enum"]) == KINDS
    assert set(rule["send_to"]["anyOf"][0]["enum"]) == {"area_staff", *ROLES}
    staff_roles = schema("profiles")["$defs"]["profile"]["properties"]["staff_role"]["enum"]
    assert set(staff_roles) <= set(ROLES)


@pytest.mark.parametrize(
    ("facts", "profiles", "file", "where", "what"),
    [
        (
            _changed(FACTS, "municipalities.0.areas.0.code", "WK82613"),
            PROFILES,
            "municipalities.yaml",
            "$.municipalities[0].areas[0].code",
            "'WK82613' does not match '^WK[0-9]{6}$' (a CBS wijk code such as WK082611)",
        ),
        (
            _changed(FACTS, "municipalities.0.areas.0.buurten.0.pc4_most_common", 4849),
            PROFILES,
            "municipalities.yaml",
            "$.municipalities[0].areas[0].buurten[0].pc4_most_common",
            "4849 is not of type 'string'",
        ),
        (
            _changed(FACTS, "municipalities.0.pc4_index", {"849": ["WK082613"]}),
            PROFILES,
            "municipalities.yaml",
            "$.municipalities[0].pc4_index",
            "'849' does not match '^[1-9][0-9]{3}$'",
        ),
        (
            FACTS,
            _changed(PROFILES, "municipalities.GM0826.staff_title", 12),
            "profiles.yaml",
            "$.municipalities.GM0826.staff_title",
            "12 is not of type 'string'",
        ),
        (
            FACTS,
            _changed(PROFILES, "municipalities.GM0826.privacy_url", ...),
            "profiles.yaml",
            "$.municipalities.GM0826",
            "'privacy_url' is a required property",
        ),
        (
            FACTS,
            _changed(PROFILES, "municipalities.GM0826.ideas_to_council", True),
            "profiles.yaml",
            "$.municipalities.GM0826",
            "Additional properties are not allowed ('ideas_to_council' was unexpected)",
        ),
        (
            FACTS,
            _changed(PROFILES, "municipalities.GM0826.staff_role", "wijkagent"),
            "profiles.yaml",
            "$.municipalities.GM0826.staff_role",
            "'wijkagent' is not one of ['wijkmakelaar', 'wijkcoordinator']",
        ),
    ],
)
def test_a_bad_data_file_is_refused_naming_the_file_the_place_and_the_problem(
    tmp_path: Path, facts: Any, profiles: Any, file: str, where: str, what: str
) -> None:
    folder = _write(tmp_path / "data", facts, profiles)
    with pytest.raises(DataError) as refused:
        load_registry(data_dir=folder)
    message = str(refused.value)
    assert message.startswith(f"{folder / file} does not match its schema (wijkbot/data/schema/")
    assert f"at {where}: {what}" in message


def test_canned_answers_load_with_their_kinds_and_a_key_twice_or_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    answer = {"key": "bedankt", "title": "Bedankt", "text": "Hoi {voornaam}", "kinds": ["report"]}
    loaded = load_registry(
        data_dir=_write(tmp_path / "ok", profiles=_changed(PROFILES, "municipalities.GM0826.canned_answers", [answer]))
    )
    (canned,) = loaded.municipality("GM0826").canned_answers
    assert canned.fits("report") and not canned.fits("idea")
    folder = _write(
        tmp_path / "twice", profiles=_changed(PROFILES, "municipalities.GM0826.canned_answers", [answer, answer])
    )
    with pytest.raises(DataError, match=re.escape(f"{folder / 'profiles.yaml'}: municipality GM0826: canned_answers")):
        load_registry(data_dir=folder)
    wrong = {**answer, "kinds": ["klacht"]}
    folder = _write(tmp_path / "kind", profiles=_changed(PROFILES, "municipalities.GM0826.canned_answers", [wrong]))
    with pytest.raises(DataError, match=re.escape("at $.municipalities.GM0826.canned_answers[0].kinds[0]: 'klacht'")):
        load_registry(data_dir=folder)


def test_departments_load_and_a_key_twice_is_refused(tmp_path: Path) -> None:
    groen = {"key": "groen", "name": "Groen"}
    path = "municipalities.GM0826.departments"
    loaded = load_registry(data_dir=_write(tmp_path / "ok", profiles=_changed(PROFILES, path, [groen])))
    assert loaded.municipality("GM0826").department("groen") is not None
    assert loaded.municipality("GM0826").department("afval") is None
    folder = _write(tmp_path / "twice", profiles=_changed(PROFILES, path, [groen, groen]))
    with pytest.raises(DataError, match=re.escape(f"{folder / 'profiles.yaml'}: municipality GM0826: departments")):
        load_registry(data_dir=folder)


def test_every_problem_of_a_file_is_listed_at_once(tmp_path: Path) -> None:
    facts = _changed(_changed(FACTS, "municipalities.0.areas.0.kind", "stad"), "municipalities.0.name", ...)
    with pytest.raises(DataError) as refused:
        load_registry(data_dir=_write(tmp_path / "data", facts))
    lines = str(refused.value).splitlines()[1:]
    assert lines == [
        "  at $.municipalities[0]: 'name' is a required property",
        "  at $.municipalities[0].areas[0].kind: 'stad' is not one of ['wijk', 'dorp'] "
        "(what the municipality calls it: a wijk, or a dorp (kerkdorp))",
    ]


def test_a_yaml_mistake_names_the_file_and_the_line(tmp_path: Path) -> None:
    folder = _write(tmp_path / "data")
    (folder / "profiles.yaml").write_text("municipalities:\n  GM0826: [unclosed\n", encoding="utf-8")
    with pytest.raises(DataError) as refused:
        load_registry(data_dir=folder)
    assert str(refused.value).startswith(f"{folder / 'profiles.yaml'} is not valid YAML: while parsing")
    assert "line 2, column 11" in str(refused.value)


def test_a_reference_to_nothing_is_refused_naming_the_file(tmp_path: Path) -> None:
    """What the schema cannot see, the loader checks after it, and says which file too."""
    facts = _changed(FACTS, "municipalities.0.pc4_index", {"4849": ["WK082613", "WK082699"]})
    folder = _write(tmp_path / "data", facts)
    with pytest.raises(DataError, match=re.escape(f"{folder / 'municipalities.yaml'}: municipality GM0826: pc4 4849")):
        load_registry(data_dir=folder)


def test_a_bad_routing_file_is_refused_naming_the_file_and_the_rule(tmp_path: Path) -> None:
    registry = load_registry(data_dir=_write(tmp_path / "data"))
    path = tmp_path / "routing.yaml"
    path.write_text(
        "rules:\n  - when: {kinds: [idea]}\n    send_to: {person: Anna}\n  - send_to: wethouder\n", encoding="utf-8"
    )
    with pytest.raises(RoutingError) as refused:
        load_rules(registry, path)
    assert str(refused.value).startswith(f"{path} does not match its schema")
    assert "at $.rules[1].send_to: 'wethouder' is not one of ['area_staff', 'wijkmakelaar'," in str(refused.value)
    path.write_text("rules:\n  - when: {areas: [WK082601]}\n    send_to: lead\n  - send_to: area_staff\n")
    with pytest.raises(RoutingError, match=re.escape(f"{path}: rule 1: unknown area code(s) ['WK082601']")):
        load_rules(registry, path)


def test_the_wijkbot_command_says_what_is_wrong_with_a_data_file_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    folder = _write(tmp_path / "data", profiles=_changed(PROFILES, "municipalities.GM0826.lead_title", ...))
    for name in ("routing.yaml",):
        (folder / name).write_text((DATA_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(municipalities, "DATA_DIR", folder)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WIJKBOT_MUNICIPALITIES", "GM0826")
    monkeypatch.setattr(sys, "argv", ["wijkbot", "areas", "list"])
    get_settings.cache_clear()
    registry_for.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main()
    finally:
        get_settings.cache_clear()
        registry_for.cache_clear()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wijkbot: {folder / 'profiles.yaml'} does not match its schema")
    assert "at $.municipalities.GM0826: 'lead_title' is a required property" in err
    assert "Traceback" not in err
