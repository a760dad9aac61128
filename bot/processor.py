"""Update processing: one resident's updates in order, different residents in parallel.

Each chat has a FIFO queue (its lock's waiters); only the update at the head of a chat's queue takes one
of the concurrency slots. An update waiting behind an earlier one of its own chat holds no slot, so one
resident forwarding a hundred messages while Rasa is slow cannot stall everybody else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# PTB's own gate (process_update, which we cannot override) is opened wide; our slots do the limiting.
_PTB_GATE = 2**30


class ChatLocks:
    """One FIFO lock per chat; unused locks are dropped so the table does not grow without end."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    @asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]

    def waiting(self, key: int) -> int:
        """How many updates of this chat are running or queued (for tests and logging)."""
        return self._users.get(key, 0)


def chat_key(update: object) -> int | None:
    """The chat (or user) an update belongs to, for ordering."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Runs updates concurrently, but never two of the same chat at once, and those in arrival order.

    At most `max_concurrent_updates` updates run at once; an update queued behind its own chat does not
    count (it waits for its chat first, and only then for a slot).
    """

    def __init__(self, max_concurrent_updates: int = 64, locks: ChatLocks | None = None) -> None:
        if max_concurrent_updates < 1:
            raise ValueError("`max_concurrent_updates` must be a positive integer!")
        super().__init__(_PTB_GATE)
        self._slot_count = max_concurrent_updates
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._running = 0
        self.locks = locks or ChatLocks()

    @property
    def max_concurrent_updates(self) -> int:
        return getattr(self, "_slot_count", _PTB_GATE)

    @property
    def current_concurrent_updates(self) -> int:
        """Updates holding a slot now (running), not those queued behind their chat."""
        return self._running

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        async with self._slots:
            self._running += 1
            try:
                yield
            finally:
                self._running -= 1

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            async with self._slot():
                await coroutine
            return
        # first in line for this chat (no slot held while queued), then a slot
        async with self.locks.hold(key), self._slot():
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
