"""Shared fixtures: real databases (SQLite always, PostgreSQL when one is reachable) and small factories."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.session import transaction
from wijkbot.municipalities import Registry, load_registry
from wijkbot.services import Services, open_services
from wijkbot.settings import Settings

pytest_plugins = ["tests.stack"]

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_server() -> str | None:
    """The admin URL of a reachable PostgreSQL server, or None."""
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
        return POSTGRES_URL
    except OperationalError:
        return None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = _postgres_server()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have PostgreSQL at {POSTGRES_URL}")
        pytest.skip(f"no PostgreSQL server reachable at {POSTGRES_URL} (set TEST_POSTGRES_URL)")
    return url


def _fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    name = f"wijkbot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, and a fresh PostgreSQL database where a server is reachable."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wijkbot.db'}"
    else:
        yield from _fresh_postgres_database(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'wijkbot.db'}"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """Migrated database with the municipality data loaded."""
    opened = open_services(settings)
    yield opened
    opened.close()


@pytest.fixture
def session(services: Services) -> Iterator[Session]:
    with transaction(services.sessions) as s:
        yield s
