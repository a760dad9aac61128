"""The contact for an area: role, council and public details; staff names stay private."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import make_staff
from wijkbot.contacts import contact_details
from wijkbot.services import Services


def test_a_staffed_area_names_the_role_and_the_council(session: Session, services: Services) -> None:
    make_staff(session, services.registry, areas=["WK082810"], role="wijkcoordinator", name="Geheim")
    details = contact_details(session, services.registry, services.rules, area_code="WK082810")
    assert details.staffed and details.route_description == "de wijkcoördinator van Berghem"
    assert (details.council_name, details.council_website) == ("Dorpsraad Berghem", "http://dorpsraadberghem.nl/")
    assert (details.phone, details.website) == ("14 0412", "https://www.oss.nl")
    assert "Geheim" not in repr(details)


def test_an_area_nobody_covers_points_at_the_municipality_team(session: Session, services: Services) -> None:
    details = contact_details(session, services.registry, services.rules, area_code="WK082613")
    assert not details.staffed
    assert details.route_description == "het team wijkgericht werken van de gemeente Oosterhout"
    assert details.council_name is None and details.area_label == "Dorst"
