"""Who is my contact, budget, and outreach consent for my area."""

from __future__ import annotations

from sqlalchemy import select

from actions.contact import ActionBudget, ActionContact
from actions.outreach import ActionSubscribe, ActionUnsubscribe
from db import models
from db.session import transaction
from tests.actions.support import SENDER, run, texts, tracker
from tests.factories import make_staff
from wijkbot.services import Services


def resident(services: Services) -> models.Resident | None:
    with transaction(services.sessions) as session:
        return session.scalars(select(models.Resident).where(models.Resident.telegram_id == int(SENDER))).one_or_none()


async def test_the_contact_is_the_areas_role_council_and_public_details(actions_services: Services) -> None:
    with transaction(actions_services.sessions) as session:
        make_staff(session, actions_services.registry, areas=["WK082810"], role="wijkcoordinator", name="Geheim")
    _, messages = await run(ActionContact(), tracker(slots={"area_code": "WK082810", "postcode": "5351AB"}))
    text = texts(messages)[0]
    assert "Je woont in Berghem (gemeente Oss)." in text
    assert "de wijkcoördinator van Berghem" in text
    assert "Ook de Dorpsraad Berghem denkt mee over je buurt: http://dorpsraadberghem.nl/" in text
    assert "14 0412" in text and "https://www.oss.nl" in text
    assert "Geheim" not in text  # staff names are not public
    home = resident(actions_services)
    assert home is not None and (home.area_code, home.postcode) == ("WK082810", "5351AB")


async def test_budget_is_the_municipalitys_own_text(actions_services: Services) -> None:
    _, messages = await run(ActionBudget(), tracker())
    text = texts(messages)[0]
    for municipality in actions_services.registry.municipalities:
        assert municipality.budget.replace("€", "€") in text
    assert messages[0]["buttons"] == [{"title": "Ik heb een idee", "payload": "/share_idea"}]


async def test_subscribing_stores_consent_and_home_area_and_unsubscribing_removes_consent(
    actions_services: Services,
) -> None:
    _, messages = await run(ActionSubscribe(), tracker(slots={"area_code": "WK082613"}))
    assert texts(messages) == [
        "Je bent aangemeld. Je krijgt af en toe een bericht of een korte vraag over Dorst. Niet meer nodig? Typ /stop."
    ]
    stored = resident(actions_services)
    assert stored is not None and stored.outreach_opt_in and stored.area_code == "WK082613"
    assert stored.consent_via == "chat" and stored.consent_at is not None
    _, messages = await run(ActionSubscribe(), tracker(slots={"area_code": "WK082613"}))
    assert texts(messages)[0].startswith("Je bent al aangemeld.")

    _, messages = await run(ActionUnsubscribe(), tracker())
    assert texts(messages)[0].startswith("Je krijgt geen berichten meer")
    stored = resident(actions_services)
    assert stored is not None and not stored.outreach_opt_in and stored.consent_at is None
    _, messages = await run(ActionUnsubscribe(), tracker(sender="424242"))
    assert texts(messages)[0].startswith("Je krijgt nu geen berichten")
