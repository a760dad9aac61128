"""Not understood: "Bedoel je A of B?", then a person is offered; Rasa's core fallback always answers."""

from __future__ import annotations

from rasa_sdk.events import UserUtteranceReverted

from actions.fallback import ActionDefaultFallback, ActionFallback, ActionOfferHuman, likeliest_intents
from tests.actions.support import latest, run, texts, tracker
from wijkbot.services import Services


async def test_first_stage_offers_the_two_likeliest_intents(actions_services: Services) -> None:
    message = latest(
        "kan er iets aan de stoep",
        intent="nlu_fallback",
        ranking=[("nlu_fallback", 0.5), ("inform", 0.3), ("report_issue", 0.25), ("share_idea", 0.2)],
    )
    events, messages = await run(ActionFallback(), tracker(message=message))
    assert events == []
    assert texts(messages) == ["Sorry, dat begreep ik niet helemaal. Bedoel je iets melden of een idee delen?"]
    assert messages[0]["buttons"] == [
        {"title": "Iets melden", "payload": "/report_issue"},
        {"title": "Een idee delen", "payload": "/share_idea"},
    ]


def test_without_a_ranking_the_commonest_are_offered() -> None:
    assert likeliest_intents({}) == ["share_idea", "report_issue"]
    assert likeliest_intents({"intent_ranking": [{"name": "ask_contact"}]}) == ["ask_contact", "share_idea"]


async def test_second_stage_offers_a_person(actions_services: Services) -> None:
    _, messages = await run(ActionOfferHuman(), tracker())
    assert "medewerker" in texts(messages)[0]
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/affirm", "/deny"]


async def test_the_core_fallback_answers_and_reverts(actions_services: Services) -> None:
    events, messages = await run(ActionDefaultFallback(), tracker())
    assert events == [UserUtteranceReverted()]
    assert messages and messages[0]["buttons"]
