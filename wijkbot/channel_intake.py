"""Handing what arrived on the web chat or WhatsApp to the bot of this process, from any thread.

The web app (its own thread and event loop) stores a channel message in the inbound log
(wijkbot.channels.receive), commits, then calls `dispatch(update)`; the bot registered its intake when it
started (bot/main.py) and queues the update for its handlers as one stored already. With no bot listening
(a CLI command) nothing happens here: the update stays pending in the inbound log, and the bot hands it to
its handlers when it starts (bot/intake.py). A button press on a channel without Telegram's alerts gets its
answer as a message (`notice`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_intakes: list[Callable[[dict[str, Any]], None]] = []


def listen(intake: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """Call `intake(update)` for every dispatched update (thread-safe on its side); returns how to stop."""
    with _lock:
        _intakes.append(intake)

    def stop() -> None:
        with _lock:
            if intake in _intakes:
                _intakes.remove(intake)

    return stop


def dispatch(update: dict[str, Any]) -> bool:
    """Hand a stored update to the listening bot; False when no bot listens (it is handled on the next start)."""
    with _lock:
        intakes = list(_intakes)
    for intake in intakes:
        intake(update)
    return bool(intakes)
