"""Migrations go up and down on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from db.migrate import downgrade, upgrade
from db.models import Base
from db.session import make_engine


def test_migrations_go_up_down_and_up_again(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(database_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    downgrade(database_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_the_fencing_migration_keeps_queued_messages_and_goes_back_without_uncertain_rows(database_url: str) -> None:
    upgrade(database_url, "0007")
    engine = make_engine(database_url)
    insert = text(
        "INSERT INTO outbox (purpose, recipient_chat_id, method, payload, status, priority, attempts, not_before, "
        "created_at) VALUES (:p, 42, 'sendMessage', '{}', :s, 0, 0, :t, :t)"
    )
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(insert, {"p": "queued", "s": "pending", "t": at})
    upgrade(database_url)
    with engine.begin() as connection:
        row = connection.execute(text("SELECT status, claim_token, uncertain_at FROM outbox")).one()
        assert tuple(row) == ("pending", None, None)
        connection.execute(text("UPDATE outbox SET status = 'uncertain'"))
    downgrade(database_url, "0007")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT purpose, status FROM outbox")).one() == ("queued", "failed")
        assert "claim_token" not in {c["name"] for c in inspect(connection).get_columns("outbox")}
    engine.dispose()


def test_the_unread_postcode_table_goes_and_comes_back_empty(database_url: str) -> None:
    upgrade(database_url, "0009")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO municipality (code, name, staff_title, council_title) VALUES ('GM0826', 'O', 'w', 'r')")
        )
        assert "postcode_area" in inspect(connection).get_table_names()
    upgrade(database_url)
    with engine.connect() as connection:
        assert "postcode_area" not in inspect(connection).get_table_names()
        assert connection.execute(text("SELECT name FROM municipality")).scalar_one() == "O"
    downgrade(database_url, "0009")
    with engine.connect() as connection:
        assert {c["name"] for c in inspect(connection).get_columns("postcode_area")} == {"pc4", "area_code"}
        assert connection.execute(text("SELECT count(*) FROM postcode_area")).scalar_one() == 0
    engine.dispose()


def test_the_resident_source_comes_and_goes_keeping_the_residents(database_url: str) -> None:
    upgrade(database_url, "0011")
    engine = make_engine(database_url)
    insert = text(
        "INSERT INTO resident (telegram_id, outreach_opt_in, blocked, created_at, last_seen_at) "
        "VALUES (77, :yes, :no, :t, :t)"
    )
    with engine.begin() as connection:
        connection.execute(insert, {"yes": True, "no": False, "t": datetime(2026, 12, 1, tzinfo=UTC)})
    upgrade(database_url)
    with engine.begin() as connection:
        assert tuple(connection.execute(text("SELECT telegram_id, source FROM resident")).one()) == (77, None)
        connection.execute(text("UPDATE resident SET source = 'flyer'"))
    downgrade(database_url, "0011")
    with engine.connect() as connection:
        assert "source" not in {c["name"] for c in inspect(connection).get_columns("resident")}
        assert connection.execute(text("SELECT telegram_id, outreach_opt_in FROM resident")).one() == (77, True)
    upgrade(database_url)
    engine.dispose()
