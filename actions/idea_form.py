"""The idea form: what, where, who else, what help, (where the municipality has them) the initiative
criteria, and a summary to confirm before filing (actions/submit.py files it).

```mermaid
flowchart TD
    S[share_idea or the button Een idee] --> T[action_start_idea: message or kept text fills what, where]
    T --> W[Wat is je idee?]
    W -->|sounds like a report or question| O[Dit klinkt als een melding. Wat is het?]
    O -->|Een idee| P
    O -->|Een melding / Een vraag| X[that form starts with the same text and place]
    W -->|a postcode or place in the answer fills where| I
    W --> P[Waar? postcode or place]
    P -->|unique| I[Wie doen er nog meer mee?]
    P -->|ambiguous| B[buttons with the candidate wijken] --> I
    P -->|outside or unknown| P
    I --> H[Welke hulp heb je nodig? buttons or words]
    H -->|money, in Oosterhout: criteria in profiles.yaml| C[one yes/no per criterion]
    H -->|no money, or Oss: no criteria| Q
    C --> Q[summary: klopt dit? says where it goes and what is missing]
    Q -->|ja| F[filed and routed: je idee gaat naar de wijkmakelaar van ...]
    Q -->|nee| N[not filed]
    W & P & I & H & C & Q -.->|cancel| N
```

Steps already answered by the first message (or the text kept while the resident chose "Een idee") are
skipped. How a message becomes an idea, report or question: actions/kinds.py. The report and question
forms (report_form.py, question_form.py) are what, where and a short summary to confirm.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.area import AreaValidation
from actions.common import (
    active_form,
    button,
    get_services,
    in_transaction,
    inform_payload,
    intent_payload,
    slot_area,
    slot_text,
)
from actions.forms import KindValidation, StartForm, ask_to_confirm
from actions.kinds import KIND_OF_FORM
from actions.texts import Html, button_title, say
from wijkbot.intake import (
    HELP_KINDS,
    describe_help,
    mentions_neighbours,
    missing_criteria,
    next_criterion,
    parse_help,
    parse_yes_no,
)
from wijkbot.municipalities import Municipality
from wijkbot.routing import route_item

IDEA_SLOTS = ("idea_what", "idea_involved", "idea_help", "idea_criteria", "idea_criteria_answers")
ALONE = "alleen ik"


def municipality_of(tracker: Tracker) -> Municipality | None:
    area = slot_area(tracker)
    return get_services().registry.municipality(area.municipality_code) if area else None


def criteria_answers(tracker: Tracker) -> dict[str, bool]:
    answers = tracker.get_slot("idea_criteria_answers")
    if not isinstance(answers, dict):
        return {}
    return {str(k): bool(v) for k, v in answers.items() if isinstance(v, bool)}


class ActionStartIdea(StartForm):
    kind = "idea"
    slots = IDEA_SLOTS

    def name(self) -> str:
        return "action_start_idea"


class ValidateIdeaForm(KindValidation, AreaValidation, FormValidationAction):
    kind = "idea"

    def name(self) -> str:
        return "validate_idea_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """The criteria are asked only when money is asked for, once the area is known to be in a municipality
        that has them (the deciding staff member sees the answers); the switch question right after "what"
        when that sounded like a report or question."""
        municipality = municipality_of(tracker)
        slots = list(domain_slots)
        help_asked = tracker.get_slot("idea_help")
        asks_money = isinstance(help_asked, list) and "money" in help_asked
        if (municipality is not None and not municipality.initiative_criteria) or (
            help_asked is not None and not asks_money
        ):
            slots = [slot for slot in slots if slot != "idea_criteria"]
        return self.kind_slots(slots, tracker)

    def validate_idea_what(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.what_answer(value, dispatcher, tracker)

    def validate_idea_involved(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"idea_involved": None}  # cleared by the start action, not answered
        text = " ".join(str(value).split()) if isinstance(value, str) else ""
        if not text or text.startswith("/"):
            dispatcher.utter_message(text=say("type_as_text" if text else "too_short"))
            return {"idea_involved": None}
        if parse_yes_no(text) is False and len(text.split()) <= 2:
            text = ALONE  # "nee", "niemand"
        slots: dict[str, Any] = {"idea_involved": text[:500]}
        if mentions_neighbours(text):
            answers = criteria_answers(tracker)
            answers["with_neighbours"] = True
            slots["idea_criteria_answers"] = answers
        return slots

    def validate_idea_help(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"idea_help": None}
        found: list[str] = []
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                continue
            found += [item] if item in HELP_KINDS else parse_help(item)
        kinds = list(dict.fromkeys(found))
        if len(kinds) > 1 and "none" in kinds:
            kinds.remove("none")
        if not kinds:
            dispatcher.utter_message(text=say("help_unclear"))
            return {"idea_help": None}
        return {"idea_help": kinds}

    def validate_idea_criteria(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        municipality = municipality_of(tracker)
        if value is None or municipality is None:
            return {"idea_criteria": None}  # cleared by the start action, or asked before the area is known
        answers = criteria_answers(tracker)
        criterion = next_criterion(municipality, answers)
        if criterion is None:
            return {"idea_criteria": "done"}
        answer = parse_yes_no(str(value))
        if answer is None:
            dispatcher.utter_message(text=say("answer_yes_no"))
            return {"idea_criteria": None}
        answers[criterion.key] = answer
        done = next_criterion(municipality, answers) is None
        return {"idea_criteria": "done" if done else None, "idea_criteria_answers": answers}


class ActionAskIdeaWhat(Action):
    def name(self) -> str:
        return "action_ask_idea_what"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text=say("ask_idea_what"))
        return []


class ActionAskIdeaInvolved(Action):
    def name(self) -> str:
        return "action_ask_idea_involved"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text=say("ask_idea_involved"))
        return []


class ActionAskIdeaHelp(Action):
    def name(self) -> str:
        return "action_ask_idea_help"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        buttons = [button(button_title(f"help_{kind}"), inform_payload("help_needed", kind)) for kind in HELP_KINDS]
        dispatcher.utter_message(text=say("ask_idea_help"), buttons=buttons)
        return []


class ActionAskIdeaCriteria(Action):
    """One criterion per turn, as a yes/no question; the municipality's own words from profiles.yaml."""

    def name(self) -> str:
        return "action_ask_idea_criteria"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        municipality = municipality_of(tracker)
        answers = criteria_answers(tracker)
        criterion = next_criterion(municipality, answers) if municipality is not None else None
        if municipality is None or criterion is None:
            return []
        if not answers or set(answers) == {"with_neighbours"}:
            dispatcher.utter_message(text=say("criteria_intro", municipality=municipality.name))
        buttons = [
            button(button_title("button_yes"), intent_payload("affirm")),
            button(button_title("button_no"), intent_payload("deny")),
        ]
        dispatcher.utter_message(text=say("criteria_question", question=criterion.question), buttons=buttons)
        return []


