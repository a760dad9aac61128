"""A report names a problem; a headline that names none is an idea (nlu_components.problems)."""

from __future__ import annotations

import pytest

from nlu_components.problems import IDEA, KEEP, REPORT, as_idea, names_a_problem


@pytest.mark.parametrize(
    "text",
    [
        "de lantaarnpaal bij het fietspad doet het nie",
        "straatverlichting werkt niet meer",
        "caravan staat al een half jaar op de openbare weg",
        "er ligt een put open",
        "bij de ondergrondse containers staan er allemaal zakken",
        "iemand heeft het bankje in het park in brand gestoken",
        "paal omver gereden bij de ingang van de parkeerplaats",
        "stoeptegel steekt omhoog",
        "elke nacht jongeren met scooters op het plein",
        "streetlight broken near the school",
    ],
)
def test_a_report_in_its_own_words_names_a_problem(text: str) -> None:
    assert names_a_problem(text)


def test_a_defect_word_found_by_the_tokenizer_names_a_problem() -> None:
    # "hondenpoepbak vol": the DutchTokenizer marks hondenpoep (in the compound) as __gebrek
    assert names_a_problem("hondenpoepbak", ["hondenpoepbak", "honden", "poep", "bak", "__gebrek"])
    assert not names_a_problem("hondenpoepbak", ["hondenpoepbak", "__openbare_ruimte"])


@pytest.mark.parametrize(
    "text",
    [
        "Bankje bij de vijver",
        "Karate voor kinderen in het buurthuis",
        "Drijvende tuinen op de singel",
        "Meer bomen en schaduw in de speeltuin",
        "Koffieochtend voor ouderen op het plein",
    ],
)
def test_a_headline_that_only_names_a_thing_or_an_activity_names_no_problem(text: str) -> None:
    assert not names_a_problem(text, [text.split()[0].lower()])


def test_a_report_without_a_problem_becomes_an_idea_with_most_of_the_confidence() -> None:
    ranking = [
        {"name": REPORT, "confidence": 0.9},
        {"name": IDEA, "confidence": 0.05},
        {"name": "greet", "confidence": 0.05},
    ]
    moved = as_idea(ranking)
    assert [entry["name"] for entry in moved] == [IDEA, REPORT, "greet"]
    assert moved[0]["confidence"] == pytest.approx(0.05 + 0.9 * (1 - KEEP))
    assert moved[1]["confidence"] == pytest.approx(0.9 * KEEP)
    assert sum(entry["confidence"] for entry in moved) == pytest.approx(1.0)


def test_share_idea_is_added_when_the_ranking_did_not_have_it() -> None:
    moved = as_idea([{"name": REPORT, "confidence": 1.0}])
    assert moved[0] == {"name": IDEA, "confidence": pytest.approx(1 - KEEP)}


def test_a_ranking_without_a_report_is_left_as_it_is() -> None:
    ranking = [{"name": "greet", "confidence": 1.0}]
    assert as_idea(ranking) == ranking
