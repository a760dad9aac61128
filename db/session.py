"""Engines and sessions. Nothing connects at import time: callers build an engine from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, wal: bool = True, **kwargs: Any) -> Engine:
    """An engine for DATABASE_URL; SQLite gets a parent folder, foreign keys, a busy timeout and WAL.

    `wal=False` leaves the journal mode alone: for a database another program owns (Rasa's tracker store).
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas if wal else _sqlite_busy_timeout)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")  # first, so the statements below wait for a lock too
    cursor.execute("PRAGMA foreign_keys=ON")
    # another connection may hold the file; it is in WAL mode from an earlier connection already
    with contextlib.suppress(sqlite3.OperationalError):
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


T = TypeVar("T")


async def in_thread(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """`work(session)` in one transaction (as `transaction`) in a worker thread, so an event loop never waits on
    the database: the one way the bot's async code reaches it (bot.runtime.Runtime.db, the conversation, the
    sender, the terminal chat)."""

    def run() -> T:
        with transaction(factory) as session:
            return work(session)

    return await asyncio.to_thread(run)
