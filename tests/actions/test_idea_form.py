"""The idea form: start, answers, the Oosterhout criteria (municipality data) and the summary."""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions.idea_form import (
    ActionAskConfirmed,
    ActionAskIdeaCriteria,
    ActionAskIdeaHelp,
    ActionStartIdea,
    ValidateIdeaForm,
)
from db.session import transaction
from tests.actions.support import form_turn, latest, run, slot_events, texts, tracker
from tests.factories import make_staff
from wijkbot.services import Services

START_CLEARED = [
    *(
        SlotSet(name, None)
        for name in (
            "idea_what",
            "idea_involved",
            "idea_help",
            "idea_criteria",
            "idea_criteria_answers",
            "area_code",
            "area_candidates",
            "postcode",
            "location",
            "confirmed",
            "kind_offer",
            "kind_check",
            "pending_text",
            "pending_where",
        )
    ),
    SlotSet("kind", "idea"),
]


async def test_start_clears_old_answers_and_takes_what_the_first_message_says(actions_services: Services) -> None:
    message = latest(
        "ik wil een repaircafe opzetten in Dorst", intent="share_idea", entities=[{"entity": "place", "value": "Dorst"}]
    )
    events, messages = await run(ActionStartIdea(), tracker(message=message))
    assert events == [
        *START_CLEARED,
        SlotSet("idea_what", "ik wil een repaircafe opzetten in Dorst"),
        SlotSet("area_code", "Dorst"),
    ]
    assert messages == []
    events, _ = await run(ActionStartIdea(), tracker(message=latest("ik heb een idee", intent="share_idea")))
    assert events == START_CLEARED


async def test_too_short_or_payload_answers_are_asked_again(actions_services: Services) -> None:
    events, messages = await run(ValidateIdeaForm(), form_turn("idea_form", "idea_what", {"idea_what": "ja"}))
    assert events == [SlotSet("idea_what", None), SlotSet("requested_slot", "idea_what")]
    assert texts(messages) == ["Kun je iets meer vertellen? Een paar woorden is genoeg."]
    events, messages = await run(ValidateIdeaForm(), form_turn("idea_form", "idea_what", {"idea_what": "/greet"}))
    assert events == [SlotSet("idea_what", None), SlotSet("requested_slot", "idea_what")]
    assert texts(messages) == ["Typ je antwoord gewoon als bericht."]


async def test_neighbours_named_as_involved_answer_that_criterion(actions_services: Services) -> None:
    turn = form_turn(
        "idea_form",
        "idea_involved",
        {"idea_involved": "met de buren"},
        slots={"idea_what": "x", "area_code": "WK082613"},
    )
    events, _ = await run(ValidateIdeaForm(), turn)
    assert slot_events(events) == {
        "idea_involved": "met de buren",
        "idea_criteria_answers": {"with_neighbours": True},
        "requested_slot": "idea_help",
    }


async def test_help_comes_from_a_button_or_from_words(actions_services: Services) -> None:
    before = {"idea_what": "x", "area_code": "WK082613", "idea_involved": "alleen ik"}
    turn = form_turn("idea_form", "idea_help", {"idea_help": ["money"]}, slots=before)
    events, _ = await run(ValidateIdeaForm(), turn)
    assert slot_events(events) == {"idea_help": ["money"], "requested_slot": "idea_criteria"}
    turn = form_turn("idea_form", "idea_help", {"idea_help": ["geld en een vergunning graag"]}, slots=before)
    events, _ = await run(ValidateIdeaForm(), turn)
    assert slot_events(events) == {"idea_help": ["money", "permission"], "requested_slot": "idea_criteria"}
    turn = form_turn("idea_form", "idea_help", {"idea_help": ["hmm"]}, slots=before)
    events, messages = await run(ValidateIdeaForm(), turn)
    assert slot_events(events) == {"idea_help": None, "requested_slot": "idea_help"}
    assert "Welke hulp bedoel je?" in texts(messages)[0]
    _, messages = await run(ActionAskIdeaHelp(), tracker(form="idea_form"))
    assert messages[0]["buttons"][0] == {"title": "Geld", "payload": '/inform{"help_needed":"money"}'}


async def test_oosterhout_asks_its_criteria_only_when_money_is_asked_for(actions_services: Services) -> None:
    before = {"idea_what": "bankje", "area_code": "WK082613", "idea_involved": "alleen ik"}
    for said, next_slot in ((["advies", "spullen"], "confirmed"), (["geld"], "idea_criteria")):
        events, _ = await run(
            ValidateIdeaForm(), form_turn("idea_form", "idea_help", {"idea_help": said}, slots=before)
        )
        assert slot_events(events)["requested_slot"] == next_slot


