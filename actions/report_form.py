"""The report form: what is wrong and where; then filed and routed (actions/submit.py)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.area import AreaValidation
from actions.forms import StartForm, text_answer
from actions.texts import say


class ActionStartReport(StartForm):
    slots = ("report_what",)

    def name(self) -> str:
        return "action_start_report"


class ValidateReportForm(AreaValidation, FormValidationAction):
    def name(self) -> str:
        return "validate_report_form"

    def validate_report_what(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return text_answer("report_what", value, dispatcher)


class ActionAskReportWhat(Action):
    def name(self) -> str:
        return "action_ask_report_what"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text=say("ask_report_what"))
        return []
