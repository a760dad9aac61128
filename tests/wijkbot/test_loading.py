"""Loading the municipality data into the database."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import models
from wijkbot.loading import load_registry_into_db
from wijkbot.municipalities import Registry


def _counts(session: Session) -> dict[str, int]:
    tables = [models.Municipality, models.Area, models.Buurt, models.Body]
    return {t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0 for t in tables}


def test_the_data_is_in_the_database_after_start(session: Session, registry: Registry) -> None:
    counts = _counts(session)
    assert counts["municipality"] == 2
    assert counts["area"] == 37
    assert counts["body"] == 11
    assert session.get(models.Area, "WK082613").name == "Dorst"  # type: ignore[union-attr]


def test_loading_the_data_twice_changes_nothing(session: Session, registry: Registry) -> None:
    before = _counts(session)
    report = load_registry_into_db(session, registry)
    assert report.changed == 0
    assert _counts(session) == before


def test_loading_repairs_a_changed_row(session: Session, registry: Registry) -> None:
    area = session.get(models.Area, "WK082613")
    assert area is not None
    area.name = "Verkeerd"
    session.flush()
    assert load_registry_into_db(session, registry).changed == 1
    assert area.name == "Dorst"
