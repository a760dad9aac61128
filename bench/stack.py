"""The stack under measurement, in a temporary directory: the fake Bot API, the real bot, Rasa and the actions.

Everything is on loopback and free ports, with its own SQLite database and Rasa tracker store, so a bench
never touches `var/` data (only the servers' logs go to var/logs/, as with `wijkbot run`).

Two ways into Rasa are measured against each other:
- the whole stack (`bot_turn`): the fake Bot API queues an update; the real bot (its own process, served by
  `bot.main.serve` as `wijkbot run` does) fetches it (long polling), stores it and sends it to Rasa, which
  calls the action server, which reads and writes the database; the reply goes through the outbox and the
  sender back to the fake; the turn ends when the reply *reaches* the fake (its arrival time, as the fake
  recorded it);
- straight to Rasa (`RestClient.turn`): the same text, POSTed to Rasa's REST webhook, timed until the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bench.common import free_port
from bot.conversation import messages_from_replies
from bot.rasa_client import parse_reply
from bot.sender import RateLimiter
from db import models
from db.session import make_engine, transaction
from devtools.fake_telegram import SEND_METHODS, FakeTelegramServer
from devtools.settings import bot_settings
from wijkbot.runner import start_backends, start_process, stop_process
from wijkbot.services import Services, open_services
from wijkbot.settings import Settings, rasa_environment, with_rasa_token

T = TypeVar("T")

FIRST_NAME = "Bewoner"
REPLY_TIMEOUT = 90.0  # only for a reply that never comes: the bench reports it, it is not a speed limit


def telegram_meta(user_id: int) -> dict[str, Any]:
    """The metadata the bot sends with a resident's turn (bot.resident.telegram_meta), for the REST path."""
    return {"user_id": user_id, "chat_id": user_id, "first_name": FIRST_NAME, "language_code": "nl"}


def bench_settings(workdir: Path, fake: FakeTelegramServer) -> Settings:
    """Settings for one bench run: its own database, tracker store and ports; no quiet hours (a poll
    broadcast at night would otherwise wait for the morning)."""
    ports: set[int] = set()
    while len(ports) < 2:
        ports.add(free_port())
    rasa_port, action_port = sorted(ports)
    tracker = workdir / "rasa_tracker.db"
    settings = bot_settings(
        fake,
        database_url=f"sqlite:///{workdir / 'wijkbot.db'}",
        rasa_url=f"http://127.0.0.1:{rasa_port}",
        tracker_url=f"sqlite:///{tracker}",
        action_server_url=f"http://127.0.0.1:{action_port}",
        rasa_tracker_db=str(tracker),
        # the product's patience and pacing, not the tests' short ones: a slow turn is waited for, not resent
        rasa_timeout_seconds=Settings.model_fields["rasa_timeout_seconds"].default,
        telegram_chat_gap_seconds=Settings.model_fields["telegram_chat_gap_seconds"].default,
        telegram_group_gap_seconds=Settings.model_fields["telegram_group_gap_seconds"].default,
        outreach_quiet_hours="",
    )
    return with_rasa_token(settings)  # Rasa's API for this run only answers with it (see wijkbot.runner)


def child_environment(settings: Settings) -> dict[str, str]:
    """What the action server and Rasa must read from the environment (the runner copies os.environ)."""
    return {
        **rasa_environment(settings),
        "DATABASE_URL": settings.database_url,
        "RASA_URL": settings.rasa_url,
        "RASA_TRACKER_URL": settings.rasa_tracker_url,
        "OUTREACH_QUIET_HOURS": settings.outreach_quiet_hours,
    }


