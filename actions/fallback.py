"""Not understood: first "Bedoel je A of B?" with the two likeliest intents as buttons (action_fallback);
not understood again right after: offer a person (action_offer_human, see dialogue/rules.yml). Asking for
a person files a "contact" item for the area's staff, who answer in the same chat."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.area import AREA_SLOTS, AreaValidation
from actions.common import button, cleared, intent_payload, latest_entity, slot_area
from actions.kinds import KIND_OF_INTENT, ask_kind, contentful
from actions.submit import file_and_tell
from actions.texts import button_title, catalogue, say

# Intents a resident can be offered as "Bedoel je ...?", in the order used when the NLU gives no ranking.
OFFERED = (
    "share_idea",
    "report_issue",
    "ask_question",
    "ask_contact",
    "ask_status",
    "ask_budget",
    "ask_realised",
    "join_initiative",
    "subscribe",
    "unsubscribe",
    "request_human",
    "help",
    "my_data",
    "forget_me",
)
CONTEXT_MESSAGES = 4


def likeliest_intents(latest_message: dict[str, Any], count: int = 2) -> list[str]:
    """The `count` most likely offerable intents of the last message, topped up with the commonest."""
    ranking = latest_message.get("intent_ranking") or []
    names = [str(entry.get("name")) for entry in ranking if isinstance(entry, dict)]
    chosen = [name for name in names if name in OFFERED and f"intent_{name}" in catalogue()]
    for name in OFFERED:
        if len(chosen) >= count:
            break
        if name not in chosen:
            chosen.append(name)
    return list(dict.fromkeys(chosen))[:count]


def recent_user_texts(tracker: Tracker, limit: int = CONTEXT_MESSAGES) -> list[str]:
    """What the resident typed lately in this session (button payloads left out), oldest first."""
    texts: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        text = event.get("text") if event.get("event") == "user" else None
        if isinstance(text, str) and text.strip() and not text.startswith("/"):
            texts.append(" ".join(text.split())[:300])
            if len(texts) >= limit:
                break
    return list(reversed(texts))


class ActionFallback(Action):
    """Stage one: a message that says something and may be an idea, report or question gets "Is dit een
    idee, een melding of een vraag?" (the text kept for the chosen form); otherwise "Bedoel je A of B?"."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        message = tracker.latest_message or {}
        first, second = likeliest_intents(message)
        if contentful(message) and (first in KIND_OF_INTENT or second in KIND_OF_INTENT):
            where = latest_entity(tracker, "postcode") or latest_entity(tracker, "place")
            return ask_kind(dispatcher, message, where=where)
        buttons = [button(button_title(f"intent_{name}"), intent_payload(name)) for name in (first, second)]
        text = say("fallback_choose", first=catalogue()[f"intent_{first}"], second=catalogue()[f"intent_{second}"])
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class ActionOfferHuman(Action):
    """Stage two: still not understood, so offer a person."""

    def name(self) -> str:
        return "action_offer_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        buttons = [
            button(button_title("offer_yes"), intent_payload("affirm")),
            button(button_title("offer_no"), intent_payload("deny")),
        ]
        dispatcher.utter_message(text=say("offer_human"), buttons=buttons)
        return []


class ActionDefaultFallback(Action):
    """Rasa's core fallback (no next action is likely enough): an answer and a way on, never silence."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        buttons = [
            button(button_title(f"intent_{name}"), intent_payload(name))
            for name in ("share_idea", "report_issue", "ask_question", "request_human")
        ]
        dispatcher.utter_message(text=say("default_fallback"), buttons=buttons)
        return [UserUtteranceReverted()]


class ValidateHumanForm(AreaValidation, FormValidationAction):
    def name(self) -> str:
        return "validate_human_form"


class ActionRequestHuman(Action):
    """Files a contact item, so a person from the area picks it up, and says so."""

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        context = recent_user_texts(tracker)
        text = say("human_text")
        if context:
            text += "\n" + say("human_text_context") + "\n" + "\n".join(f"“{line}”" for line in context)
        receipt = await file_and_tell(
            dispatcher, tracker, kind="contact", area=slot_area(tracker), text=text, details={"context": context}
        )
        if receipt is not None:
            reply = say("human_filed", number=receipt.item_id, route=receipt.route)
            if receipt.phone:
                reply += "\n\n" + say("human_phone", municipality=receipt.municipality, phone=receipt.phone)
            dispatcher.utter_message(text=reply)
        return cleared(AREA_SLOTS)
