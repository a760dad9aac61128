"""Shared by the idea, report and question forms: starting clean, free-text answers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.area import AREA_SLOTS
from actions.common import cleared, latest_entity
from actions.texts import say
from wijkbot.intake import clean_answer, is_descriptive


class StartForm(Action, ABC):
    """Runs right before a form: clears what an earlier, unfinished form left behind (slots carry over to
    a new session), and takes what the first message already says: the description, and a postcode or
    place (validated when the form starts)."""

    # The form's own slots, cleared at the start; the first is the description.
    slots: tuple[str, ...] = ()
    extra: dict[str, Any] = {}

    @abstractmethod
    def name(self) -> str: ...

    def intro(self, dispatcher: CollectingDispatcher) -> None:
        """A line said before the form's first question (none by default)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        self.intro(dispatcher)
        events = cleared((*self.slots, *AREA_SLOTS, "confirmed"))
        events += [SlotSet(name, value) for name, value in self.extra.items()]
        text = (tracker.latest_message or {}).get("text") or ""
        if self.slots and is_descriptive(text):
            events.append(SlotSet(self.slots[0], clean_answer(text)))
        where = latest_entity(tracker, "postcode") or latest_entity(tracker, "place")
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
