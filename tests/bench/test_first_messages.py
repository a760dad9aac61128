"""Where a first message leaves the resident, read from Rasa's tracker (bench.first_messages)."""

from __future__ import annotations

from typing import Any

from bench.first_messages import path_taken, sample
from bench.understanding import Example


def tracker(*actions: str, loop: str | None = None, kind: str | None = None) -> dict[str, Any]:
    events = [
        {"event": "action", "name": "action_session_start"},
        {"event": "user", "text": "..."},
        *({"event": "action", "name": name} for name in actions),
    ]
    return {"events": events, "active_loop": {"name": loop} if loop else {}, "slots": {"kind": kind}}


def test_the_form_of_the_texts_own_kind_is_the_right_path() -> None:
    assert path_taken(tracker("action_triage", "idea_form", loop="idea_form", kind="idea"), "share_idea") == "right"
    assert path_taken(tracker("report_form", loop="report_form", kind="report"), "report_issue") == "right"


def test_the_form_of_another_kind_is_a_wrong_path() -> None:
    assert path_taken(tracker("report_form", loop="report_form", kind="report"), "share_idea") == "wrong"


def test_the_three_button_question_and_the_fallback_question_are_asking() -> None:
    assert path_taken(tracker("action_triage", kind="unsure"), "share_idea") == "clarified"
    assert path_taken(tracker("action_fallback"), "report_issue") == "clarified"


def test_an_answer_to_something_else_is_a_wrong_path() -> None:
    assert path_taken(tracker("utter_where_noted"), "share_idea") == "wrong"


def test_the_sample_takes_the_same_texts_spread_over_each_label() -> None:
    examples = [Example(f"idee {i}", "share_idea", ()) for i in range(10)] + [Example("melding", "report_issue", ())]
    chosen = sample(examples, 3)
    assert [e.text for e in chosen] == ["idee 0", "idee 3", "idee 6", "melding"]
    assert sample(examples, 3) == chosen
