"""The plain forwarder (bench/forwarder_process.py) as the bench runs it: its own process, its own fake Bot API.

The fake Bot API serves one token per server, so the forwarder gets a fake of its own in the bench process,
followed by its own `Deliveries`: a turn ends when the answer reaches that fake, by the fake's own clock,
exactly as a whole-stack turn ends at the bot's fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.stack import FIRST_NAME, REPLY_TIMEOUT, Deliveries
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from wijkbot.runner import start_process, stop_process

NAME = "bench-forwarder"


def forwarder_environment(fake: FakeTelegramServer, rasa_url: str, rasa_token: str | None) -> dict[str, str]:
    """The forwarder's four settings, by the names the bot reads; they win over the inherited environment."""
    return {
        "TELEGRAM_BOT_TOKEN": fake.token or "",
        "TELEGRAM_BASE_URL": fake.base_url,
        "RASA_URL": rasa_url,
        "RASA_TOKEN": rasa_token or "",
    }


@dataclass
class Forwarder:
    """A running forwarder with its fake Bot API; `stop()` ends both (also after an error)."""

    fake: FakeTelegramServer
    process: subprocess.Popen[bytes]
    seen: Deliveries

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(
        cls, rasa_url: str, rasa_token: str | None, *, logs: Path | None = None, timeout: float = 120.0
    ) -> Forwarder:
        """Start a fake Bot API and the forwarder against it; return once the forwarder polls the fake."""
        fake = start_fake_telegram()
        env = {**os.environ, **forwarder_environment(fake, rasa_url, rasa_token)}
        try:
            process = start_process(NAME, [sys.executable, "-m", "bench.forwarder_process"], env, logs=logs)
        except BaseException:
            fake.stop()
            raise
        forwarder = cls(fake, process, Deliveries(fake))
        try:
            await forwarder._until_polling(timeout)
        except BaseException:
            await forwarder.stop()
            raise
        forwarder.seen.start()
        return forwarder

    async def _until_polling(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.fake.calls("getUpdates"):
            if self.process.poll() is not None:
                raise RuntimeError(f"the forwarder stopped during start-up; see var/logs/{NAME}.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the forwarder did not poll within {timeout:.0f} s; see var/logs/{NAME}.log")
            await asyncio.sleep(0.01)

    async def turn(self, user_id: int, text: str, *, timeout: float = REPLY_TIMEOUT) -> float | None:
        """Send `text` as resident `user_id` through the forwarder; seconds until the first answer reached the
        fake Bot API, or None after `timeout`. Raises when the forwarder died."""
        before = self.seen.count(user_id)
        started = time.monotonic()
        self.fake.push_text(user_id, text, first_name=FIRST_NAME)
        arrived = await self.seen.wait_while(self.process, user_id, before + 1, timeout, NAME)
        return None if arrived is None else arrived - started

    async def stop(self) -> int | None:
        """Stop the forwarder (SIGTERM: run_polling shuts down) and its fake; the forwarder's exit status."""
        await self.seen.stop()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(stop_process, self.process)
        await asyncio.to_thread(self.fake.stop)
        return self.process.returncode
