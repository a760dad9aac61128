"""The outbox sender: the only code that sends. Claims due rows, sends them under Telegram's limits.

Limits: about 30 messages a second overall, one a second per private chat, 20 a minute per group;
a 429 pauses everything for `retry_after`. A row is marked sent or failed right after its call, so a
restart resumes with what is left. Every time it compares or stamps (due, held until, sent at) comes
from its `clock`, the bot's one injected clock. Writing a row and calling `wake()` sends it at once; the
periodic tick is only a safety net. What is checked when rows are claimed (outreach opt-outs and quiet
hours, one upload per file) and recorded after a send (a poll's id, a file's id) is in two lists in
wijkbot.send_hooks; the sender only walks them.

Claims are fenced (wijkbot.outbox): right before each call the claim is renewed and the start noted
(`begin_send`); a row another sender took over meanwhile is not sent, and a result is recorded only under
the claim's own token. A send that may have arrived (`Uncertain`), or a reclaimed row whose earlier
sender had started its call, is handled by its row's policy (wijkbot.delivery): retried when idempotent,
otherwise not re-sent at once. Failed rows to staff are reported to the inbox (wijkbot.delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from sqlalchemy.orm import Session

from bot.processor import ChatLocks
from db.models import OutboxMessage, utcnow
from db.session import in_thread
from wijkbot.channels import WEB, forget_address, number_web_message
from wijkbot.delivery import (
    IDEMPOTENT_METHODS,
    MAX_TRANSIENT_ATTEMPTS,
    record_failure,
    record_transient,
    record_uncertain,
)
from wijkbot.outbox import (
    apply_early_statuses,
    begin_send,
    claim_due,
    enqueue,
    enqueue_claimed,
    hold_queued,
    mark_sent,
    postpone,
)
from wijkbot.payloads import Delivery, Payload, Text, UnreadablePayload
from wijkbot.purposes import Purpose
from wijkbot.residents import mark_blocked
from wijkbot.send_hooks import DELIVERY_HOOKS, ClaimFilter, DeliveryHook, claim_filters, prepare
from wijkbot.services import Services

log = logging.getLogger(__name__)
MAX_ATTEMPTS = MAX_TRANSIENT_ATTEMPTS
RENEW_AFTER = timedelta(seconds=30)  # well within claim_due's stale_after (2 minutes)
# A chat's rows in one batch go out one gap apart: 30 of them take 30 s in a private chat and 90 s in a group,
# inside claim_due's stale_after (2 minutes), so no other sender takes the end of a batch over as abandoned.
PER_CHAT = 30


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
    """A 5xx, or a network error before the request went out: try again later."""


class Deferred(Exception):
    """This message cannot go out now, through no fault of its own (WhatsApp: the resident's 24-hour window is
    closed and there is no template for it): it waits `seconds`, no attempt counted; the rest of its chat is
    not held (a template after it may go out), unless `hold_chat` (Meta's limit per resident)."""

    def __init__(self, seconds: float, reason: str, *, hold_chat: bool = False) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.hold_chat = hold_chat  # the rest of the chat waits too (a limit per resident, not per message)


class Uncertain(Exception):
    """The request went out but no answer came back (a timeout, a connection lost): it may have arrived."""


@dataclass(frozen=True)
class Outgoing:
    """A claimed row, detached from the session: its message typed (wijkbot.payloads)."""

    id: int
    chat_id: int
    payload: Payload
    attempts: int
    token: str = ""  # the claim's fencing token (wijkbot.outbox)
    maybe_sent: bool = False  # reclaimed from a sender that had started its call: it may have arrived
    channel: str = "telegram"  # whose transport sends it (wijkbot.channels)
    begun: bool = False  # its `begin_send` was written with its claim (`OutboxSender.claim_chat`)

    @property
    def method(self) -> str:
        return self.payload.METHOD


class Transport(Protocol):
    async def send(self, message: Outgoing) -> int | Delivery | None:
        """Deliver one message; return Telegram's message id (or a Delivery). Raise Blocked/RetryLater/
        Rejected/Transient/Uncertain/Deferred."""


class RateLimiter:
    """An overall limit plus a minimum gap per chat (longer for groups).

    Overall: sends are spaced 1/per_second apart, and never more than per_second are granted in any
    second (a sliding window over the real grant times), so a stalled event loop cannot catch up in a burst.
    """

    WINDOW = 1.05  # a second, with a margin for the network's jitter

    def __init__(self, per_second: float | None = 30.0, per_chat_gap: float = 1.0, group_gap: float = 3.0) -> None:
        self.per_second = per_second
        self.per_chat_gap = per_chat_gap
        self.group_gap = group_gap
        self._last_grant = 0.0
        self._granted: deque[float] = deque(maxlen=max(1, int(per_second or 1)))
        self._chat_next: dict[int, float] = defaultdict(float)
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def free(self, chat_id: int) -> bool:
        """Whether a message to this chat would be granted now, without waiting."""
        now = time.monotonic()
        return self._chat_next.get(chat_id, 0.0) <= now and self._overall_wait(now) <= 0

    def _overall_wait(self, now: float) -> float:
        if not self.per_second:
            return self._paused_until - now
        full = len(self._granted) == self._granted.maxlen
        window_free = self._granted[0] + self.WINDOW if full else 0.0
        return max(self._paused_until, window_free, self._last_grant + 1.0 / self.per_second) - now

    async def acquire(self, chat_id: int) -> None:
        while True:
            wait = self._chat_next[chat_id] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            async with self._lock:  # grants in turn, first come first served
                while (wait := self._overall_wait(time.monotonic())) > 0:
                    await asyncio.sleep(wait)
                now = time.monotonic()
                self._last_grant = now
                self._granted.append(now)
            self._chat_next[chat_id] = now + (self.group_gap if chat_id < 0 else self.per_chat_gap)
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
        # A batch is sent whole before the next is claimed. 60 rows are two seconds at Telegram's 30 a second:
        # a broadcast's invitation and poll to one resident, a second apart, then both fit in one batch while
        # the other residents' messages fill that second (30 rows left the limit idle a third of the time).
        batch: int = 60,
        concurrency: int = 32,  # chats of one batch sent at once (one waiting out its gap holds its place)
        on_sent: Callable[[Outgoing, int | None], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        channels: Mapping[str, tuple[Transport, RateLimiter]] | None = None,
    ) -> None:
        self.services = services
        self.transport = transport
        self.limiter = limiter or RateLimiter()
        # the transport and limits of every configured channel besides Telegram's (wijkbot.channels)
        self.channels: dict[str, tuple[Transport, RateLimiter]] = dict(channels or {})
        self.tick_seconds = tick_seconds
        self.batch = batch
        self.concurrency = concurrency
        self.worker = f"sender-{uuid.uuid4().hex[:8]}"
        self.on_sent = on_sent
        self.clock = clock
        self.claim_filters: list[ClaimFilter] = claim_filters(services.settings)
        self.delivery_hooks: list[DeliveryHook] = list(DELIVERY_HOOKS)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._handed: set[asyncio.Task[int]] = set()  # rows claimed with a conversation's replies, being sent
        self._chats = ChatLocks()  # a chat's rows go out one send at a time: the loop's and the handed ones

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
        while self._handed:  # what was handed over is sent (and recorded) before the sender stops
            await asyncio.gather(*self._handed, return_exceptions=True)

    def claim_chat(self, session: Session, *, chat_id: int) -> list[Outgoing]:
        """Claim this chat's due rows in the caller's transaction (the one that queued a conversation's
        replies), for `hand` to send at once: a reply leaves without waiting for the loop to wake and claim
        it. Nothing is claimed while another claim holds a row of this chat (the loop keeps that order), nor
        once the sender stops. The first row's `begin_send` is written here too when its chat's limits let
        it go at once (as `_hold_claim` would write it right before the call)."""
        if self._stopping:
            return []
        now = self.clock()
        rows = claim_due(session, worker=self.worker, limit=self.batch, now=now, chat_id=chat_id, per_chat=PER_CHAT)
        claimed = self._outgoing(session, rows, now)
        limits = self.transport_of(claimed[0].channel) if claimed else None
        if limits is not None and not claimed[0].maybe_sent and limits[1].free(chat_id):
            first = claimed[0]
            if begin_send(session, row_id=first.id, token=first.token, now=now):
                claimed[0] = replace(first, begun=True)
        return claimed

    def take(
        self,
        session: Session,
        *,
        chat_id: int,
        messages: Sequence[tuple[Purpose, Payload]],
        priority: int,
        now: datetime,
    ) -> list[Outgoing]:
        """Queue a conversation's replies in the caller's transaction, claimed for `hand` (`enqueue_claimed`):
        no claim query, no claim filters (a reply is no outreach and carries no file), and the first row's
        `begin_send` written with it when its chat may send at once. When the chat has a message before these
        (due, or being sent), they are queued as usual and the chat claimed in order (`claim_chat`); once the
        sender stops, only queued."""
        if not self._stopping:

            def free(channel: str) -> bool:
                limits = self.transport_of(channel)
                return limits is not None and limits[1].free(chat_id)

            rows = enqueue_claimed(
                session,
                worker=self.worker,
                chat_id=chat_id,
                messages=messages,
                priority=priority,
                now=now,
                begin_first=free,
            )
            if rows is not None:
                return [Outgoing(r.id, chat_id, r.message, 0, r.token, False, r.channel, r.begun) for r in rows]
        for purpose, message in messages:
            enqueue(session, purpose=purpose, chat_id=chat_id, message=message, priority=priority, now=now)
        return self.claim_chat(session, chat_id=chat_id)

    def hand(self, rows: list[Outgoing]) -> None:
        """Send rows claimed by `claim_chat` now, beside the loop (the limits are shared); `stop` waits for
        them. Rows a failure leaves claimed are taken back by the loop when their claim is stale."""
        if not rows:
            return
        task = asyncio.get_running_loop().create_task(self.send(rows), name="outbox-handed")
        self._handed.add(task)
        task.add_done_callback(self._handed_done)

    def _handed_done(self, task: asyncio.Task[int]) -> None:
        self._handed.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sending handed rows failed; the loop takes them back", exc_info=task.exception())

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
        return await self.send(await self.claim())

    async def claim(self) -> list[Outgoing]:
        """Claim one batch of due rows (they are this sender's until sent, or taken over when stale)."""
        return await in_thread(self.services.sessions, self._claim)

    async def send(self, rows: list[Outgoing]) -> int:
        """Send claimed rows, each chat in order; returns how many rows were handled."""
        if not rows:
            return 0
        by_chat: dict[int, list[Outgoing]] = defaultdict(list)
        for row in rows:
            by_chat[row.chat_id].append(row)
        gate = asyncio.Semaphore(self.concurrency)

        async def send_chat(messages: list[Outgoing]) -> None:
            async with self._chats.hold(messages[0].chat_id), gate:
                for position, message in enumerate(messages):
                    held_until = await self._send_one(message)
                    if held_until is not None:
                        # keep this chat's order: the rest waits as long as the message before it
                        rest = messages[position + 1 :]
                        release = partial(self._release, message.chat_id, rest, held_until)
                        await in_thread(self.services.sessions, release)
                        return

        await asyncio.gather(*(send_chat(messages) for messages in by_chat.values()))
        return len(rows)

    def _claim(self, session: Session) -> list[Outgoing]:
        now = self.clock()
        if self.channels:
            apply_early_statuses(session)  # WhatsApp statuses that beat the record of their send
        rows = claim_due(session, worker=self.worker, limit=self.batch, now=now, per_chat=PER_CHAT)
        return self._outgoing(session, rows, now)

    def _outgoing(self, session: Session, rows: list[OutboxMessage], now: datetime) -> list[Outgoing]:
        """Claimed rows through the claim filters, their messages read; a row that cannot be read fails."""
        for screen in self.claim_filters:
            rows = screen(session, rows, now)
        claimed = []
        for r in rows:
            try:
                payload = prepare(session, r)
            except UnreadablePayload as exc:
                log.error("outbox row %s cannot be read: %s", r.id, exc)
                record_failure(session, row_id=r.id, token=r.claim_token or "", error=str(exc), now=now)
                continue
            token, maybe_sent = r.claim_token or "", r.send_started_at is not None
            claimed.append(Outgoing(r.id, r.recipient_chat_id, payload, r.attempts, token, maybe_sent, r.channel))
        return claimed

    def _release(self, chat_id: int, messages: list[Outgoing], until: datetime, session: Session) -> None:
        """The rest of a held message's chat waits as long: its rows in this batch, and those still queued."""
        for message in messages:
            postpone(session, row_id=message.id, token=message.token, until=until, count_attempt=False)
        hold_queued(session, chat_id=chat_id, until=until)

    async def _record(self, work: Callable[[Session], datetime | None]) -> datetime | None:
        return await in_thread(self.services.sessions, work)

    async def _begin(self, message: Outgoing) -> bool:
        now = self.clock()
        return await in_thread(
            self.services.sessions, lambda s: begin_send(s, row_id=message.id, token=message.token, now=now)
        )

    async def _send_one(self, message: Outgoing) -> datetime | None:
        """Send one row and record the result; a time when the rest of this chat must wait until then."""
        if message.maybe_sent and message.method not in IDEMPOTENT_METHODS:
            # an earlier sender started this call and stopped before it recorded the result
            log.warning("outbox row %s may have been sent by a sender that stopped; not sent again now", message.id)
            return await self._record(self._uncertain(message, "the sender stopped during the send"))
        channel = self.transport_of(message.channel)
        if channel is None:
            log.error("outbox row %s is for the channel %s, which is not configured", message.id, message.channel)
            return await self._record(self._failer(message, f"the channel {message.channel} is not configured"))
        transport, limiter = channel
        if not await self._hold_claim(message, limiter):
            return None
        record: Callable[[Session], datetime | None]
        try:
            result = await transport.send(message)
        except (RetryLater, Deferred, Blocked, Rejected, Uncertain, Transient) as exc:
            record = self._on_error(message, exc, limiter)
        else:
            record = self._on_sent(message, result if isinstance(result, Delivery) else Delivery(result))
        return await self._record(record)

    def transport_of(self, channel: str) -> tuple[Transport, RateLimiter] | None:
        """The transport and limiter of a channel (None: the channel is not configured)."""
        if channel == "telegram":
            return self.transport, self.limiter
        return self.channels.get(channel)

    async def _hold_claim(self, message: Outgoing, limiter: RateLimiter) -> bool:
        """Check and renew the claim before the rate limiter (so no database call comes between a grant and its
        send), and once more when the limiter held it long (a 429 pause): by then another sender may have taken
        the row over. False: not this sender's to send. A row `begun` with its claim skips the first check."""
        began = self.clock()
        if not message.begun and not await self._begin(message):
            log.warning("outbox row %s was taken over by another sender (or removed); not sent here", message.id)
            return False
        await limiter.acquire(message.chat_id)
        if self.clock() - began > RENEW_AFTER and not await self._begin(message):
            log.warning("outbox row %s was taken over while it waited; not sent here", message.id)
            return False
        return True

    def _on_error(
        self, message: Outgoing, exc: Exception, limiter: RateLimiter
    ) -> Callable[[Session], datetime | None]:
        """How to record one of the transport's kinds of trouble (a 429 pauses that channel's sends)."""
        if isinstance(exc, RetryLater):
            limiter.pause(exc.seconds)
            until = self.clock() + timedelta(seconds=exc.seconds)
            return self._postponer(message, until, str(exc), count_attempt=False)
        if isinstance(exc, Deferred):
            # only this row waits: what follows may go out (WhatsApp: a template may, a free-form text may not)
            until = self.clock() + timedelta(seconds=exc.seconds)
            wait = self._postponer(message, until, str(exc), count_attempt=False)
            return wait if exc.hold_chat else lambda session: wait(session) and None
        if isinstance(exc, Blocked):
            return self._failer(message, str(exc), blocked_chat=message.chat_id)
        if isinstance(exc, Rejected):
            log.warning("outbox row %s rejected: %s", message.id, exc)
            return self._failer(message, str(exc))
        if isinstance(exc, Uncertain):
            log.warning("outbox row %s may or may not have arrived: %s", message.id, exc)
            return self._uncertain(message, str(exc))
        return self._transient(message, str(exc))

    def _on_sent(self, message: Outgoing, delivery: Delivery) -> Callable[[Session], datetime | None]:
        """Record a send (a row marked ephemeral is deleted instead), then run the delivery hooks."""
        sent_at = self.clock()
        forget = isinstance(message.payload, Text) and message.payload.ephemeral

        def record(session: Session) -> datetime | None:
            if not mark_sent(
                session,
                row_id=message.id,
                token=message.token,
                telegram_message_id=delivery.message_id,
                forget=forget,
                now=sent_at,
                channel_message_id=delivery.channel_message_id,
            ):
                log.warning("outbox row %s was sent, but another sender holds it now", message.id)
                return None
            if message.channel == WEB and not forget:
                number_web_message(session, row_id=message.id)  # the widget's cursor follows the commits
            if forget and message.channel != "telegram":
                # the goodbye after an erasure has arrived: the person's address on their channel goes too
                forget_address(session, chat_id=message.chat_id)
            for hook in self.delivery_hooks:
                hook(session, message.payload, delivery)
            return None

        if self.on_sent is not None:
            self.on_sent(message, delivery.message_id)
        return record

    def _postponer(
        self, message: Outgoing, until: datetime, error: str, *, count_attempt: bool
    ) -> Callable[[Session], datetime | None]:
        def record(session: Session) -> datetime | None:
            held = postpone(
                session, row_id=message.id, token=message.token, until=until, error=error, count_attempt=count_attempt
            )
            return until if held else None

        return record

    def _transient(self, message: Outgoing, error: str) -> Callable[[Session], datetime | None]:
        now = self.clock()

        def record(session: Session) -> datetime | None:
            return record_transient(
                session, row_id=message.id, token=message.token, attempts=message.attempts, error=error, now=now
            )

        return record

    def _uncertain(self, message: Outgoing, error: str) -> Callable[[Session], datetime | None]:
        now = self.clock()

        def record(session: Session) -> datetime | None:
            return record_uncertain(session, row_id=message.id, token=message.token, error=error, now=now)

        return record

    def _failer(
        self, message: Outgoing, error: str, *, blocked_chat: int | None = None
    ) -> Callable[[Session], datetime | None]:
        now = self.clock()

        goodbye = isinstance(message.payload, Text) and message.payload.ephemeral and message.channel != "telegram"

        def record(session: Session) -> datetime | None:
            failed = record_failure(session, row_id=message.id, token=message.token, error=error, now=now)
            if failed and blocked_chat is not None:
                mark_blocked(session, telegram_id=blocked_chat)
            if failed and goodbye:  # the goodbye after an erasure did not arrive: the address goes all the same
                forget_address(session, chat_id=message.chat_id)
            return None

        return record
