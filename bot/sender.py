"""The outbox sender: the only code that sends. Claims due rows, sends them under Telegram's limits.

Limits: about 30 messages a second overall, one a second per private chat, 20 a minute per group;
a 429 pauses everything for `retry_after`. A row is marked sent or failed right after its call, so a
restart resumes with what is left. Writing a row and calling `wake()` sends it at once; the periodic
tick is only a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from db.models import utcnow
from db.session import transaction
from wijkbot.outbox import claim_due, mark_failed, mark_sent, postpone
from wijkbot.residents import mark_blocked
from wijkbot.services import Services

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


class Blocked(Exception):
    """The recipient blocked the bot or deleted their account (403)."""


class RetryLater(Exception):
    """Telegram asked to wait (429) for `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Rejected(Exception):
    """Telegram refused this message for good (400)."""


class Transient(Exception):
    """A network error or a 5xx: try again later."""


@dataclass(frozen=True)
class Outgoing:
    """A claimed row, detached from the session."""

    id: int
    chat_id: int
    method: str
    payload: dict[str, Any]
    attempts: int


class Transport(Protocol):
    async def send(self, message: Outgoing) -> int | None:
        """Deliver one message; return Telegram's message id. Raise Blocked/RetryLater/Rejected/Transient."""


class RateLimiter:
    """An overall token bucket plus a minimum gap per chat (longer for groups)."""

    def __init__(self, per_second: float | None = 30.0, per_chat_gap: float = 1.0, group_gap: float = 3.0) -> None:
        self.per_second = per_second
        self.per_chat_gap = per_chat_gap
        self.group_gap = group_gap
        self._next_slot = 0.0
        self._chat_next: dict[int, float] = defaultdict(float)
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, chat_id: int) -> None:
        while True:
            now = time.monotonic()
            wait = max(self._paused_until, self._chat_next[chat_id]) - now
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if self.per_second:
                async with self._lock:
                    now = time.monotonic()
                    slot = max(now, self._next_slot)
                    self._next_slot = slot + 1.0 / self.per_second
                if slot > now:
                    await asyncio.sleep(slot - now)
            if time.monotonic() < self._paused_until:
                continue
            self._chat_next[chat_id] = time.monotonic() + (self.group_gap if chat_id < 0 else self.per_chat_gap)
            return


class OutboxSender:
    """Claims and sends outbox rows until stopped."""

    def __init__(
        self,
        services: Services,
        transport: Transport,
        *,
        limiter: RateLimiter | None = None,
        tick_seconds: float = 2.0,
        batch: int = 200,
        concurrency: int = 32,
        on_sent: Callable[[Outgoing, int | None], None] | None = None,
    ) -> None:
        self.services = services
        self.transport = transport
        self.limiter = limiter or RateLimiter()
        self.tick_seconds = tick_seconds
        self.batch = batch
        self.concurrency = concurrency
        self.worker = f"sender-{uuid.uuid4().hex[:8]}"
        self.on_sent = on_sent
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something was queued: send now rather than at the next tick. Safe from any thread."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and self._task is not None and self._task.get_loop() is loop:
            self._wake.set()
        elif self._task is not None:
            self._task.get_loop().call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="outbox-sender")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.send_due()
            except Exception:  # the sender must survive a database hiccup
                log.exception("outbox sender round failed; retrying")
                sent = 0
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.tick_seconds)
            self._wake.clear()

    async def send_due(self) -> int:
        """Claim one batch and send it; returns how many rows were handled."""
        self._wake.clear()
        rows = await asyncio.to_thread(self._claim)
        if not rows:
            return 0
        by_chat: dict[int, list[Outgoing]] = defaultdict(list)
        for row in rows:
            by_chat[row.chat_id].append(row)
        gate = asyncio.Semaphore(self.concurrency)

        async def send_chat(messages: list[Outgoing]) -> None:
            async with gate:
                for position, message in enumerate(messages):
                    held_until = await self._send_one(message)
                    if held_until is not None:
                        # keep this chat's order: the rest waits as long as the message before it
                        rest = [m.id for m in messages[position + 1 :]]
                        await asyncio.to_thread(self._release, rest, held_until)
                        return

        await asyncio.gather(*(send_chat(messages) for messages in by_chat.values()))
        return len(rows)

    def _claim(self) -> list[Outgoing]:
        with transaction(self.services.sessions) as session:
            return [
                Outgoing(r.id, r.recipient_chat_id, r.method, dict(r.payload), r.attempts)
                for r in claim_due(session, worker=self.worker, limit=self.batch)
            ]

    def _release(self, row_ids: list[int], until: datetime) -> None:
        with transaction(self.services.sessions) as session:
            for row_id in row_ids:
                postpone(session, row_id=row_id, until=until, count_attempt=False)

    def _record(self, work: Callable[[Session], None]) -> None:
        with transaction(self.services.sessions) as session:
            work(session)

    async def _send_one(self, message: Outgoing) -> datetime | None:
        """Send one row and record the result; a time when the rest of this chat must wait until then."""
        await self.limiter.acquire(message.chat_id)
        held_until: datetime | None = None
        try:
            message_id = await self.transport.send(message)
        except RetryLater as exc:
            self.limiter.pause(exc.seconds)
            held_until = utcnow() + timedelta(seconds=exc.seconds)
            record = self._postponer(message.id, held_until, str(exc), count_attempt=False)
        except Blocked as exc:
            record = self._failer(message.id, str(exc), blocked_chat=message.chat_id)
        except Rejected as exc:
            log.warning("outbox row %s rejected: %s", message.id, exc)
            record = self._failer(message.id, str(exc))
        except Transient as exc:
            if message.attempts + 1 >= MAX_ATTEMPTS:
                record = self._failer(message.id, str(exc))
            else:
                held_until = utcnow() + timedelta(seconds=min(2 ** (message.attempts + 1), 300))
                record = self._postponer(message.id, held_until, str(exc), count_attempt=True)
        else:

            def record(session: Session) -> None:
                mark_sent(
                    session,
                    row_id=message.id,
                    telegram_message_id=message_id,
                    forget=bool(message.payload.get("ephemeral")),
                )

            if self.on_sent is not None:
                self.on_sent(message, message_id)
        await asyncio.to_thread(self._record, record)
        return held_until

    @staticmethod
    def _postponer(row_id: int, until: datetime, error: str, *, count_attempt: bool) -> Callable[[Session], None]:
        def record(session: Session) -> None:
            postpone(session, row_id=row_id, until=until, error=error, count_attempt=count_attempt)

        return record

    @staticmethod
    def _failer(row_id: int, error: str, *, blocked_chat: int | None = None) -> Callable[[Session], None]:
        def record(session: Session) -> None:
            mark_failed(session, row_id=row_id, error=error)
            if blocked_chat is not None:
                mark_blocked(session, telegram_id=blocked_chat)

        return record
