"""Running the real bot (build_application) against the fake Bot API, in the test's event loop."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.main import build_application
from bot.runtime import RUNTIME_KEY, Runtime
from tests.fakes.telegram_api import FakeTelegramServer
from wijkbot.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bot_settings(
    telegram: FakeTelegramServer,
    *,
    database_url: str,
    rasa_url: str = "http://127.0.0.1:9",
    tracker_db: str | None = None,
    **extra: Any,
) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": telegram.token,
        "telegram_base_url": telegram.base_url,
        "telegram_base_file_url": telegram.base_file_url,
        "database_url": database_url,
        "rasa_url": rasa_url,
        "rasa_timeout_seconds": 10.0,
        **extra,
    }
    if tracker_db is not None:
        values["rasa_tracker_db"] = tracker_db
    return Settings(_env_file=None, **values)


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
