"""A place inside a message with content is not an answer about a place (nlu_components.place_answers)."""

from __future__ import annotations

import pytest

from nlu_components.place_answers import (
    as_inform,
    foreign_words,
    is_bare_place,
    is_place_answer,
    outside_spans,
    without_inform,
    words,
)

# What the InformGuard learns from `inform` examples such as "ik woon in [Dorst](place)", "bij de vijver".
VOCABULARY = frozenset(words("ik woon in de bij het op naast achter tegenover voor vijver kerk plein straat school"))


def span(text: str, part: str) -> tuple[int, int]:
    start = text.index(part)
    return (start, start + len(part))


def test_words_are_lower_case_and_leave_out_numbers_and_short_words() -> None:
    assert words("Kerkstraat 12, 5341 AB in Oss") == ["kerkstraat", "oss"]


def test_entities_are_blanked_out_before_words_are_counted() -> None:
    text = "ik woon in Dorst"
    assert outside_spans(text, [span(text, "Dorst")]) == "ik woon in      "
    assert foreign_words(text, [span(text, "Dorst")], VOCABULARY) == []


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Dorst", "Dorst"),
        ("ik woon in de Ruwaard", "Ruwaard"),
        ("bij de kerk in Berghem", "Berghem"),
        ("Dorst natuurlijk", "Dorst"),  # one unknown word is still an answer
    ],
)
def test_a_bare_answer_about_a_place_stays_inform(text: str, place: str) -> None:
    assert is_place_answer(text, [span(text, place)], VOCABULARY)


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Meer schaduw in de speeltuin in Dorst", "Dorst"),
        ("Graag een jeu de boules baan in Oosterheide", "Oosterheide"),
        ("De lantaarnpaal bij de kerk in Berghem is al weken kapot", "Berghem"),
    ],
)
def test_a_message_with_content_around_a_place_is_not_an_answer(text: str, place: str) -> None:
    assert not is_place_answer(text, [span(text, place)], VOCABULARY)


def test_taking_inform_out_renormalises_the_rest_likeliest_first() -> None:
    ranking = [
        {"name": "inform", "confidence": 0.6},
        {"name": "report_issue", "confidence": 0.1},
        {"name": "share_idea", "confidence": 0.3},
    ]
    rest = without_inform(ranking)
    assert [entry["name"] for entry in rest] == ["share_idea", "report_issue"]
    assert rest[0]["confidence"] == pytest.approx(0.75) and rest[1]["confidence"] == pytest.approx(0.25)
    assert ranking[0]["name"] == "inform"  # the input is left alone


def test_without_a_place_one_word_of_content_is_enough_to_not_be_an_answer() -> None:
    assert is_place_answer("bij de vijver", [], VOCABULARY)
    assert not is_place_answer("Concerten in de kerk", [], VOCABULARY)


def test_an_answer_that_opens_with_a_preposition_of_place_may_name_one_unknown_thing() -> None:
    assert is_place_answer("bij het bruggetje", [], VOCABULARY)
    assert not is_place_answer("bij het bruggetje graag bloemen", [], VOCABULARY)


def test_street_names_are_places_not_content() -> None:
    assert is_place_answer("op de Molenstraat bij de kerk", [], VOCABULARY)
    assert not is_place_answer("Verfris de Molenstraat", [], VOCABULARY)


def test_when_the_rest_carries_no_content_its_small_confidences_are_left_for_the_fallback() -> None:
    ranking = [
        {"name": "inform", "confidence": 0.95},
        {"name": "greet", "confidence": 0.03},
        {"name": "share_idea", "confidence": 0.02},
    ]
    assert without_inform(ranking) == [
        {"name": "greet", "confidence": 0.03},
        {"name": "share_idea", "confidence": 0.02},
    ]


def test_a_ranking_of_only_inform_leaves_nothing_to_choose() -> None:
    assert without_inform([{"name": "inform", "confidence": 1.0}]) == []


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Dommelbergen", "Dommelbergen"),
        ("in de Componistenbuurt", "Componistenbuurt"),
        ("ik woon in Dorst", "Dorst"),
        ("wij zitten in 4902 AB", "4902 AB"),
    ],
)
def test_a_message_that_is_only_a_place_is_a_bare_place(text: str, place: str) -> None:
    assert is_bare_place(text, [span(text, place)])


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("Speeltuin Dorst", [(10, 15)]),  # a landmark may start an idea
        ("nee, Dorst", [(5, 10)]),
        ("ik woon in de Ruwaard", []),  # no place or postcode found: nothing to go on
    ],
)
def test_a_place_with_other_words_or_without_an_entity_is_not_a_bare_place(
    text: str, spans: list[tuple[int, int]]
) -> None:
    assert not is_bare_place(text, spans)


def test_a_bare_place_moves_the_likeliest_intents_confidence_to_inform() -> None:
    ranking = [
        {"name": "share_idea", "confidence": 0.8},
        {"name": "inform", "confidence": 0.05},
        {"name": "report_issue", "confidence": 0.15},
    ]
    ranked = as_inform(ranking)
    assert [entry["name"] for entry in ranked] == ["inform", "report_issue", "share_idea"]
    assert ranked[0]["confidence"] == pytest.approx(0.05 + 0.72)
    assert sum(entry["confidence"] for entry in ranked) == pytest.approx(1.0)


def test_a_ranking_already_led_by_inform_is_left_as_it_is() -> None:
    ranking = [{"name": "inform", "confidence": 0.7}, {"name": "greet", "confidence": 0.3}]
    assert as_inform(ranking) == ranking
