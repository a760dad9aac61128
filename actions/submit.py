"""Filing what a resident brought: stored, routed and its staff notifications queued in ONE transaction
(wijkbot.items.file_item), then the resident is told where it went and what happens next."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.area import AREA_SLOTS
from actions.common import Sender, cleared, get_services, once, resident_for, sender_of, slot_area, slot_text
from actions.idea_form import IDEA_SLOTS, criteria_answers
from actions.kinds import SWITCH_SLOTS
from actions.texts import say
from wijkbot.intake import describe_help, missing_criteria
from wijkbot.items import file_item
from wijkbot.municipalities import Area

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """What the resident is told: the item's number and where it went."""

    item_id: int
    route: str
    fallback: bool
    municipality: str
    phone: str | None


def file_for_sender(
    session: Session, sender: Sender, *, kind: str, area_code: str, text: str, details: dict[str, Any]
) -> Receipt:
    """Find or create the resident by Telegram id and file the item, in the caller's transaction."""
    services = get_services()
    area = services.registry.area(area_code)
    municipality = services.registry.municipality(area.municipality_code)
    resident = resident_for(session, sender, create=True)
    if resident is None:
        raise ValueError("no resident for this conversation")
    filed = file_item(
        session,
        services.registry,
        services.rules,
        resident=resident,
        kind=kind,
        area_code=area_code,
        text=text,
        details=details,
        remind_after=timedelta(hours=services.settings.reminder_after_hours),
        escalate_after=timedelta(hours=services.settings.escalate_after_hours),
    )
    return Receipt(filed.item.id, filed.route.description, filed.route.fallback, municipality.name, municipality.phone)


async def file_and_tell(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    *,
    kind: str,
    area: Area | None,
    text: str | None,
    details: dict[str, Any],
) -> Receipt | None:
    """File the item for the conversation's sender; on any problem tell the resident that nothing was sent."""
    sender = sender_of(tracker)
    if sender.telegram_id is None:
        dispatcher.utter_message(text=say("not_a_resident"))
        return None
    if area is None or not text:
        dispatcher.utter_message(text=say("missing_answers"))
        return None
    try:
        # once per turn: a turn Rasa runs again gets the first run's receipt, not a second item
        filed = await once(
            tracker,
            f"file_{kind}",
            lambda session: asdict(
                file_for_sender(session, sender, kind=kind, area_code=area.code, text=text, details=details)
            ),
        )
        return Receipt(**filed)
    except Exception:
        log.exception("filing a %s for sender %s failed", kind, tracker.sender_id)
        dispatcher.utter_message(text=say("filing_failed"))
        return None


class SubmitAction(Action, ABC):
    """Files the finished form and clears its slots, whatever the outcome."""

    kind: str = ""
    slots: tuple[str, ...] = ()

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    def content(self, tracker: Tracker) -> tuple[str | None, dict[str, Any]]:
        """The item's text and details from the form's slots."""

    def filed_text(self, tracker: Tracker, receipt: Receipt) -> str:
        return say(f"{self.kind}_filed", number=receipt.item_id, route=receipt.route)

    def confirmed(self, tracker: Tracker) -> bool:
        """Nothing is filed that the resident did not confirm on the summary."""
        return tracker.get_slot("confirmed") is True

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events = cleared((*self.slots, *AREA_SLOTS, "confirmed", *SWITCH_SLOTS))
        if not self.confirmed(tracker):
            dispatcher.utter_message(text=say(f"{self.kind}_not_sent"))
            return events
        text, details = self.content(tracker)
        details["location"] = slot_text(tracker, "location")
        area = slot_area(tracker)
        receipt = await file_and_tell(dispatcher, tracker, kind=self.kind, area=area, text=text, details=details)
        if receipt is not None:
            dispatcher.utter_message(text=self.filed_text(tracker, receipt))
        return events


class ActionSubmitIdea(SubmitAction):
    kind = "idea"
    slots = IDEA_SLOTS

    def name(self) -> str:
        return "action_submit_idea"

    def content(self, tracker: Tracker) -> tuple[str | None, dict[str, Any]]:
        help_kinds = tracker.get_slot("idea_help")
        kinds = [k for k in help_kinds if isinstance(k, str)] if isinstance(help_kinds, list) else []
        details: dict[str, Any] = {
            "involved": slot_text(tracker, "idea_involved"),
            "help": kinds,
            "help_needed": describe_help(kinds),
        }
        area = slot_area(tracker)
        if area is not None:
            municipality = get_services().registry.municipality(area.municipality_code)
            if municipality.initiative_criteria:
                answers = criteria_answers(tracker)
                details["criteria"] = answers
                details["criteria_missing"] = [c.key for c in missing_criteria(municipality, answers)]
        return slot_text(tracker, "idea_what"), details


class ActionSubmitReport(SubmitAction):
    kind = "report"
    slots = ("report_what",)

    def name(self) -> str:
        return "action_submit_report"

    def content(self, tracker: Tracker) -> tuple[str | None, dict[str, Any]]:
        return slot_text(tracker, "report_what"), {}

    def filed_text(self, tracker: Tracker, receipt: Receipt) -> str:
        text = super().filed_text(tracker, receipt)
        if receipt.phone:
            text += "\n\n" + say("report_urgent", municipality=receipt.municipality, phone=receipt.phone)
        return text


class ActionSubmitQuestion(SubmitAction):
    kind = "question"
    slots = ("question_text", "question_topic")

    def name(self) -> str:
        return "action_submit_question"

    def content(self, tracker: Tracker) -> tuple[str | None, dict[str, Any]]:
        return slot_text(tracker, "question_text"), {"topic": slot_text(tracker, "question_topic") or "question"}

    def filed_text(self, tracker: Tracker, receipt: Receipt) -> str:
        key = "join_filed" if slot_text(tracker, "question_topic") == "join" else "question_filed"
        return say(key, number=receipt.item_id, route=receipt.route)
