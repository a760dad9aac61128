"""The hot path's cached insert (db.statements), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from db import models
from db.models import utcnow
from db.session import transaction
from db.statements import insert_new
from wijkbot.services import Services

COLUMNS = ("update_id", "chat_id", "kind", "payload", "status", "attempts", "received_at")


def test_an_insert_returns_the_new_key_then_nothing_for_the_same_key_and_stores_typed_values(
    services: Services,
) -> None:
    statement = insert_new(models.InboundUpdate, COLUMNS, "update_id")
    values = {
        "update_id": 31,
        "chat_id": 5,
        "kind": "text",
        "payload": {"tekst": "hoi"},
        "status": "pending",
        "attempts": 0,
        "received_at": utcnow(),
    }
    with transaction(services.sessions) as session:
        first = session.connection().execute(statement, values).first()
        again = session.connection().execute(statement, values | {"payload": {"tekst": "anders"}}).first()
    assert (tuple(first) if first else None, again) == ((31,), None)
    with transaction(services.sessions) as session:
        row = session.get_one(models.InboundUpdate, 31)
        assert (row.payload, row.received_at) == ({"tekst": "hoi"}, values["received_at"])


def test_the_statement_is_built_once_and_refuses_a_column_the_table_lacks() -> None:
    built = insert_new(models.InboundUpdate, COLUMNS, "update_id")
    assert insert_new(models.InboundUpdate, COLUMNS, "update_id") is built
    with pytest.raises(ValueError, match="no column colour"):
        insert_new(models.InboundUpdate, ("update_id", "colour"), "update_id")
