"""Outreach for my area: opt in (the area is needed, so outreach_form asks it when the database does not
know it) and opt out. Consent lives in the database (wijkbot.residents.set_outreach)."""

from __future__ import annotations

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.area import AREA_SLOTS, AreaValidation
from actions.common import cleared, once, resident_for, sender_of, slot_area, slot_text
from actions.texts import say
from wijkbot.residents import set_home_area, set_outreach

VIA = "chat"


class ValidateOutreachForm(AreaValidation, FormValidationAction):
    def name(self) -> str:
        return "validate_outreach_form"


class ActionSubscribe(Action):
    def name(self) -> str:
        return "action_subscribe"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        sender = sender_of(tracker)
        area = slot_area(tracker)
        if sender.telegram_id is None:
            dispatcher.utter_message(text=say("not_a_resident"))
            return cleared(AREA_SLOTS)
        if area is None:
            dispatcher.utter_message(text=say("missing_answers"))
            return cleared(AREA_SLOTS)
        postcode = slot_text(tracker, "postcode")

        def work(session: Session) -> dict[str, bool]:
            resident = resident_for(session, sender, create=True)
            assert resident is not None
            set_home_area(session, resident, area_code=area.code, postcode=postcode)
            return {"changed": set_outreach(session, resident, opt_in=True, via=VIA)}

        changed = (await once(tracker, self.name(), work))["changed"]
        dispatcher.utter_message(text=say("subscribed" if changed else "already_subscribed", area=area.label))
        return cleared(AREA_SLOTS)


class ActionUnsubscribe(Action):
    def name(self) -> str:
        return "action_unsubscribe"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        sender = sender_of(tracker)

        def work(session: Session) -> dict[str, bool]:
            resident = resident_for(session, sender, create=False)
            return {"changed": resident is not None and set_outreach(session, resident, opt_in=False, via=VIA)}

        changed = (await once(tracker, self.name(), work))["changed"] if sender.telegram_id is not None else False
        dispatcher.utter_message(text=say("unsubscribed" if changed else "not_subscribed"))
        return []
