"""The bot's settings pointed at the fake Bot API: used by the tests' harness and the bench's stack."""

from __future__ import annotations

from typing import Any

from devtools.fake_telegram import FakeTelegramServer
from wijkbot.settings import Settings


def bot_settings(
    telegram: FakeTelegramServer,
    *,
    database_url: str,
    rasa_url: str = "http://127.0.0.1:9",
    tracker_db: str | None = None,
    **extra: Any,
) -> Settings:
    """Settings that talk to `telegram` (its token and URLs), with a short Rasa timeout for tests and a short
    gap between two messages to one chat (the fake Bot API does not pace chats unless told to; the sender's
    own pacing is tested with its limiter); `extra` overrides any field. No .env file is read."""
    values: dict[str, Any] = {
        "telegram_bot_token": telegram.token,
        "telegram_base_url": telegram.base_url,
        "telegram_base_file_url": telegram.base_file_url,
        "database_url": database_url,
        "rasa_url": rasa_url,
        "rasa_timeout_seconds": 10.0,
        "telegram_chat_gap_seconds": 0.05,
        "telegram_group_gap_seconds": 0.05,
        **extra,
    }
    if tracker_db is not None:
        values["rasa_tracker_db"] = tracker_db
    return Settings(_env_file=None, **values)
