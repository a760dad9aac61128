"""Shared by the idea, report and question forms: starting clean with what the resident already said,
free-text answers, the offer to switch to another kind, and the summary to confirm before filing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.area import AREA_SLOTS, check_area
from actions.common import (
    button,
    cleared,
    get_services,
    in_transaction,
    intent_payload,
    latest_entity,
    slot_area,
    slot_text,
)
from actions.kinds import (
    INTENT_OF_KIND,
    KIND_OF_INTENT,
    KINDS,
    PENDING_SLOTS,
    SWITCH_SLOTS,
    WHAT_SLOT,
    chosen_kind,
    fresh_slot,
    is_payload,
    latest_intent,
    other_kind,
    where_in,
)
from actions.texts import Html, button_title, say
from wijkbot.intake import clean_answer, is_descriptive, parse_yes_no
from wijkbot.routing import route_item


class StartForm(Action, ABC):
    """Runs right before a form: clears what an earlier, unfinished form left behind (slots carry over to
    a new session), and takes what the resident already said: the text kept when they chose the kind with
    a button (or switched forms), else the first message when it is a description; and a postcode or
    place from it (validated when the form starts)."""

    # The form's kind (idea, report, question) and own slots, cleared at the start; the first is "what".
    kind: str = ""
    slots: tuple[str, ...] = ()
    extra: dict[str, Any] = {}

    @abstractmethod
    def name(self) -> str: ...

    def intro(self, dispatcher: CollectingDispatcher) -> None:
        """A line said before the form's first question (none by default)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        self.intro(dispatcher)
        events = cleared((*self.slots, *AREA_SLOTS, "confirmed", *SWITCH_SLOTS, *PENDING_SLOTS))
        events += [SlotSet(name, value) for name, value in self.extra.items()]
        events.append(SlotSet("kind", self.kind))
        kept = fresh_slot(tracker, "pending_text")
        text = (tracker.latest_message or {}).get("text") or ""
        if self.slots and isinstance(kept, str) and kept:
            events.append(SlotSet(self.slots[0], kept))
        elif self.slots and is_descriptive(text):
            events.append(SlotSet(self.slots[0], clean_answer(text)))
        where = fresh_slot(tracker, "pending_where") or latest_entity(tracker, "postcode")
        where = where or latest_entity(tracker, "place")
        if where:
            events.append(SlotSet("area_code", where))
        return events


def text_answer(slot: str, value: Any, dispatcher: CollectingDispatcher) -> dict[str, Any]:
    """A free-text answer: trimmed, or None with a short explanation so the form asks again."""
    if value is None:
        return {slot: None}  # cleared by a start action, not answered: nothing to say
    text = value[-1] if isinstance(value, list) and value else value
    cleaned = clean_answer(text if isinstance(text, str) else None)
    if cleaned is None:
        is_payload = isinstance(text, str) and text.strip().startswith("/")
        dispatcher.utter_message(text=say("type_as_text" if is_payload else "too_short"))
    return {slot: cleaned}


class KindValidation:
    """Mixin for validate_idea_form, validate_report_form and validate_question_form.

    - The answer to "what" fills the area too when it names a postcode or place, and when it clearly is
      another kind (a report typed into the idea form) the slot `kind_check` is asked next: switch or not.
    - Choosing another kind (there, or with a button on a report's or question's summary) sets `kind` and
      keeps the text in `pending_text`; the form then ends (no required slots) and a rule starts the other
      form, which takes the kept text.
    """

    kind: str = ""

    def kind_slots(self, slots: list[str], tracker: Tracker) -> list[str]:
        """The form's required slots: none when it is being left for another kind; `kind_check` (right
        after "what" in the domain) only when a switch was offered."""
        current = tracker.get_slot("kind")
        if current in KINDS and current != self.kind:
            return []  # leaving for another form
        offered = tracker.get_slot("kind_offer")
        if offered in KINDS and offered != self.kind:
            return slots
        return [slot for slot in slots if slot != "kind_check"]

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        return self.kind_slots(list(domain_slots), tracker)

    def what_answer(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        slot = WHAT_SLOT[self.kind]
        result = text_answer(slot, value, dispatcher)
        if result[slot] is None or tracker.get_slot("requested_slot") != slot:
            return result  # not answered, or carried in by the start action (which handled where)
        message = tracker.latest_message or {}
        where = where_in(message)
        if where and not slot_text(tracker, "area_code"):
            check = check_area(where, get_services().registry, previous_location=slot_text(tracker, "location"))
            for line in check.messages:
                dispatcher.utter_message(text=line)
            result.update(check.slots)
        offered = other_kind(message, self.kind)
        if offered is not None and tracker.get_slot("kind_check") is None:
            result["kind_offer"] = offered
        return result

    def switch_to(self, kind: str, tracker: Tracker) -> dict[str, Any]:
        return {
            "kind": kind,
            "kind_check": kind,
            "pending_text": slot_text(tracker, WHAT_SLOT[self.kind]),
            "pending_where": slot_text(tracker, "area_code"),
        }

    def extract_kind_check(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {}  # filled by its mapping in the domain; here only so rasa_sdk does not warn

    def validate_kind_check(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"kind_check": None}
        offered = tracker.get_slot("kind_offer")
        chosen = chosen_kind(tracker.latest_message or {}, offered=offered, own=self.kind)
        if chosen is None:
            dispatcher.utter_message(text=say("kind_unclear"))
            return {"kind_check": None}
        if chosen == self.kind:
            return {"kind_check": chosen}
        return self.switch_to(chosen, tracker)

    def validate_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None or isinstance(value, bool):
            return {"confirmed": value}
        message = tracker.latest_message or {}
        chosen = KIND_OF_INTENT.get(latest_intent(message) or "") if is_payload(message.get("text")) else None
        if chosen is not None and chosen != self.kind:
            return {**self.switch_to(chosen, tracker), "confirmed": None}
        answer = parse_yes_no(str(value))
        if answer is None:
            dispatcher.utter_message(text=say("answer_yes_no"))
        return {"confirmed": answer}


def confirm_buttons(kind: str) -> list[dict[str, Any]]:
    """Yes, no, and (report, question) "it is something else": the other kinds, nothing retyped."""
    buttons = [
        button(button_title("confirm_yes"), intent_payload("affirm")),
        button(button_title("confirm_no"), intent_payload("deny")),
    ]
    if kind != "idea":
        others = tuple(k for k in KINDS if k != kind)
        buttons += [button(button_title(f"kind_switch_{k}"), intent_payload(INTENT_OF_KIND[k])) for k in others]
    return buttons


async def ask_to_confirm(dispatcher: CollectingDispatcher, tracker: Tracker, kind: str) -> None:
    """The summary of a report or question, where it goes, and yes / no / another kind."""
    services = get_services()
    area = slot_area(tracker)
    if area is None:
        return

    def route(session: Session) -> str:
        return route_item(session, services.registry, services.rules, kind=kind, area_code=area.code).description

    description = await in_transaction(route)
    where = area.label
    location = slot_text(tracker, "location")
    if location and location.replace(" ", "").lower() != area.name.replace(" ", "").lower():
        where = f"{location} ({area.name})"
    summary = say(f"summary_of_{kind}", what=slot_text(tracker, WHAT_SLOT[kind]) or "", where=where)
    question = say(f"confirm_{kind}", route=description)
    dispatcher.utter_message(text=Html(summary + "\n\n" + question), buttons=confirm_buttons(kind))


__all__ = ["KindValidation", "StartForm", "ask_to_confirm", "text_answer"]
