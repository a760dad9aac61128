"""The report form: what is wrong, where, and a short summary to confirm; then filed and routed
(actions/submit.py). The question form (question_form.py) runs the same way.

```mermaid
flowchart TD
    R[report_issue, clear<br/>or the button Een melding] --> S[action_start_report]
    S -.-|the message or the kept text fills what,<br/>a postcode or place in it fills where| S
    S --> W[Wat is er aan de hand?]
    W -->|sounds like an idea or question| O[Dit klinkt als een idee. Wat is het?]
    O -->|Een melding| P
    O -->|Een idee / Een vraag| X[that form starts with the same text]
    W -->|a postcode or place in it fills where| C
    W --> P[Waar is het?]
    P -->|unique| C[Dit is je melding: wat, waar. Klopt dit?]
    P -->|ambiguous| B[buttons with the candidate wijken] --> C
    C -->|Ja, insturen| F[filed and routed]
    C -->|Nee| N[not sent]
    C -->|Het is een idee / een vraag| X
    W & P & C -.->|cancel| N
```
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.area import AreaValidation
from actions.forms import KindValidation, StartForm
from actions.texts import say


class ActionStartReport(StartForm):
    kind = "report"
    slots = ("report_what",)

    def name(self) -> str:
        return "action_start_report"


class ValidateReportForm(KindValidation, AreaValidation, FormValidationAction):
    kind = "report"

    def name(self) -> str:
        return "validate_report_form"

    def validate_report_what(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.what_answer(value, dispatcher, tracker)


class ActionAskReportWhat(Action):
    def name(self) -> str:
        return "action_ask_report_what"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text=say("ask_report_what"))
        return []
