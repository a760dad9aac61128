"""The bot for the bench, in its own process, served as `wijkbot run` serves it (`bot.main.serve`, long polling).

The bench sets the environment (Telegram base URL of the fake Bot API, database, Rasa). With
BENCH_SENDER_UNLIMITED=1 the outbox sender runs without Telegram's limits (no overall rate, no per-chat gap),
to measure what the code itself can send. With BENCH_PROFILE_BOT=FILE the bot runs under cProfile and writes
the statistics when it stops: its event loop's thread to FILE, every database transaction (run in worker
threads by db.session.in_thread) to FILE.db (read them with `python -m pstats FILE`).
"""

from __future__ import annotations

import cProfile
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

import bot.main
import bot.sender
import db.session
from bot.main import serve
from wijkbot.settings import Settings


class UnlimitedRateLimiter(bot.sender.RateLimiter):
    def __init__(self, per_second: float | None = None, per_chat_gap: float = 0.0, group_gap: float = 0.0) -> None:
        super().__init__(per_second=None, per_chat_gap=0.0, group_gap=0.0)


class TransactionProfiles:
    """cProfile around every transaction `db.session.in_thread` runs, one profile per worker thread."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._transaction = db.session.transaction

    def install(self) -> None:
        db.session.transaction = self.transaction  # type: ignore[assignment]  # looked up by in_thread each call

    @contextmanager
    def transaction(self, factory: sessionmaker[Session]) -> Iterator[Session]:
        profile = getattr(self._local, "profile", None)
        if profile is None:
            profile = self._local.profile = cProfile.Profile()
            with self._lock:
                self.profiles.append(profile)
        profile.enable()
        try:
            with self._transaction(factory) as session:
                yield session
        finally:
            profile.disable()

    def dump(self, path: str) -> None:
        import pstats

        with self._lock:
            profiles = list(self.profiles)
        if profiles:
            stats = pstats.Stats(profiles[0])
            for profile in profiles[1:]:
                stats.add(profile)
            stats.dump_stats(path)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "job skipped: still running" under load
    if os.environ.get("BENCH_SENDER_UNLIMITED") == "1":
        bot.sender.RateLimiter = UnlimitedRateLimiter  # type: ignore[misc]
        bot.main.RateLimiter = UnlimitedRateLimiter  # type: ignore[misc]  # the Telegram limiter is made there
    settings = Settings()
    profile_to = os.environ.get("BENCH_PROFILE_BOT")
    if profile_to:
        transactions = TransactionProfiles()
        transactions.install()
        with cProfile.Profile() as profile:
            serve(settings)
        profile.dump_stats(profile_to)
        transactions.dump(profile_to + ".db")
        return
    serve(settings)


if __name__ == "__main__":
    main()
