"""Part 5, start-up: from nothing running (a fresh, empty database) until the whole stack answers a first message.

The order is `wijkbot run`'s: the action server and Rasa start together (Rasa loads the model), then the
bot (it migrates the empty database and loads the municipality data), then a new resident says hello.
"""

from __future__ import annotations

import time
from typing import Any

from bench.stack import Stack

FIRST_RESIDENT = 610_000_001


async def measure(stack: Stack) -> dict[str, Any]:
    started = time.monotonic()
    await stack.start_backends()
    backends = time.monotonic()
    await stack.start_bot()
    bot = time.monotonic()
    answered, _update_id = await stack.bot_turn(FIRST_RESIDENT, "hallo")
    done = time.monotonic()
    return {
        "seconds_to_first_answer": round(done - started, 1),
        "backends_up_s": round(backends - started, 1),
        "bot_up_s": round(bot - backends, 1),
        "first_turn_s": round(answered, 2) if answered is not None else None,
        "answered": answered is not None,
    }
