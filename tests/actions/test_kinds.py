"""Idea, report or question (issue 15): the three-button question when the NLU is not sure, the chosen form
continuing with the text already typed, a first message filling what and where, the offer to switch when
a report is typed into the idea form (or the reverse), and nothing filed without a yes."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet

from actions.area import ActionWhere
from actions.fallback import ActionFallback
from actions.idea_form import ActionAskConfirmed, ActionStartIdea, ValidateIdeaForm
from actions.kinds import ActionAskKindCheck, ActionTriage, contentful
from actions.question_form import ValidateQuestionForm
from actions.report_form import ActionStartReport, ValidateReportForm
from db.session import transaction
from tests.actions.support import form_turn, latest, run, slot_events, texts, tracker, user_event
from tests.factories import make_staff
from wijkbot.services import Services

KIND_BUTTONS = [
    {"title": "Een idee", "payload": "/share_idea"},
    {"title": "Een melding", "payload": "/report_issue"},
    {"title": "Een vraag", "payload": "/ask_question"},
    {"title": "Iets anders", "payload": "/help"},
]
ASK_KIND = "Is dit een idee, een melding of een vraag? Kies hieronder. Je hoeft het niet opnieuw te typen."


def entity(text: str, name: str, value: str) -> dict[str, Any]:
    start = text.index(value)
    return {"entity": name, "value": value, "start": start, "end": start + len(value)}


def slot_event(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [
        ("een picknicktafel op het grasveld achter de sporthal in Dorst", ["Dorst"], True),
        ("Molenweg 12, 5341 AB Oss", ["5341 AB", "Oss"], False),
        ("ik woon aan de Vondelstraat 3 in Dorst", ["Dorst"], False),
        ("Dorst", ["Dorst"], False),
        ("ik heb een idee", [], False),
        ("/share_idea", [], False),
        ("de stoeptegels bij de bushalte liggen los", [], True),
    ],
)
def test_a_message_is_contentful_when_it_says_more_than_where(text: str, names: list[str], expected: bool) -> None:
    entities = [entity(text, "postcode" if n[0].isdigit() else "place", n) for n in names]
    assert contentful({"text": text, "entities": entities}) is expected


async def test_a_bare_idea_title_classified_clearly_starts_the_idea_form_with_that_title(
    actions_services: Services,
) -> None:
    text = "een pluktuin met fruitbomen op het braakliggende veld in Dorst"
    message = latest(
        text,
        intent="share_idea",
        entities=[entity(text, "place", "Dorst")],
        ranking=[("share_idea", 0.91), ("ask_question", 0.04), ("report_issue", 0.02)],
    )
    events, messages = await run(ActionTriage(), tracker(message=message))
    assert events == [SlotSet("kind", "idea")] and messages == []
    events, messages = await run(ActionStartIdea(), tracker(message=message, events=[user_event(text, "share_idea")]))
    assert slot_events(events)["idea_what"] == text
    assert slot_events(events)["area_code"] == "Dorst" and slot_events(events)["kind"] == "idea"
    assert messages == []


async def test_a_close_call_between_kinds_asks_with_three_buttons_and_keeps_the_text(
    actions_services: Services,
) -> None:
    text = "de speeltuin in West is al maanden afgesloten met hekken"
    message = latest(
        text,
        intent="share_idea",
        entities=[entity(text, "place", "West")],
        ranking=[("share_idea", 0.48), ("report_issue", 0.41), ("ask_question", 0.06)],
    )
    events, messages = await run(ActionTriage(), tracker(message=message))
    assert events == [
        SlotSet("kind", "unsure"),
        SlotSet("pending_text", text),
        SlotSet("pending_where", "West"),
    ]
    assert texts(messages) == [ASK_KIND]
    assert messages[0]["buttons"] == KIND_BUTTONS

    # The resident presses "Een melding": the report form starts with what they typed, and the place.
    history = [
        user_event(text, "share_idea"),
        slot_event("kind", "unsure"),
        slot_event("pending_text", text),
        slot_event("pending_where", "West"),
        user_event("/report_issue", "report_issue"),
    ]
    pressed = latest("/report_issue", intent="report_issue", ranking=[("report_issue", 1.0)])
    events, _ = await run(ActionTriage(), tracker(message=pressed, events=history))
    assert events == [SlotSet("kind", "report")]
    events, _ = await run(ActionStartReport(), tracker(message=pressed, events=history))
    assert events[-3:] == [SlotSet("kind", "report"), SlotSet("report_what", text), SlotSet("area_code", "West")]


async def test_kept_text_is_not_used_once_the_resident_typed_something_else(actions_services: Services) -> None:
    history = [
        user_event("de bomen in de laan moeten gesnoeid worden", "nlu_fallback"),
        slot_event("pending_text", "de bomen in de laan moeten gesnoeid worden"),
        user_event("hallo", "greet"),
        user_event("/share_idea", "share_idea"),
    ]
    pressed = latest("/share_idea", intent="share_idea", ranking=[("share_idea", 1.0)])
    events, _ = await run(ActionStartIdea(), tracker(message=pressed, events=history))
    assert "idea_what" not in {k for k, v in slot_events(events).items() if v is not None}


async def test_a_clear_report_is_not_asked_about(actions_services: Services) -> None:
    message = latest(
        "lantaarnpaal kapot bij de bushalte",
        intent="report_issue",
        ranking=[("report_issue", 0.95), ("share_idea", 0.02), ("ask_question", 0.01)],
    )
    events, messages = await run(ActionTriage(), tracker(message=message))
    assert events == [SlotSet("kind", "report")] and messages == []


async def test_a_place_with_a_description_outside_a_form_asks_the_kind_and_keeps_both(
    actions_services: Services,
) -> None:
    text = "een picknicktafel op het grasveld achter de sporthal in Dorst"
    message = latest(text, intent="inform", entities=[entity(text, "place", "Dorst")])
    events, messages = await run(ActionWhere(), tracker(message=message))
    assert events == [
        SlotSet("kind", "unsure"),
        SlotSet("pending_text", text),
        SlotSet("pending_where", "Dorst"),
        SlotSet("last_area", "WK082613"),
    ]
    assert texts(messages) == ["Dat is in Dorst (gemeente Oosterhout).", ASK_KIND]
    assert messages[1]["buttons"] == KIND_BUTTONS


async def test_a_contentful_message_not_understood_asks_the_kind(actions_services: Services) -> None:
    text = "iets met de bankjes en de bloembakken op het plein"
    message = latest(
        text,
        intent="nlu_fallback",
        ranking=[("nlu_fallback", 0.5), ("share_idea", 0.38), ("report_issue", 0.33), ("inform", 0.1)],
    )
    events, messages = await run(ActionFallback(), tracker(message=message))
    assert events == [SlotSet("kind", "unsure"), SlotSet("pending_text", text), SlotSet("pending_where", None)]
    assert texts(messages) == [ASK_KIND]


LAMP = "de lantaarnpaal voor mijn huis doet het al een week niet, Steenstraat 4, 5341 AB Oss"


def lamp_in_the_idea_form() -> dict[str, Any]:
    return latest(
        LAMP,
        intent="report_issue",
        entities=[entity(LAMP, "postcode", "5341 AB"), entity(LAMP, "place", "Oss")],
        ranking=[("report_issue", 0.93), ("share_idea", 0.03), ("inform", 0.02)],
    )


async def test_a_report_typed_into_the_idea_form_fills_the_area_and_offers_the_switch(
    actions_services: Services,
) -> None:
    turn = form_turn(
        "idea_form", "idea_what", {"idea_what": LAMP}, slots={"kind": "idea"}, message=lamp_in_the_idea_form()
    )
    events, messages = await run(ValidateIdeaForm(), turn)
    assert events == [
        SlotSet("idea_what", LAMP),
        SlotSet("area_code", "WK082800"),
        SlotSet("area_candidates", None),
        SlotSet("postcode", "5341AB"),
        SlotSet("location", "5341AB"),
        SlotSet("last_area", "WK082800"),
        SlotSet("kind_offer", "report"),
        SlotSet("requested_slot", "kind_check"),  # not the postcode: it was in the answer
    ]
    assert texts(messages) == ["Dat is in wijk Centrum (gemeente Oss)."]

    offer = tracker(slots={"kind": "idea", "idea_what": LAMP, "kind_offer": "report"}, form="idea_form")
    events, messages = await run(ActionAskKindCheck(), offer)
    assert events == []
    assert texts(messages) == [
        "Dit klinkt als een melding (iets dat kapot, vies of onveilig is), niet als een idee. Wat is het? "
        "Je hoeft niets opnieuw te typen."
    ]
    assert messages[0]["buttons"] == [
        {"title": "Een melding", "payload": "/report_issue"},
        {"title": "Een idee", "payload": "/share_idea"},
    ]


async def test_choosing_the_report_ends_the_idea_form_and_the_report_form_takes_the_text(
    actions_services: Services,
) -> None:
    before = {"kind": "idea", "idea_what": LAMP, "kind_offer": "report", "area_code": "WK082800"}
    pressed = latest("/report_issue", intent="report_issue", ranking=[("report_issue", 1.0)])
    turn = form_turn("idea_form", "kind_check", {"kind_check": "/report_issue"}, slots=before, message=pressed)
    events, messages = await run(ValidateIdeaForm(), turn)
    assert events == [
        SlotSet("kind_check", "report"),
        SlotSet("kind", "report"),
        SlotSet("pending_text", LAMP),
        SlotSet("pending_where", "WK082800"),
        SlotSet("requested_slot", None),  # the form ends; dialogue/idea_form_rules.yml starts the report form
    ]
    assert messages == []

    history = [
        user_event(LAMP, "report_issue"),
        user_event("/report_issue", "report_issue"),
        *(slot_event(e["name"], e["value"]) for e in events),
    ]
    events, _ = await run(ActionStartReport(), tracker(slots=before, message=pressed, events=history))
    assert events[-3:] == [SlotSet("kind", "report"), SlotSet("report_what", LAMP), SlotSet("area_code", "WK082800")]


async def test_saying_it_is_an_idea_after_all_goes_on_with_the_idea_form(actions_services: Services) -> None:
    before = {"kind": "idea", "idea_what": LAMP, "kind_offer": "report", "area_code": "WK082800"}
    said = latest("nee", intent="deny")
    turn = form_turn("idea_form", "kind_check", {"kind_check": "nee"}, slots=before, message=said)
    events, _ = await run(ValidateIdeaForm(), turn)
    assert events == [SlotSet("kind_check", "idea"), SlotSet("requested_slot", "idea_involved")]
    said = latest("geen idee eigenlijk", intent="inform")
    turn = form_turn("idea_form", "kind_check", {"kind_check": "geen idee eigenlijk"}, slots=before, message=said)
    events, messages = await run(ValidateIdeaForm(), turn)
    assert slot_events(events)["kind_check"] == "idea"
    said = latest("hmm lastig", intent="inform")
    turn = form_turn("idea_form", "kind_check", {"kind_check": "hmm lastig"}, slots=before, message=said)
    events, messages = await run(ValidateIdeaForm(), turn)
    assert events == [SlotSet("kind_check", None), SlotSet("requested_slot", "kind_check")]
    assert texts(messages) == ['Kies een knop, of typ "idee", "melding" of "vraag".']


async def test_an_idea_typed_into_the_report_form_is_offered_the_switch_too(actions_services: Services) -> None:
    text = "een jeu de boules baan naast het buurthuis zou leuk zijn"
    message = latest(text, intent="share_idea", ranking=[("share_idea", 0.88), ("report_issue", 0.07)])
    turn = form_turn("report_form", "report_what", {"report_what": text}, slots={"kind": "report"}, message=message)
    events, messages = await run(ValidateReportForm(), turn)
    assert events == [
        SlotSet("report_what", text),
        SlotSet("kind_offer", "idea"),
        # no requested_slot: the required slots are the domain's, so Rasa asks the next one, kind_check
    ]
    assert messages == []


async def test_an_answer_of_the_forms_own_kind_or_a_weak_guess_is_not_questioned(actions_services: Services) -> None:
    text = "wanneer wordt de lantaarnpaal in onze straat gerepareerd"
    weak = latest(text, intent="report_issue", ranking=[("report_issue", 0.55), ("ask_question", 0.4)])
    turn = form_turn(
        "question_form", "question_text", {"question_text": text}, slots={"kind": "question"}, message=weak
    )
    events, _ = await run(ValidateQuestionForm(), turn)
    assert events == [SlotSet("question_text", text), SlotSet("requested_slot", "area_code")]


async def test_a_question_is_summarised_and_filed_only_after_a_yes_or_switched_by_a_button(
    actions_services: Services,
) -> None:
    with transaction(actions_services.sessions) as session:
        make_staff(session, actions_services.registry, areas=["WK082602"], name="Sanne")
    what = "een zelfgemaakte kas met een groene ontmoetingsplek in West"
    slots = {"kind": "question", "question_text": what, "area_code": "WK082602", "location": "West"}
    events, messages = await run(ActionAskConfirmed(), tracker(slots=slots, form="question_form"))
    assert events == []
    assert messages[0]["text"] == (
        f"Dit is je vraag:\n\n<b>Vraag:</b> {what}\n<b>Over:</b> wijk West\n\n"
        "Klopt dit? Dan stuur ik je vraag naar de wijkmakelaar van West."
    )
    assert messages[0]["buttons"] == [
        {"title": "Ja, insturen", "payload": "/affirm"},
        {"title": "Nee, niet insturen", "payload": "/deny"},
        {"title": "Het is een idee", "payload": "/share_idea"},
        {"title": "Het is een melding", "payload": "/report_issue"},
    ]

    pressed = latest("/share_idea", intent="share_idea", ranking=[("share_idea", 1.0)])
    turn = form_turn("question_form", "confirmed", {"confirmed": "/share_idea"}, slots=slots, message=pressed)
    events, _ = await run(ValidateQuestionForm(), turn)
    assert events == [
        SlotSet("confirmed", None),
        SlotSet("kind", "idea"),
        SlotSet("kind_check", "idea"),
        SlotSet("pending_text", what),
        SlotSet("pending_where", "WK082602"),
        SlotSet("requested_slot", None),
    ]
    turn = form_turn("question_form", "confirmed", {"confirmed": True}, slots=slots, message=latest("ja", "affirm"))
    events, _ = await run(ValidateQuestionForm(), turn)
    assert events == [SlotSet("confirmed", True), SlotSet("requested_slot", None)]


def test_a_headline_the_problem_guard_ranked_as_an_idea_starts_the_idea_form_and_is_not_offered_a_switch() -> None:
    """nlu_components.problems moves most of a problem-less report's confidence to share_idea: the result must
    be clear enough to start the idea form at once, and, typed as the "what" of a report form, not clear
    enough to offer the idea form instead."""
    from actions.kinds import is_close_call, other_kind
    from nlu_components.problems import as_idea

    ranking = as_idea([{"name": "report_issue", "confidence": 1.0}])
    message = {"text": "Karate voor kinderen in het buurthuis", "intent": ranking[0], "intent_ranking": ranking}
    assert ranking[0]["name"] == "share_idea"
    assert not is_close_call(message)
    assert other_kind(message, "report") is None
