"""What was realised in the resident's wijk: the list `/gerealiseerd` shows (wijkbot.initiatives)."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import get_services, in_transaction, sender_of
from actions.texts import Html
from wijkbot.initiatives import realised_text


class ActionRealised(Action):
    def name(self) -> str:
        return "action_realised"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        sender = sender_of(tracker)
        registry = get_services().registry
        text = await in_transaction(
            lambda session: realised_text(session, registry, telegram_id=sender.telegram_id or 0)
        )
        dispatcher.utter_message(text=Html(text))
        return []
