"""Who is my contact, and what support is there for initiatives. The area comes from the database (the
resident's home area) or from contact_form, which asks it once and remembers it as their home area."""

from __future__ import annotations

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.area import AREA_SLOTS, AreaValidation
from actions.common import (
    Sender,
    button,
    cleared,
    get_services,
    home_area_code,
    in_transaction,
    intent_payload,
    resident_for,
    sender_of,
    slot_area,
    slot_text,
)
from actions.texts import button_title, say
from wijkbot.contacts import ContactDetails, contact_details
from wijkbot.residents import set_home_area


def remember_home_area(session: Session, sender: Sender, *, area_code: str, postcode: str | None) -> None:
    """The resident told us where they live: keep it (their choice) for routing and outreach."""
    resident = resident_for(session, sender, create=True)
    if resident is not None:
        set_home_area(session, resident, area_code=area_code, postcode=postcode)


def contact_text(details: ContactDetails) -> str:
    lines = [
        say("contact_area", area=details.area_label, municipality=details.municipality),
        say("contact_route", route=details.route_description),
    ]
    if details.council_name and details.council_website:
        lines.append(say("contact_council_web", council=details.council_name, website=details.council_website))
    elif details.council_name:
        lines.append(say("contact_council", council=details.council_name))
    if details.phone:
        lines.append(say("contact_phone", municipality=details.municipality, phone=details.phone))
    if details.website:
        lines.append(say("contact_website", website=details.website))
    return "\n\n".join(lines)


class ValidateContactForm(AreaValidation, FormValidationAction):
    def name(self) -> str:
        return "validate_contact_form"


class ActionContact(Action):
    def name(self) -> str:
        return "action_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        services = get_services()
        area = slot_area(tracker)
        if area is None:
            dispatcher.utter_message(text=say("missing_answers"))
            return cleared(AREA_SLOTS)
        sender = sender_of(tracker)
        postcode = slot_text(tracker, "postcode")

        def work(session: Session) -> ContactDetails:
            if sender.telegram_id is not None:
                remember_home_area(session, sender, area_code=area.code, postcode=postcode)
            return contact_details(session, services.registry, services.rules, area_code=area.code)

        details = await in_transaction(work)
        dispatcher.utter_message(text=contact_text(details))
        return cleared(AREA_SLOTS)


class ActionBudget(Action):
    """Money and support for initiatives: the municipality's own text (profiles.yaml), for the resident's
    municipality when the database knows their area, else for every municipality served."""

    def name(self) -> str:
        return "action_budget"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        registry = get_services().registry
        home = await home_area_code(tracker)
        municipalities = (
            [registry.municipality(registry.area(home).municipality_code)] if home else list(registry.municipalities)
        )
        texts = [say("budget", municipality=m.name, budget=m.budget) for m in municipalities if m.budget]
        texts.append(say("budget_share"))
        buttons = [button(button_title("button_share_idea"), intent_payload("share_idea"))]
        dispatcher.utter_message(text="\n\n".join(texts), buttons=buttons)
        return []
