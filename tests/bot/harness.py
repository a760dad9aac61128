"""Running the real bot (build_application) against the fake Bot API, in the test's event loop."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from telegram import Update
from telegram.ext import Application

from bot.main import build_application
from bot.runtime import RUNTIME_KEY, Runtime
from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer
from wijkbot.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def running_bot(
    settings: Settings, *, webhook_port: int | None = None, secret: str | None = None
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Start the application as `run_polling`/`run_webhook` would, and stop it the same way afterwards."""
    application = build_application(settings)
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    assert application.updater is not None
    if webhook_port is None:
        await application.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=Update.ALL_TYPES)
    else:
        await application.updater.start_webhook(
            listen="127.0.0.1",
            port=webhook_port,
            url_path="telegram",
            secret_token=secret,
            webhook_url=f"http://127.0.0.1:{webhook_port}/telegram",
            allowed_updates=Update.ALL_TYPES,
        )
    await application.start()
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


def runtime_of(application: Application[Any, Any, Any, Any, Any, Any]) -> Runtime:
    value = application.bot_data[RUNTIME_KEY]
    assert isinstance(value, Runtime)
    return value


App = Application[Any, Any, Any, Any, Any, Any]


async def _until_quiet(busy: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `busy` (a database look, in a worker thread) until it says no; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await asyncio.to_thread(busy):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} after {timeout} s")
        await asyncio.sleep(0.05)


async def settled(app: App, user: int) -> None:
    """Wait until none of this chat's updates is still waiting and nothing for it waits in the outbox: after
    that, what the fake received is all this chat gets (a count checked then is final, not a guess after a
    sleep)."""

    def waiting() -> bool:
        with transaction(runtime_of(app).services.sessions) as session:
            update = select(models.InboundUpdate.update_id).where(
                models.InboundUpdate.chat_id == user, models.InboundUpdate.status == "pending"
            )
            outgoing = select(models.OutboxMessage.id).where(
                models.OutboxMessage.recipient_chat_id == user,
                models.OutboxMessage.status.in_(("pending", "sending")),
            )
            return session.scalars(update.union_all(outgoing).limit(1)).first() is not None

    await _until_quiet(waiting, timeout=300, what="updates or replies still waiting")


async def outbox_idle(app: App) -> None:
    """Wait until no outbox row is being sent or due by the bot's clock. Call it before moving the bot's clock
    forward: a send still in flight when the clock jumps would look abandoned (its claim older than two
    minutes) and be taken over, as a crashed sender's would."""
    rt = runtime_of(app)

    def busy() -> bool:
        with transaction(rt.services.sessions) as session:
            outbox = models.OutboxMessage
            sending = outbox.status == "sending"
            due = (outbox.status == "pending") & (outbox.not_before <= rt.clock())
            return session.scalars(select(outbox.id).where(sending | due).limit(1)).first() is not None

    await _until_quiet(busy, timeout=30, what="the outbox was still busy")


_chat_users = itertools.count(772_000_001)


class Chat:
    """One person's chat with the bot, as the fake Bot API sees it; reads the bot's messages in order."""

    def __init__(
        self, telegram: FakeTelegramServer, app: App, user_id: int | None = None, first_name: str = "Anna"
    ) -> None:
        self.telegram, self.app = telegram, app
        self.user_id = user_id or next(_chat_users)
        self.first_name = first_name
        self.cursor = 0

    @property
    def received(self) -> list[dict[str, Any]]:
        return self.telegram.sent_messages(self.user_id)

    async def next_message(self, timeout: float = 60) -> dict[str, Any]:
        """The first message not read yet."""
        messages = await self.telegram.wait_for_messages_async(self.user_id, count=self.cursor + 1, timeout=timeout)
        self.cursor += 1
        return messages[self.cursor - 1]

    async def say(self, text: str, **kwargs: Any) -> dict[str, Any]:
        """Send a text and return the bot's first answer to it."""
        self.cursor = len(self.received)
        self.telegram.push_text(self.user_id, text, first_name=self.first_name, **kwargs)
        return await self.next_message()

    async def press(self, message: dict[str, Any], wanted: str) -> dict[str, Any]:
        """Press the button of `message` whose title or Rasa payload is `wanted`; return the bot's answer."""
        data = self.button_data(message, wanted)
        self.cursor = len(self.received)
        self.telegram.push_callback(self.user_id, data, message["message_id"], first_name=self.first_name)
        return await self.next_message()

    def button_data(self, message: dict[str, Any], wanted: str) -> str:
        buttons = [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        for button in buttons:
            if button["text"] == wanted:
                return str(button["callback_data"])
        with transaction(runtime_of(self.app).services.sessions) as session:
            for button in buttons:
                _, row_id, index = button["callback_data"].split(":")
                row = session.get(models.OutboxMessage, int(row_id))
                if row is not None and row.payload["rasa_buttons"][int(index)]["payload"] == wanted:
                    return str(button["callback_data"])
        raise AssertionError(f"no button {wanted!r} in {buttons}")
