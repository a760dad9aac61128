"""The bot for the bench, in its own process, served as `wijkbot run` serves it (`bot.main.serve`, long polling).

The bench sets the environment (Telegram base URL of the fake Bot API, database, Rasa). With
BENCH_SENDER_UNLIMITED=1 the outbox sender runs without Telegram's limits (no overall rate, no per-chat gap),
to measure what the code itself can send. With BENCH_PROFILE_BOT=FILE the bot runs under cProfile (its event
loop's thread; the database work in worker threads is not seen) and writes the statistics to FILE when it
stops (read them with `python -m pstats FILE`).
"""

from __future__ import annotations

import logging
import os

import bot.sender
from bot.main import serve
from wijkbot.settings import Settings


class UnlimitedRateLimiter(bot.sender.RateLimiter):
    def __init__(self, per_second: float | None = None, per_chat_gap: float = 0.0, group_gap: float = 0.0) -> None:
        super().__init__(per_second=None, per_chat_gap=0.0, group_gap=0.0)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "job skipped: still running" under load
    if os.environ.get("BENCH_SENDER_UNLIMITED") == "1":
        bot.sender.RateLimiter = UnlimitedRateLimiter  # type: ignore[misc]
    settings = Settings()
    profile_to = os.environ.get("BENCH_PROFILE_BOT")
    if profile_to:
        import cProfile

        with cProfile.Profile() as profile:
            serve(settings)
        profile.dump_stats(profile_to)
        return
    serve(settings)


if __name__ == "__main__":
    main()