async def test_oss_ideas_skip_the_criteria(actions_services: Services) -> None:
    turn = form_turn(
        "idea_form",
        "idea_help",
        {"idea_help": ["advies"]},
        slots={"idea_what": "buurtbarbecue", "area_code": "WK082806", "idea_involved": "alleen ik"},
    )
    events, _ = await run(ValidateIdeaForm(), turn)
    assert events == [SlotSet("idea_help", ["advice"]), SlotSet("requested_slot", "confirmed")]


async def test_oosterhout_criteria_are_asked_one_by_one_and_the_missing_ones_explained(
    actions_services: Services,
) -> None:
    registry = actions_services.registry
    criteria = registry.municipality("GM0826").initiative_criteria
    slots = {
        "idea_what": "Een jeu de boules baan",
        "area_code": "WK082613",
        "idea_involved": "de school",
        "idea_help": ["money", "materials"],
        "location": "Dorst",
    }
    _, messages = await run(ActionAskIdeaCriteria(), tracker(slots=slots, form="idea_form"))
    assert texts(messages) == [
        "In Oosterhout is er geld voor buurtinitiatieven. Met een paar korte vragen kijk ik of je idee daarbij past.",
        criteria[0].question,
    ]
    assert [b["payload"] for b in messages[1]["buttons"]] == ["/affirm", "/deny"]

    answers: dict[str, bool] = {}
    for criterion, said in zip(criteria, ["nee", "ja", "ja", "nee", "ja hoor"], strict=True):
        turn = form_turn(
            "idea_form",
            "idea_criteria",
            {"idea_criteria": said},
            slots={**slots, "idea_criteria_answers": dict(answers)},
        )
        events, _ = await run(ValidateIdeaForm(), turn)
        answers[criterion.key] = said != "nee"
        done = criterion is criteria[-1]
        assert slot_events(events) == {
            "idea_criteria": "done" if done else None,
            "idea_criteria_answers": answers,
            "requested_slot": "confirmed" if done else "idea_criteria",
        }

    with transaction(actions_services.sessions) as session:
        make_staff(session, registry, areas=["WK082613"], name="Sanne")
    summary_slots = {**slots, "idea_criteria": "done", "idea_criteria_answers": answers}
    events, messages = await run(ActionAskConfirmed(), tracker(slots=summary_slots, form="idea_form"))
    assert events == []
    text = messages[0]["text"]
    assert "<b>Wat:</b> Een jeu de boules baan" in text and "<b>Waar:</b> Dorst" in text
    assert "Je idee past nog niet helemaal bij de regels voor buurtinitiatieven:" in text
    assert criteria[0].missing in text and criteria[3].missing in text
    assert criteria[1].missing not in text
    assert text.endswith("Klopt dit? Dan stuur ik je idee naar de wijkmakelaar van Dorst.")
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/affirm", "/deny"]


async def test_an_unclear_criteria_answer_is_asked_again(actions_services: Services) -> None:
    before = {"idea_what": "x", "area_code": "WK082613", "idea_involved": "alleen ik", "idea_help": ["money"]}
    turn = form_turn("idea_form", "idea_criteria", {"idea_criteria": "misschien"}, slots=before)
    events, messages = await run(ValidateIdeaForm(), turn)
    assert events == [SlotSet("idea_criteria", None), SlotSet("requested_slot", "idea_criteria")]
    assert texts(messages) == ["Antwoord met ja of nee, dan gaan we verder."]


async def test_the_summary_escapes_what_the_resident_wrote(actions_services: Services) -> None:
    slots = {
        "idea_what": "<script>x</script> & meer",
        "area_code": "WK082806",
        "idea_involved": "alleen ik",
        "idea_help": ["none"],
        "location": "5343XK",
    }
    _, messages = await run(ActionAskConfirmed(), tracker(slots=slots, form="idea_form"))
    text = messages[0]["text"]
    assert "&lt;script&gt;x&lt;/script&gt; &amp; meer" in text and "<script>" not in text
    assert "regels voor buurtinitiatieven" not in text  # Oss has no criteria
    assert "<b>Waar:</b> 5343XK (Ruwaard)" in text
    assert "het team wijkgericht werken van de gemeente Oss" in text  # nobody covers Ruwaard yet


async def test_slots_cleared_by_the_start_action_are_not_taken_as_answers(actions_services: Services) -> None:
    # At activation Rasa hands validate_idea_form every slot set since the user's message, the start
    # action's clearing included: those must neither be answered ("too short") nor mark the criteria done.
    names = ("idea_what", "area_code", "idea_involved", "idea_help", "idea_criteria", "confirmed")
    events, messages = await run(ValidateIdeaForm(), form_turn("idea_form", None, dict.fromkeys(names)))
    assert messages == []
    assert events == [*(SlotSet(name, None) for name in names), SlotSet("requested_slot", "idea_what")]
