"""Run Alembic migrations programmatically; every wijkbot command calls `upgrade` first.

Several processes can meet on a new database (two bot workers, a cron job and an administrator), so every
schema change and the data load run under `migration_lock`: a PostgreSQL advisory lock, or a lock file next
to a SQLite database. The lock is held per call and never nested.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from db.session import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_lock takes a bigint; any constant that other programs on the same server are unlikely to use
ADVISORY_LOCK_KEY = 0x77696A6B626F74  # "wijkbot"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Hold the database's migration lock: other processes wait here until this one is done."""
    database_file = sqlite_file(url)
    if database_file is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
        with open(database_file.with_name(database_file.name + ".migrate-lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if url.startswith("postgresql"):
        engine = make_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
                connection.commit()
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                    connection.commit()
        finally:
            engine.dispose()
        return
    yield


def upgrade(url: str, revision: str = "head") -> None:
    with migration_lock(url):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    with migration_lock(url):
        command.downgrade(alembic_config(url), revision)
