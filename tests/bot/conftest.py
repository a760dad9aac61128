"""Fixtures for the bot tests that run against the session's real Rasa stack (marked `rasa`).

Modules with their own `telegram`/`app` fixtures (a fake of their own, a fresh database) override these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from telegram.ext import Application

from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import running_bot
from tests.stack import Stack, next_update_base


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    """A fake Bot API with its own range of update ids: the session's database is shared."""
    with start_fake_telegram(first_update_id=next_update_base()) as server:
        yield server


@pytest.fixture
async def app(
    request: pytest.FixtureRequest, stack: Stack, telegram: FakeTelegramServer
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The real bot on the session's database, Rasa and tracker store; a module may set RASA_TIMEOUT_SECONDS,
    and OUTREACH_QUIET_HOURS ("" for none: a test that sends outreach on the real clock must not depend on the
    hour it runs at)."""
    extra = (
        {"outreach_quiet_hours": request.module.OUTREACH_QUIET_HOURS}
        if hasattr(request.module, "OUTREACH_QUIET_HOURS")
        else {}
    )
    settings = bot_settings(
        telegram,
        database_url=stack.database_url,
        rasa_url=stack.rasa_url,
        tracker_db=str(stack.tracker_db),
        rasa_token=stack.rasa_token,
        rasa_timeout_seconds=getattr(request.module, "RASA_TIMEOUT_SECONDS", 10.0),
        **extra,
    )
    async with running_bot(settings) as application:
        yield application
