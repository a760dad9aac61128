"""Where: postcodes, places and buttons resolved for every form; ambiguous answers get buttons."""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions.area import ActionAskAreaCode, ActionPrefillArea, ActionWhere
from actions.idea_form import ValidateIdeaForm
from actions.report_form import ValidateReportForm
from db.session import transaction
from tests.actions.support import SENDER, form_turn, latest, run, slot_events, texts, tracker
from tests.factories import make_resident
from wijkbot.residents import set_home_area
from wijkbot.services import Services


async def test_a_unique_postcode_sets_the_area(actions_services: Services) -> None:
    turn = form_turn("idea_form", "area_code", {"area_code": "4911 ab"}, slots={"idea_what": "Een bankje"})
    events, messages = await run(ValidateIdeaForm(), turn)
    assert events == [
        SlotSet("area_code", "WK082611"),
        SlotSet("area_candidates", None),
        SlotSet("postcode", "4911AB"),
        SlotSet("location", "4911AB"),
        SlotSet("last_area", "WK082611"),
        SlotSet("requested_slot", "idea_involved"),
    ]
    assert texts(messages) == ["Dat is in Den Hout (gemeente Oosterhout)."]


async def test_an_ambiguous_postcode_gives_buttons_with_the_candidate_areas(actions_services: Services) -> None:
    turn = form_turn("report_form", "area_code", {"area_code": "4902 BX"}, slots={"report_what": "losse tegel"})
    events, messages = await run(ValidateReportForm(), turn)
    slots = slot_events(events)
    assert slots["area_code"] is None
    assert slots["area_candidates"] == ["WK082601", "WK082602", "WK082608"]
    assert texts(messages) == ["Postcode 4902 BX hoort bij meer dan één wijk."]

    ask = tracker(slots={**slots, "report_what": "losse tegel"}, form="report_form")
    events, messages = await run(ActionAskAreaCode(), ask)
    assert events == []
    assert messages[0]["text"] == "Welke bedoel je? Kies hieronder."
    assert messages[0]["buttons"] == [
        {"title": "Slotjes", "payload": '/inform{"area_code":"WK082601"}'},
        {"title": "West", "payload": '/inform{"area_code":"WK082602"}'},
        {"title": "Industrieterrein Zuid", "payload": '/inform{"area_code":"WK082608"}'},
    ]


async def test_the_button_answer_sets_the_area_silently(actions_services: Services) -> None:
    turn = form_turn(
        "report_form",
        "area_code",
        {"area_code": "WK082601"},
        slots={"area_candidates": ["WK082601", "WK082602"], "location": "4902BX"},
    )
    events, messages = await run(ValidateReportForm(), turn)
    assert slot_events(events) == {
        "area_code": "WK082601",
        "area_candidates": None,
        "postcode": None,
        "location": "4902BX",
        "last_area": "WK082601",
        "requested_slot": "report_what",
    }
    assert messages == []


async def test_a_postcode_outside_both_municipalities_is_explained(actions_services: Services) -> None:
    turn = form_turn("idea_form", "area_code", {"area_code": "4847 AB"})
    events, messages = await run(ValidateIdeaForm(), turn)
    assert slot_events(events) == {"area_code": None, "area_candidates": None, "requested_slot": "idea_what"}
    assert texts(messages) == [
        "4847 AB ligt niet in Oosterhout of Oss maar in Teteringen (Breda). Ik kan alleen helpen in Oosterhout en Oss.",
        "Woon je toch in Oosterhout of Oss? Stuur dan je postcode nog een keer, of de naam van je wijk of dorp.",
    ]


async def test_a_place_name_works_too_and_a_woonplaats_offers_its_wijken(actions_services: Services) -> None:
    events, _ = await run(ValidateIdeaForm(), form_turn("idea_form", "area_code", {"area_code": "dorst"}))
    assert slot_events(events)["area_code"] == "WK082613"
    events, messages = await run(
        ValidateIdeaForm(), form_turn("idea_form", "area_code", {"area_code": "ik woon in Oss"})
    )
    assert slot_events(events)["area_code"] is None
    assert len(slot_events(events)["area_candidates"]) == 10
    assert texts(messages) == ["Dat kan in meer dan één wijk of dorp zijn."]


async def test_an_unknown_place_is_asked_again(actions_services: Services) -> None:
    events, messages = await run(ValidateIdeaForm(), form_turn("idea_form", "area_code", {"area_code": "bij de kerk"}))
    assert slot_events(events) == {"area_code": None, "area_candidates": None, "requested_slot": "idea_what"}
    assert "Die plek ken ik niet" in texts(messages)[0]


async def test_the_home_area_from_the_database_is_offered_and_prefilled(actions_services: Services) -> None:
    with transaction(actions_services.sessions) as session:
        resident = make_resident(session, telegram_id=int(SENDER))
        set_home_area(session, resident, area_code="WK082613")
    _, messages = await run(ActionAskAreaCode(), tracker(form="idea_form"))
    assert messages[0]["buttons"] == [{"title": "Dorst", "payload": '/inform{"area_code":"WK082613"}'}]
    events, _ = await run(ActionPrefillArea(), tracker())
    assert events == [SlotSet("area_code", "WK082613"), SlotSet("area_candidates", None)]
    # Identity is the sender id: another sender does not get this resident's area.
    events, _ = await run(ActionPrefillArea(), tracker(sender="999000999"))
    assert events == [SlotSet("area_code", None), SlotSet("area_candidates", None)]


async def test_a_postcode_outside_any_form_is_placed(actions_services: Services) -> None:
    message = latest("4911 AB", entities=[{"entity": "postcode", "value": "4911 AB"}])
    events, messages = await run(ActionWhere(), tracker(message=message))
    # a start button pressed next takes the place along
    assert events == [
        SlotSet("last_area", "WK082611"),
        SlotSet("pending_text", None),
        SlotSet("pending_where", "WK082611"),
    ]
    assert messages[0]["text"] == "Dat is in Den Hout (gemeente Oosterhout). Waarmee kan ik je helpen?"
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        "/share_idea",
        "/report_issue",
        "/ask_question",
        "/ask_contact",
    ]
