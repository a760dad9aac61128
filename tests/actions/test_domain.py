"""The domain and the action server agree, and the domain keeps the contracts."""

from __future__ import annotations

from rasa_sdk.executor import ActionExecutor

from tests.actions.support import domain

CONTRACT_INTENTS = {
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "help",
    "share_idea",
    "report_issue",
    "ask_question",
    "ask_contact",
    "ask_status",
    "ask_budget",
    "join_initiative",
    "subscribe",
    "unsubscribe",
    "request_human",
    "bot_challenge",
    "my_data",
    "forget_me",
    "cancel",
    "out_of_scope",
    "inform",
}


def test_every_custom_action_in_the_domain_is_served_and_nothing_else() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    assert set(executor.actions) == set(domain()["actions"])


def test_the_contract_intents_and_entities_are_declared() -> None:
    assert set(domain()["intents"]) >= CONTRACT_INTENTS
    assert {"postcode", "place", "area_code"} <= set(domain()["entities"])


def test_sessions_expire_and_carry_slots_over() -> None:
    assert domain()["session_config"] == {"session_expiration_time": 60, "carry_over_slots_to_new_session": True}


def test_every_form_asks_each_slot_through_an_action() -> None:
    actions = set(domain()["actions"])
    for form, spec in domain()["forms"].items():
        assert f"validate_{form}" in actions
        for slot in spec["required_slots"]:
            assert f"action_ask_{slot}" in actions, (form, slot)


def test_responses_are_telegram_safe_and_say_what_they_must() -> None:
    import re

    responses = domain()["responses"]
    for name, variants in responses.items():
        for variant in variants:
            assert not re.search(r"<(?!/?[bi]>)", variant["text"]) and "&" not in variant["text"], name
    greet = responses["utter_greet"][0]["text"]
    assert "digitale wijkassistent van de gemeente" in greet and "/stop" in greet and "/mijngegevens" in greet
    assert "/mijngegevens" in responses["utter_my_data"][0]["text"]
    assert "/vergeetmij" in responses["utter_forget_me"][0]["text"]
