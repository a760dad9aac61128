"""Who a resident's contact is for an area: the municipality's role, the council, public contact details.

Staff names are not public: the resident hears the role ("de wijkmakelaar van Dorst") and whether someone
covers the area, plus what the data holds publicly (municipality phone and website, council website).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from wijkbot.municipalities import Registry
from wijkbot.routing import Rule, route_item


@dataclass(frozen=True)
class ContactDetails:
    area_code: str
    area_label: str
    municipality: str
    staff_title: str
    route_description: str
    staffed: bool
    lead_title: str
    phone: str | None
    website: str | None
    council_name: str | None
    council_website: str | None


def contact_details(session: Session, registry: Registry, rules: Sequence[Rule], *, area_code: str) -> ContactDetails:
    """The contact for questions from this area, as routing would send them, and the public details."""
    area = registry.area(area_code)
    municipality = registry.municipality(area.municipality_code)
    route = route_item(session, registry, rules, kind="question", area_code=area_code)
    body = registry.body_for(area_code)
    return ContactDetails(
        area_code=area.code,
        area_label=area.label,
        municipality=municipality.name,
        staff_title=municipality.staff_title,
        route_description=route.description,
        staffed=not route.fallback,
        lead_title=municipality.lead_title,
        phone=municipality.phone,
        website=municipality.website,
        council_name=body.name if body else None,
        council_website=body.website if body else None,
    )
