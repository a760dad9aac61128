"""What happened to what I sent: only the resident's own items, looked up by their Telegram id."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.common import get_services, in_transaction, sender_of
from actions.texts import Html, say
from wijkbot.items import describe_status, items_of_resident
from wijkbot.residents import find_resident

SHOWN = 5


def status_lines(session: Session, telegram_id: int | None) -> list[str]:
    """One line per item of THIS resident, newest first; [] when they have none (or are unknown)."""
    if telegram_id is None:
        return []
    resident = find_resident(session, telegram_id=telegram_id)
    if resident is None:
        return []
    registry = get_services().registry
    return [describe_status(registry, item) for item in items_of_resident(session, resident_id=resident.id)]


class ActionStatus(Action):
    def name(self) -> str:
        return "action_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        sender = sender_of(tracker)
        lines = await in_transaction(lambda session: status_lines(session, sender.telegram_id))
        if not lines:
            dispatcher.utter_message(text=say("status_none"))
            return []
        shown = "\n".join(f"• {say('plain', text=line)}" for line in lines[:SHOWN])
        text = say("status_list") + "\n" + shown
        if len(lines) > SHOWN:
            text += "\n" + say("status_more", count=len(lines) - SHOWN)
        dispatcher.utter_message(text=Html(text))
        return []
