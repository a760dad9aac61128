"""Where: the postcode, place or button answer shared by every form, and the questions that ask for it.

The slot `area_code` ends up holding a CBS wijk code from the registry, or None (then the form asks again).
A postcode or place in more than one area leaves the candidates in `area_candidates`; the next question
shows them as buttons that send /inform{"area_code": ...}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    active_form,
    button,
    get_services,
    home_area_code,
    inform_payload,
    intent_payload,
    latest_entity,
    slot_text,
)
from actions.kinds import ask_kind, contentful
from actions.texts import Html, button_title, say
from wijkbot.locate import area_choices, resolve_location
from wijkbot.municipalities import Registry
from wijkbot.postcodes import Resolution, Status

AREA_SLOTS = ("area_code", "area_candidates", "postcode", "location")
# What each form asks about; the texts are ask_area_<purpose>.
PURPOSE = {
    "idea_form": "idea",
    "report_form": "report",
    "question_form": "question",
    "contact_form": "contact",
    "outreach_form": "outreach",
    "human_form": "human",
}
# Forms about a place that is not necessarily home: the home area is offered as a button, not assumed.
OFFER_HOME = ("idea_form", "report_form", "question_form")


@dataclass(frozen=True)
class AreaCheck:
    status: Status
    slots: dict[str, Any]
    messages: list[str]


def check_area(value: Any, registry: Registry, *, previous_location: str | None = None) -> AreaCheck:
    """Resolve an answer to "where" into slot values and the messages that explain the outcome."""
    text = " ".join(str(item) for item in value) if isinstance(value, list) else str(value or "")
    resolution = resolve_location(text, registry)
    by_button = resolution.status == Status.UNIQUE and resolution.postcode is None and resolution.place is None
    if resolution.status == Status.UNIQUE:
        area = resolution.areas[0]
        location = resolution.postcode or (resolution.place if resolution.place else None) or previous_location
        found = say("area_found", area=area.label, municipality=_municipality(registry, area.code))
        messages = [] if by_button else [found]
        slots: dict[str, Any] = {
            "area_code": area.code,
            "area_candidates": None,
            "postcode": resolution.postcode,
            "location": location or area.name,
            "last_area": area.code,
        }
        return AreaCheck(resolution.status, slots, messages)
    if resolution.status == Status.AMBIGUOUS:
        slots = {
            "area_code": None,
            "area_candidates": [a.code for a in resolution.areas],
            "postcode": resolution.postcode,
            "location": resolution.postcode or resolution.place,
        }
        return AreaCheck(resolution.status, slots, [_ambiguous_message(resolution)])
    if resolution.status == Status.OUTSIDE:
        names = [m.name for m in registry.municipalities]
        either, both = _joined(names, "of"), _joined(names, "en")
        elsewhere = say("area_outside_where", place=resolution.place) if resolution.place else ""
        messages = [
            say(
                "area_outside",
                postcode=_pretty_postcode(resolution.postcode or text),
                either=either,
                both=both,
                elsewhere=Html(elsewhere),
            ),
            say("area_outside_again", either=either),
        ]
        return AreaCheck(resolution.status, {"area_code": None, "area_candidates": None}, messages)
    return AreaCheck(Status.INVALID, {"area_code": None, "area_candidates": None}, [say("area_unknown")])


def candidate_buttons(codes: list[str], registry: Registry) -> list[dict[str, Any]]:
    areas = tuple(a for a in (registry.find_area(c) for c in codes) if a is not None)
    return [button(title, inform_payload("area_code", code)) for code, title in area_choices(areas, registry)]


def start_buttons() -> list[dict[str, Any]]:
    return [
        button(button_title("button_share_idea"), intent_payload("share_idea")),
        button(button_title("button_report"), intent_payload("report_issue")),
        button(button_title("button_question"), intent_payload("ask_question")),
        button(button_title("button_contact"), intent_payload("ask_contact")),
    ]


class AreaValidation:
    """Mixin for the FormValidationActions: `validate_area_code` for every form that asks where."""

    async def validate_area_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"area_code": None}  # cleared by a start action, not answered
        check = check_area(value, get_services().registry, previous_location=slot_text(tracker, "location"))
        for message in check.messages:
            dispatcher.utter_message(text=message)
        return check.slots


class ActionAskAreaCode(Action):
    """Asks where, with the candidate areas as buttons after an ambiguous answer, or the home area offered."""

    def name(self) -> str:
        return "action_ask_area_code"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        registry = get_services().registry
        form = active_form(tracker) or "contact_form"
        candidates = tracker.get_slot("area_candidates")
        if isinstance(candidates, list) and candidates:
            dispatcher.utter_message(text=say("ask_area_choose"), buttons=candidate_buttons(candidates, registry))
            return []
        text = say(f"ask_area_{PURPOSE.get(form, 'contact')}")
        home = await home_area_code(tracker) if form in OFFER_HOME else None
        if home is not None:
            area = registry.area(home)
            text += "\n" + say("ask_area_home_hint", area=area.name)
            dispatcher.utter_message(text=text, buttons=[button(area.name, inform_payload("area_code", home))])
        else:
            dispatcher.utter_message(text=text)
        return []


class ActionPrefillArea(Action):
    """Before a form that needs the resident's own area: take the one the database knows, if any."""

    def name(self) -> str:
        return "action_prefill_area"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return [SlotSet("area_code", await home_area_code(tracker)), SlotSet("area_candidates", None)]


