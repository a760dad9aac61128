"""Every model in db/models.py has its factory in tests/factories.py, and each makes a row a real database takes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from db import models
from tests import factories
from wijkbot.municipalities import Registry


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


MODELS = sorted(
    (mapper.class_ for mapper in models.Base.registry.mappers),
    key=lambda cls: cls.__name__,
)
# the factory of a model named otherwise than make_<model in snake case>
NAMED_OTHERWISE = {"StaffMember": "make_staff"}


def factory_of(model: type) -> Callable[..., Any]:
    return getattr(factories, NAMED_OTHERWISE.get(model.__name__, f"make_{snake(model.__name__)}"))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_has_a_factory(model: type) -> None:
    assert callable(factory_of(model))


def test_the_model_list_is_the_whole_schema() -> None:
    assert {m.__tablename__ for m in MODELS} == set(models.Base.metadata.tables)


def _made(model: type, session: Session, registry: Registry) -> Any:
    """A row of `model` from its factory, with the rows it needs made first by theirs."""
    make = factory_of(model)
    staff = factories.make_staff(session, registry, areas=[factories.DEN_HOUT])
    resident = factories.make_resident(session, area_code=factories.DEN_HOUT)
    needs: dict[str, dict[str, Any]] = {
        "StaffMember": {"areas": [factories.DEN_HOUT]},
        "StaffArea": {"staff": staff, "area_code": "WK082613"},
        "WebLogin": {"staff": staff},
        "ItemRecipient": {
            "item": factories.make_item(session, registry),
            "staff": factories.make_staff(session, registry, areas=["WK082613"], name="Kees"),
        },
        "ItemEvent": {"item": factories.make_item(session, registry), "staff": staff},
        "PollBallot": {"poll": factories.make_poll(session), "resident": resident},
        "PollTally": {"poll": factories.make_poll(session)},
        "OutreachContact": {"resident": resident},
        "OpenQuestion": {"resident": resident},
        "TurnEffect": {"telegram_id": resident.telegram_id},
        "Supporter": {"initiative": factories.make_initiative(session, registry)},
    }
    with_registry = {"StaffMember", "Item", "Initiative", "Supporter"}
    arguments = needs.get(model.__name__, {})
    return make(session, registry, **arguments) if model.__name__ in with_registry else make(session, **arguments)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_factory_makes_a_row_of_its_model(model: type, session: Session, registry: Registry) -> None:
    row = _made(model, session, registry)
    assert isinstance(row, model)
    state = inspect(row)
    assert state is not None
    identity = state.identity
    assert identity is not None, "the factory flushes the row"
    assert session.get(model, identity) is row


def test_two_rows_from_one_factory_do_not_collide(session: Session, registry: Registry) -> None:
    first, second = factories.make_resident(session), factories.make_resident(session)
    assert first.telegram_id != second.telegram_id
    assert factories.make_item(session, registry).id != factories.make_item(session, registry).id
