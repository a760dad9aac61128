"""Put the registry's municipalities, areas, buurten and councils into the database (postcodes are resolved
from the registry itself: wijkbot.postcodes)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from db import models
from wijkbot.municipalities import Registry


@dataclass(frozen=True)
class LoadReport:
    municipalities: int
    areas: int
    buurten: int
    bodies: int
    changed: int


def load_registry_into_db(session: Session, registry: Registry) -> LoadReport:
    """Insert or update every row the registry describes; running it twice changes nothing."""
    changed = 0

    def upsert(model: type[models.Base], key: object, **values: object) -> None:
        nonlocal changed
        row = session.get(model, key)
        if row is None:
            session.add(model(**values))
            changed += 1
            return
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed += 1

    counts = {"areas": 0, "buurten": 0, "bodies": 0}
    for m in registry.municipalities:
        upsert(
            models.Municipality,
            m.code,
            code=m.code,
            name=m.name,
            staff_title=m.staff_title,
            council_title=m.council_title,
        )
        session.flush()
        for body in m.bodies:
            upsert(
                models.Body,
                body.id,
                id=body.id,
                municipality_code=m.code,
                name=body.name,
                kind=body.kind,
                website=body.website,
            )
            counts["bodies"] += 1
        session.flush()
        for area in m.areas:
            upsert(
                models.Area,
                area.code,
                code=area.code,
                municipality_code=m.code,
                name=area.name,
                kind=area.kind,
                population=area.population,
                body_id=area.body_id,
            )
            counts["areas"] += 1
        session.flush()
        for area in m.areas:
            for buurt in area.buurten:
                upsert(
                    models.Buurt,
                    buurt.code,
                    code=buurt.code,
                    area_code=area.code,
                    name=buurt.name,
                    population=buurt.population,
                    pc4=buurt.pc4,
                )
                counts["buurten"] += 1
    session.flush()
    return LoadReport(municipalities=len(registry.municipalities), changed=changed, **counts)
