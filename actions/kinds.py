"""Idea, report or question: what a message is, asked honestly when the assistant is not sure, and the
switch from one form to another, always keeping what the resident already typed.

```mermaid
flowchart TD
    M[first message] -->|share_idea / report_issue / ask_question| T{action_triage}
    M -->|inform with more than a place| K
    M -->|nlu_fallback, contentful| K
    T -->|clear, or a button| S[start that form: the message fills what and where]
    T -->|top kinds close| K[Is dit een idee, een melding of een vraag?<br/>text kept in pending_text]
    K -->|Een idee / Een melding / Een vraag| S
    S --> F[form: what, where, ... summary: klopt dit?]
    F -->|what answer is clearly another kind| O[Dit klinkt als een melding. Wat is het?]
    O -->|same kind| F
    O -->|other kind| X[form ends with kind set: rules start the other form with the kept text]
    F -->|summary of a report or question: Het is een idee / vraag / melding| X
    X --> S
    F -->|ja| Filed[filed and routed]
    F -->|nee| N[not sent]
```

The slot `kind` (categorical, influences the dialogue) says which form runs; rules in dialogue/start_rules.yml
start the form after `action_triage`, those in dialogue/<form>_rules.yml switch forms when a form ends with
another kind. The text to
carry over is in `pending_text` (and a place in `pending_where`); it is only used while no other typed
message came after it (a button press in between is fine).
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import button, intent_payload, latest_entity
from actions.texts import Html, button_title, say
from wijkbot.intake import clean_answer, is_descriptive, parse_yes_no, words

# The three kinds a resident brings, by the intent that starts their form.
KIND_OF_INTENT = {"share_idea": "idea", "report_issue": "report", "ask_question": "question"}
INTENT_OF_KIND = {kind: intent for intent, kind in KIND_OF_INTENT.items()}
KINDS = tuple(INTENT_OF_KIND)
# What each form asks first ("what"): the slot the kept text fills.
WHAT_SLOT = {"idea": "idea_what", "report": "report_what", "question": "question_text"}
FORM_OF_KIND = {"idea": "idea_form", "report": "report_form", "question": "question_form"}
KIND_OF_FORM = {form: kind for kind, form in FORM_OF_KIND.items()}
PENDING_SLOTS = ("pending_text", "pending_where")
SWITCH_SLOTS = ("kind_offer", "kind_check")

# A first message is asked about when the likeliest kind is not this much ahead of the next kind.
CLOSE_MARGIN = 0.35
# Inside a form, the "what" answer is offered another form when that kind is this likely ...
SWITCH_CONFIDENCE = 0.6
# ... and this much ahead of the form's own kind.
SWITCH_MARGIN = 0.4

_STREET = re.compile(r"(straat|laan|weg|plein|singel|dreef|hof|kade|pad|dijk|steeg|gracht|erf|baan|ring)$")
_KIND_WORDS = {
    "idea": ("idee", "ideetje", "initiatief", "plan", "voorstel"),
    "report": ("melding", "melden", "kapot", "probleem", "klacht"),
    "question": ("vraag", "vraagje", "vragen"),
}


# --- reading a message ----------------------------------------------------------------------------


def is_payload(text: str | None) -> bool:
    return isinstance(text, str) and text.lstrip().startswith("/")


def contentful(message: dict[str, Any]) -> bool:
    """Whether a message says more than where: a description left after postcodes, place names, street
    names and house numbers are taken out ("Steenstraat 4, 5341 AB Oss" is not, "meer bankjes in de
    speeltuin in Dorst" is)."""
    text = message.get("text") or ""
    if not isinstance(text, str) or is_payload(text):
        return False
    spans = sorted(
        (int(e["start"]), int(e["end"]))
        for e in message.get("entities") or []
        if isinstance(e, dict) and isinstance(e.get("start"), int) and isinstance(e.get("end"), int)
    )
    rest, cursor = [], 0
    for start, end in spans:
        if start >= cursor:
            rest.append(text[cursor:start])
            cursor = end
    rest.append(text[cursor:])
    kept = [w for w in words(" ".join(rest)) if not _STREET.search(w)]
    return is_descriptive(" ".join(kept))


def kind_scores(message: dict[str, Any]) -> dict[str, float]:
    """Confidence per kind from the NLU ranking (the top intent when there is no ranking)."""
    scores = dict.fromkeys(KINDS, 0.0)
    ranking = message.get("intent_ranking") or []
    if not ranking and isinstance(message.get("intent"), dict):
        ranking = [message["intent"]]
    for entry in ranking:
        if isinstance(entry, dict) and entry.get("name") in KIND_OF_INTENT:
            kind = KIND_OF_INTENT[str(entry["name"])]
            scores[kind] = max(scores[kind], float(entry.get("confidence") or 0.0))
    return scores


def latest_intent(message: dict[str, Any]) -> str | None:
    intent = message.get("intent")
    name = intent.get("name") if isinstance(intent, dict) else None
    return str(name) if name else None


def is_close_call(message: dict[str, Any]) -> bool:
    """The two likeliest kinds are too close to choose between."""
    first, second = sorted(kind_scores(message).values(), reverse=True)[:2]
    return first - second < CLOSE_MARGIN


def other_kind(message: dict[str, Any], own: str) -> str | None:
    """Another kind this message clearly is, said inside the form of `own` (a report typed into the idea
    form), or None."""
    if is_payload(message.get("text")):
        return None
    kind = KIND_OF_INTENT.get(latest_intent(message) or "")
    if kind is None or kind == own:
        return None
    scores = kind_scores(message)
    if scores[kind] >= SWITCH_CONFIDENCE and scores[kind] - scores[own] >= SWITCH_MARGIN:
        return kind
    return None


def chosen_kind(message: dict[str, Any], *, offered: str | None, own: str | None) -> str | None:
    """The kind a resident picked: a button, a confidently classified answer, or words such as "een
    melding", "ja" (the offered kind) or "nee" (the form's own kind)."""
    text = message.get("text") or ""
    intent_kind = KIND_OF_INTENT.get(latest_intent(message) or "")
    if is_payload(text):
        return intent_kind
    found = words(text)
    named = [kind for kind, hints in _KIND_WORDS.items() if any(w in hints for w in found)]
    if len(named) == 1:
        return named[0]
    answer = parse_yes_no(text) if len(found) <= 4 else None
    if answer is True and offered:
        return offered
    if answer is False and own:
        return own
    return None


def where_in(message: dict[str, Any]) -> str | None:
    """A postcode or place named in the message (the postcode first)."""
    for entity in ("postcode", "place"):
        for e in message.get("entities") or []:
            if isinstance(e, dict) and e.get("entity") == entity and e.get("value"):
                return str(e["value"])
    return None


def fresh_slot(tracker: Tracker, name: str) -> Any:
    """The value of a slot set by the assistant since the resident last typed something (button presses
    do not count); None when the resident typed something else after it was set."""
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "slot" and event.get("name") == name:
            return event.get("value")
        if kind == "user" and not is_payload(event.get("text")):
            return None
        if kind == "session_started":
            return None
    return None


# --- asking ---------------------------------------------------------------------------------------


def kind_buttons(kinds: tuple[str, ...] = KINDS) -> list[dict[str, Any]]:
    return [button(button_title(f"kind_{kind}"), intent_payload(INTENT_OF_KIND[kind])) for kind in kinds]


def ask_kind(dispatcher: CollectingDispatcher, message: dict[str, Any], *, where: str | None) -> list[EventType]:
    """ "Is dit een idee, een melding of een vraag?" with three buttons (and "iets anders"); the text is kept
    so the chosen form starts with it."""
    buttons = [*kind_buttons(), button(button_title("kind_other"), intent_payload("help"))]
    dispatcher.utter_message(text=say("ask_kind"), buttons=buttons)
    return [
        SlotSet("kind", "unsure"),
        SlotSet("pending_text", clean_answer(message.get("text"))),
        SlotSet("pending_where", where),
    ]


class ActionTriage(Action):
    """After share_idea, report_issue or ask_question: which form to start (slot `kind`), or the
    three-button question when the likeliest kinds are close."""

    def name(self) -> str:
        return "action_triage"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        message = tracker.latest_message or {}
        kind = KIND_OF_INTENT.get(latest_intent(message) or "", "idea")
        if contentful(message) and is_close_call(message):
            where = latest_entity(tracker, "postcode") or latest_entity(tracker, "place")
            return ask_kind(dispatcher, message, where=where)
        return [SlotSet("kind", kind)]


class ActionAskKindCheck(Action):
    """Inside a form: the answer to "what" sounds like another kind; offer the switch, nothing retyped."""

    def name(self) -> str:
        return "action_ask_kind_check"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        loop = tracker.active_loop or {}
        own = KIND_OF_FORM.get(str(loop.get("name") or ""), "idea")
        offered = tracker.get_slot("kind_offer")
        offered = offered if offered in KINDS and offered != own else next(k for k in KINDS if k != own)
        text = say(
            "kind_offer",
            offered=Html(say(f"kind_name_{offered}")),
            own=Html(say(f"kind_name_{own}")),
            hint=Html(say(f"kind_hint_{offered}")),
        )
        dispatcher.utter_message(text=text, buttons=kind_buttons((offered, own)))
        return []