class ActionAskConfirmed(Action):
    """The summary of the idea, whether it fits the municipality's criteria, where it will go; yes or no.
    In the report and question forms: their short summary (actions/forms.py)."""

    def name(self) -> str:
        return "action_ask_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        form = active_form(tracker)
        if form in KIND_OF_FORM and form != "idea_form":
            await ask_to_confirm(dispatcher, tracker, KIND_OF_FORM[form])
            return []
        services = get_services()
        area = slot_area(tracker)
        if area is None:
            return []
        municipality = services.registry.municipality(area.municipality_code)

        def route(session: Session) -> str:
            return route_item(session, services.registry, services.rules, kind="idea", area_code=area.code).description

        description = await in_transaction(route)
        help_kinds = tracker.get_slot("idea_help")
        where = area.label
        location = slot_text(tracker, "location")
        if location and location.replace(" ", "").lower() != area.name.replace(" ", "").lower():
            where = f"{location} ({area.name})"
        parts = [
            say(
                "summary",
                what=slot_text(tracker, "idea_what") or "",
                where=where,
                involved=slot_text(tracker, "idea_involved") or ALONE,
                help=describe_help(help_kinds if isinstance(help_kinds, list) else []) or HELP_KINDS["none"],
            )
        ]
        if municipality.initiative_criteria:
            missing = missing_criteria(municipality, criteria_answers(tracker))
            if missing:
                lines = "\n".join(f"• {say('plain', text=c.missing)}" for c in missing)
                parts.append(say("summary_criteria_missing") + "\n" + lines)
                parts.append(say("summary_criteria_after", staff_title=municipality.staff_title))
            else:
                parts.append(say("summary_criteria_ok"))
        parts.append(say("summary_question", route=description))
        buttons = [
            button(button_title("confirm_yes"), intent_payload("affirm")),
            button(button_title("confirm_no"), intent_payload("deny")),
        ]
        dispatcher.utter_message(text=Html("\n\n".join(parts)), buttons=buttons)
        return []
