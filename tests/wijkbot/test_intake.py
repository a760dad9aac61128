"""Reading residents' answers: descriptions, help, yes/no, the initiative criteria."""

from __future__ import annotations

import pytest

from wijkbot.intake import (
    clean_answer,
    describe_help,
    is_descriptive,
    mentions_neighbours,
    missing_criteria,
    next_criterion,
    parse_help,
    parse_yes_no,
)
from wijkbot.municipalities import Registry


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ik heb een idee", False),
        ("ik heb een idee voor de buurt", False),
        ("ik wil iets melden", False),
        ("/share_idea", False),
        ("ik heb een idee voor een bankje", False),
        ("de lantaarnpaal bij ons is kapot", True),
        ("ik wil een repaircafe opzetten in Dorst", True),
        ("wanneer wordt het gras gemaaid in de wijk", True),
    ],
)
def test_a_first_message_is_a_description_only_when_it_says_what(text: str, expected: bool) -> None:
    assert is_descriptive(text) is expected


def test_answers_are_trimmed_and_payloads_or_tiny_answers_refused() -> None:
    assert clean_answer("  een   bankje \n bij de vijver ") == "een bankje bij de vijver"
    assert clean_answer("/inform{}") is None and clean_answer("ok") is None and clean_answer(None) is None
    assert len(clean_answer("x" * 5000) or "") == 2000


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("geld", ["money"]),
        ("geld en een vergunning", ["money", "permission"]),
        ("advies en contact met buren", ["advice", "neighbours"]),
        ("materialen, zoals planten", ["materials"]),
        ("niks eigenlijk", ["none"]),
        ("money", ["money"]),
        ("hmm", []),
    ],
)
def test_help_is_read_from_words(text: str, kinds: list[str]) -> None:
    assert parse_help(text) == kinds


def test_help_is_described_in_dutch() -> None:
    assert describe_help(["money", "materials"]) == "geld, materiaal"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("ja", True),
        ("Ja hoor!", True),
        ("yes", True),
        ("nee", False),
        ("nee, nog niet", False),
        ("ja maar niet helemaal", True),
        ("misschien", None),
        ("", None),
    ],
)
def test_yes_or_no(text: str, answer: bool | None) -> None:
    assert parse_yes_no(text) is answer


def test_neighbours_are_recognised() -> None:
    assert mentions_neighbours("samen met de buren") and not mentions_neighbours("alleen ik")


def test_criteria_are_the_municipalitys_in_its_order(registry: Registry) -> None:
    oosterhout, oss = registry.municipality("GM0826"), registry.municipality("GM0828")
    keys = [c.key for c in oosterhout.initiative_criteria]
    assert next_criterion(oosterhout, {}) == oosterhout.initiative_criteria[0]
    assert next_criterion(oosterhout, dict.fromkeys(keys, True)) is None
    assert [c.key for c in missing_criteria(oosterhout, {keys[0]: False, keys[2]: False, keys[1]: True})] == [
        keys[0],
        keys[2],
    ]
    assert next_criterion(oss, {}) is None and missing_criteria(oss, {}) == []
