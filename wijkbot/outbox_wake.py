"""Tell the outbox sender of this process that rows were queued, from any thread.

The bot registers its sender's `wake` (thread-safe) when it starts; code outside the bot's handlers that
queues messages in the same process (the web workspace) calls `queued()`, so a reply leaves at once instead
of at the sender's next tick. With no sender listening (a CLI command) nothing happens; the tick of the
running bot is the safety net.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_lock = threading.Lock()
_listeners: list[Callable[[], None]] = []


def listen(wake: Callable[[], None]) -> Callable[[], None]:
    """Call `wake` after every `queued()`; returns the function that stops it."""
    with _lock:
        _listeners.append(wake)

    def stop() -> None:
        with _lock:
            if wake in _listeners:
                _listeners.remove(wake)

    return stop


def queued() -> None:
    """Rows were queued: wake every listening sender."""
    with _lock:
        listeners = list(_listeners)
    for wake in listeners:
        wake()
