"""The shared clients and data one process needs: settings, database, registry and routing rules."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.migrate import migration_lock, upgrade
from db.session import make_engine, make_sessionmaker, transaction
from wijkbot.loading import load_registry_into_db
from wijkbot.municipalities import Registry, registry_for
from wijkbot.routing import Rule, load_rules
from wijkbot.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    registry: Registry
    rules: tuple[Rule, ...]

    def close(self) -> None:
        self.engine.dispose()


def open_services(settings: Settings, *, prepare_database: bool = True) -> Services:
    """Connect, bring the database up to date and load the municipality data (idempotent)."""
    registry = registry_for(settings.municipality_codes)
    rules = load_rules(registry)
    if prepare_database:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    if prepare_database:
        with migration_lock(settings.database_url), transaction(sessions) as session:
            load_registry_into_db(session, registry)
    return Services(settings=settings, engine=engine, sessions=sessions, registry=registry, rules=rules)