class Deliveries:
    """Follows what the fake Bot API received: per chat, the arrival times of messages sent successfully.

    One task reads the fake's recorded calls every few milliseconds (the times are the fake's own, taken when
    each request arrived), so waiting for a reply costs the event loop next to nothing.
    """

    def __init__(self, fake: FakeTelegramServer) -> None:
        self.fake = fake
        self.arrivals: dict[int, list[float]] = defaultdict(list)
        self._index = 0
        self._waiters: dict[int, list[tuple[int, asyncio.Future[float]]]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="bench-deliveries")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reset(self) -> None:
        """Forget everything recorded so far (the fake's recordings too); call when nothing is in flight."""
        self.fake.clear()
        self.arrivals.clear()
        self._index = 0

    async def _run(self) -> None:
        while True:
            self.poll()
            await asyncio.sleep(0.003)

    def poll(self) -> None:
        calls = self.fake.calls()
        while self._index < len(calls):
            call = calls[self._index]
            if call.method in SEND_METHODS:
                if call.status == 0 and call.response is None:
                    break  # still being answered; later calls wait so each chat's order is kept
                if call.status == 200 and isinstance(call.chat_id, int):
                    self.arrivals[call.chat_id].append(call.monotonic)
            self._index += 1
        for chat_id, waiters in list(self._waiters.items()):
            have = self.arrivals.get(chat_id, [])
            keep = []
            for count, future in waiters:
                if future.done():
                    continue
                if len(have) >= count:
                    future.set_result(have[count - 1])
                else:
                    keep.append((count, future))
            if keep:
                self._waiters[chat_id] = keep
            else:
                del self._waiters[chat_id]

    def count(self, chat_id: int) -> int:
        return len(self.arrivals.get(chat_id, []))

    def last(self, chat_id: int) -> float | None:
        times = self.arrivals.get(chat_id)
        return times[-1] if times else None

    async def wait(self, chat_id: int, count: int, timeout: float = REPLY_TIMEOUT) -> float | None:
        """The arrival time of this chat's `count`-th message, once it is there; None after `timeout`."""
        have = self.arrivals.get(chat_id, [])
        if len(have) >= count:
            return have[count - 1]
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[chat_id].append((count, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None

    async def wait_while(
        self, process: subprocess.Popen[bytes] | None, chat_id: int, count: int, timeout: float, log: str
    ) -> float | None:
        """`wait`, raising as soon as the process that should answer is gone (its log named) instead of waiting
        out the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            arrived = await self.wait(chat_id, count, min(1.0, max(0.0, deadline - time.monotonic())))
            if arrived is not None:
                return arrived
            if process is None or process.poll() is not None:
                raise RuntimeError(f"the process that answers is not running; see var/logs/{log}.log")
            if time.monotonic() >= deadline:
                return None

    async def quiet(self, chat_id: int, gap: float) -> None:
        """Wait until `gap` seconds have passed since this chat's last message (Telegram's per-chat pacing)."""
        last = self.last(chat_id)
        if last is not None:
            wait = last + gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)


class RestClient:
    """Straight to Rasa's REST webhook (the reference), and /model/parse."""

    def __init__(self, rasa_url: str, token: str | None = None) -> None:
        self.client = httpx.AsyncClient(
            base_url=rasa_url.rstrip("/"),
            params={"token": token} if token else None,  # /model/parse is behind Rasa's --auth-token
            timeout=REPLY_TIMEOUT,
            trust_env=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )

    async def turn(self, sender: int, text: str) -> tuple[float, list[dict[str, Any]] | None]:
        """(seconds, Rasa's reply list) for one turn; the list is None when the call failed."""
        started = time.perf_counter()
        try:
            response = await self.client.post(
                "/webhooks/rest/webhook",
                json={"sender": str(sender), "message": text, "metadata": {"telegram": telegram_meta(sender)}},
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return time.perf_counter() - started, None
        elapsed = time.perf_counter() - started
        return elapsed, body if isinstance(body, list) else None

    async def tracker(self, sender: int) -> dict[str, Any]:
        """The conversation's tracker as Rasa keeps it (slots, active form, events)."""
        response = await self.client.get(f"/conversations/{sender}/tracker")
        response.raise_for_status()
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def parse(self, text: str) -> dict[str, Any]:
        response = await self.client.post("/model/parse", json={"text": text})
        response.raise_for_status()
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def aclose(self) -> None:
        await self.client.aclose()


def telegram_messages(replies: list[dict[str, Any]] | None) -> int:
    """How many Telegram messages the bot makes of these Rasa replies (bot.conversation's own rule)."""
    parsed = [parse_reply(entry) for entry in replies or [] if isinstance(entry, dict)]
    return len(messages_from_replies([r for r in parsed if r.text or r.buttons]))


def bot_environment(settings: Settings, *, unlimited: bool = False) -> dict[str, str]:
    """The bot process's settings (environment variables win over a developer's .env)."""
    assert settings.telegram_bot_token is not None
    return {
        **child_environment(settings),
        "TELEGRAM_BOT_TOKEN": settings.telegram_bot_token.get_secret_value(),
        "TELEGRAM_BASE_URL": settings.telegram_base_url,
        "TELEGRAM_BASE_FILE_URL": settings.telegram_base_file_url or "",
        # the token Rasa's API was started with: the bot reads a conversation back before it retries a turn
        "RASA_TOKEN": settings.rasa_token.get_secret_value() if settings.rasa_token else "",
        "RASA_TIMEOUT_SECONDS": str(settings.rasa_timeout_seconds),
        "HOLDING_REPLY_AFTER_SECONDS": str(settings.holding_reply_after_seconds),
        "RASA_MAX_IN_FLIGHT": str(settings.rasa_max_in_flight),
        "WEBHOOK_URL": "",
        "WEBHOOK_SECRET": "",
        "BENCH_SENDER_UNLIMITED": "1" if unlimited else "0",
    }


@dataclass
class Stack:
    """The running stack; `stop()` ends all of it (also after an error).

    Rasa, the action server and the bot each run in their own process, as with `wijkbot run`; the bench
    process holds the fake Bot API, the load generator and its own connection to the database.
    """

    workdir: Path
    fake: FakeTelegramServer
    settings: Settings
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    bot_process: subprocess.Popen[bytes] | None = None
    deliveries: Deliveries | None = None
    rest: RestClient | None = None
    services: Services | None = None
    tracker: Engine | None = None

    @property
    def actions_pid(self) -> int | None:
        return self.processes[0].pid if self.processes else None

    @property
    def rasa_pid(self) -> int | None:
        return self.processes[1].pid if len(self.processes) > 1 else None

    @property
    def bot_pid(self) -> int | None:
        return self.bot_process.pid if self.bot_process is not None else None

    @property
    def limits(self) -> RateLimiter:
        """The sender's limits as the bot runs them (its defaults)."""
        return RateLimiter()

    async def start_backends(self) -> None:
        os.environ.update(child_environment(self.settings))
        self.processes = await asyncio.to_thread(start_backends, self.settings)
        token = self.settings.rasa_token
        self.rest = RestClient(self.settings.rasa_url, token.get_secret_value() if token else None)

    async def start_bot(self, *, unlimited: bool = False, timeout: float = 180.0) -> None:
        """Start the bot process and wait until it polls the fake Bot API (its database is migrated then)."""
        env = dict(os.environ)
        env.update(bot_environment(self.settings, unlimited=unlimited))
        polls_before = len(self.fake.calls("getUpdates"))
        name = "bench-bot-unlimited" if unlimited else "bench-bot"
        process = start_process(name, [sys.executable, "-m", "bench.bot_process"], env)
        self.bot_process = process
        deadline = time.monotonic() + timeout
        while len(self.fake.calls("getUpdates")) <= polls_before:
            if process.poll() is not None:
                raise RuntimeError(f"the bot stopped during start-up; see var/logs/{name}.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not poll within {timeout:.0f} s; see var/logs/{name}.log")
            await asyncio.sleep(0.01)
        if self.services is None:
            self.services = await asyncio.to_thread(open_services, self.settings, prepare_database=False)
            self.tracker = make_engine(self.settings.rasa_tracker_url)
        if self.deliveries is None:
            self.deliveries = Deliveries(self.fake)
            self.deliveries.start()

    async def stop_bot(self) -> None:
        """Stop the bot as Ctrl-C does: it finishes the batch its sender is sending, then exits."""
        process, self.bot_process = self.bot_process, None
        if process is None or process.poll() is not None:
            return

        def stop() -> None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

        await asyncio.to_thread(stop)

    async def stop(self) -> None:
        if self.deliveries is not None:
            await self.deliveries.stop()
        with contextlib.suppress(Exception):
            await self.stop_bot()
        if self.rest is not None:
            with contextlib.suppress(Exception):
                await self.rest.aclose()
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                await asyncio.to_thread(stop_process, process)
        if self.services is not None:
            self.services.close()
        if self.tracker is not None:
            self.tracker.dispose()

    # --- helpers for the parts ----------------------------------------------------------------------

    @property
    def seen(self) -> Deliveries:
        assert self.deliveries is not None, "the bot is not running"
        return self.deliveries

    @property
    def rasa(self) -> RestClient:
        assert self.rest is not None, "Rasa is not running"
        return self.rest

    @property
    def db_services(self) -> Services:
        assert self.services is not None, "the bot has not started (it migrates the database)"
        return self.services

    @property
    def tracker_engine(self) -> Engine:
        assert self.tracker is not None, "the bot has not started"
        return self.tracker

    async def db(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in one transaction on the bench's database, off the event loop."""
        services = self.db_services

        def run() -> T:
            with transaction(services.sessions) as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def wait_reply(self, chat_id: int, count: int, timeout: float = REPLY_TIMEOUT) -> float | None:
        """The arrival time of this chat's `count`-th message; None after `timeout`. Raises when the bot died."""
        return await self.seen.wait_while(self.bot_process, chat_id, count, timeout, "bench-bot")

    async def bot_turn(self, user_id: int, text: str, *, timeout: float = REPLY_TIMEOUT) -> tuple[float | None, int]:
        """Send `text` as resident `user_id` through the whole stack; (seconds until the first reply reached
        the fake Bot API or None, the update id)."""
        before = self.seen.count(user_id)
        started = time.monotonic()
        update = self.fake.push_text(user_id, text, first_name=FIRST_NAME)
        arrived = await self.wait_reply(user_id, before + 1, timeout)
        return (None if arrived is None else arrived - started), int(update["update_id"])

    async def settle(self, chat_id: int, timeout: float = REPLY_TIMEOUT) -> bool:
        """Wait until this chat has no waiting turn and nothing left in the outbox (all its replies left)."""

        def busy(session: Session) -> int:
            inbound = session.scalar(
                select(func.count())
                .select_from(models.InboundUpdate)
                .where(models.InboundUpdate.chat_id == chat_id, models.InboundUpdate.status == "pending")
            )
            outbox = session.scalar(
                select(func.count())
                .select_from(models.OutboxMessage)
                .where(
                    models.OutboxMessage.recipient_chat_id == chat_id,
                    models.OutboxMessage.status.in_(("pending", "sending")),
                )
            )
            return int(inbound or 0) + int(outbox or 0)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await self.db(busy):
                await asyncio.sleep(0.02)  # the sender records a send just after the fake answered it
                self.seen.poll()
                return True
            await asyncio.sleep(0.02)
        return False


def accounting(session: Session, *, update_ids: list[int], chat_ids: list[int]) -> dict[str, int]:
    """What the database says about these turns: answered, still waiting, failed; reply rows and their state."""
    result: dict[str, int] = defaultdict(int)
    if update_ids:
        for status, count in session.execute(
            select(models.InboundUpdate.status, func.count())
            .where(models.InboundUpdate.update_id.in_(update_ids))
            .group_by(models.InboundUpdate.status)
        ):
            result[f"inbound_{status}"] += int(count)
        stored = session.scalar(
            select(func.count()).select_from(models.InboundUpdate).where(models.InboundUpdate.update_id.in_(update_ids))
        )
        result["inbound_missing"] = len(update_ids) - int(stored or 0)
    if chat_ids:
        kinds = session.execute(
            select(models.OutboxMessage.purpose).where(models.OutboxMessage.recipient_chat_id.in_(chat_ids))
        ).scalars()
        for purpose in kinds:
            result[f"outbox_purpose_{purpose.split(':', 1)[0]}"] += 1
        for status, count in session.execute(
            select(models.OutboxMessage.status, func.count())
            .where(models.OutboxMessage.recipient_chat_id.in_(chat_ids))
            .group_by(models.OutboxMessage.status)
        ):
            result[f"outbox_{status}"] += int(count)
    return dict(result)


def count_turn_outcomes(
    *, pushed: int, accounts: dict[str, int], delivered_by_chat: dict[int, int], sent_rows_by_chat: dict[int, int]
) -> dict[str, int]:
    """Lost: turns never answered (stored but not done, or not stored at all). Twice: messages the fake got
    beyond the outbox rows marked sent (the same row delivered again), per chat."""
    lost = accounts.get("inbound_pending", 0) + accounts.get("inbound_failed", 0) + accounts.get("inbound_missing", 0)
    twice = sum(max(0, delivered_by_chat.get(chat, 0) - rows) for chat, rows in sent_rows_by_chat.items())
    twice += sum(count for chat, count in delivered_by_chat.items() if chat not in sent_rows_by_chat)
    return {"turns": pushed, "lost": lost, "answered_twice": twice}


def sent_rows_by_chat(session: Session, chat_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(models.OutboxMessage.recipient_chat_id, func.count())
        .where(models.OutboxMessage.recipient_chat_id.in_(chat_ids), models.OutboxMessage.status == "sent")
        .group_by(models.OutboxMessage.recipient_chat_id)
    )
    return {int(chat): int(count) for chat, count in rows}
