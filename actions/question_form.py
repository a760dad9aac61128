"""The question form (also "I want to join an initiative"): the question, the area it is about and a short
summary to confirm (with "it is an idea / a report" buttons); then filed and routed to the area's contact
(actions/submit.py). Nothing is filed before the resident says yes. The flow is the report form's
(diagram in report_form.py)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.area import AreaValidation
from actions.common import slot_text
from actions.forms import KindValidation, StartForm
from actions.texts import say

QUESTION_SLOTS = ("question_text", "question_topic")


class ActionStartQuestion(StartForm):
    kind = "question"
    slots = QUESTION_SLOTS

    def name(self) -> str:
        return "action_start_question"


class ActionStartJoin(StartForm):
    kind = "question"
    slots = QUESTION_SLOTS
    extra = {"question_topic": "join"}

    def name(self) -> str:
        return "action_start_join"

    def intro(self, dispatcher: CollectingDispatcher) -> None:
        dispatcher.utter_message(text=say("join_intro"))


class ValidateQuestionForm(KindValidation, AreaValidation, FormValidationAction):
    kind = "question"

    def name(self) -> str:
        return "validate_question_form"

    def validate_question_text(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.what_answer(value, dispatcher, tracker)


class ActionAskQuestionText(Action):
    def name(self) -> str:
        return "action_ask_question_text"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        join = slot_text(tracker, "question_topic") == "join"
        dispatcher.utter_message(text=say("ask_question_join" if join else "ask_question_text"))
        return []