class ActionWhere(Action):
    """A postcode, place or area button outside any form: say where that is and what the resident can do.
    A message that says more than where ("meer bankjes in de speeltuin in Dorst") is asked whether it is
    an idea, a report or a question, and the chosen form starts with that text and place."""

    def name(self) -> str:
        return "action_where"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        registry = get_services().registry
        message = tracker.latest_message or {}
        entity = (
            latest_entity(tracker, "area_code") or latest_entity(tracker, "postcode") or latest_entity(tracker, "place")
        )
        value = entity or message.get("text") or ""
        check = check_area(value, registry)
        if contentful(message):
            if check.status == Status.UNIQUE and entity:
                for line in check.messages:
                    dispatcher.utter_message(text=line)
            return [*ask_kind(dispatcher, message, where=entity), *_last_area(check)]
        if check.status == Status.UNIQUE:
            code = check.slots["area_code"]
            text = say("where_found", area=registry.area(code).label, municipality=_municipality(registry, code))
            dispatcher.utter_message(text=text, buttons=start_buttons())
            # a start button pressed next takes this place along
            return [SlotSet("last_area", code), SlotSet("pending_text", None), SlotSet("pending_where", code)]
        if check.status == Status.AMBIGUOUS:
            dispatcher.utter_message(text=check.messages[0])
            buttons = candidate_buttons(check.slots["area_candidates"], registry)
            dispatcher.utter_message(text=say("ask_area_choose"), buttons=buttons)
            return []
        if check.status == Status.OUTSIDE:
            dispatcher.utter_message(text=check.messages[0])
        dispatcher.utter_message(text=say("where_unknown"), buttons=start_buttons())
        return []


def _last_area(check: AreaCheck) -> list[EventType]:
    code = check.slots.get("area_code") if check.status == Status.UNIQUE else None
    return [SlotSet("last_area", code)] if code else []


def _ambiguous_message(resolution: Resolution) -> str:
    if resolution.note and resolution.postcode:
        return say("area_postbus", postcode=_pretty_postcode(resolution.postcode))
    if resolution.postcode:
        return say("area_ambiguous_postcode", postcode=_pretty_postcode(resolution.postcode))
    return say("area_ambiguous_place")


def _pretty_postcode(postcode: str) -> str:
    """4911AB -> "4911 AB" for the resident's eyes."""
    compact = postcode.replace(" ", "").upper()
    return f"{compact[:4]} {compact[4:]}" if len(compact) == 6 and compact[:4].isdigit() else postcode.strip()


def _municipality(registry: Registry, area_code: str) -> str:
    return registry.municipality(registry.area(area_code).municipality_code).name


def _joined(names: list[str], word: str) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"
