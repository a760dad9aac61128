"""/vergeetmij and /mijngegevens in Telegram, against the fake Bot API (no assistant needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from telegram.ext import Application

from db import models
from db.session import transaction
from tests.bot.harness import bot_settings, running_bot, runtime_of
from tests.conftest import make_resident
from tests.fakes.telegram_api import FakeTelegramServer, start_fake_telegram
from wijkbot.residents import find_resident

App = Application[Any, Any, Any, Any, Any, Any]
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def app(telegram: FakeTelegramServer, sqlite_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=sqlite_url)) as application:
        yield application


async def test_a_vergeetmij_confirmation_handled_too_late_to_answer_still_erases(
    app: App, telegram: FakeTelegramServer
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_resident(session, telegram_id=3001, first_name="Anna")
    telegram.fail_next("answerCallbackQuery", status=400, description=TOO_OLD)
    telegram.push_callback(3001, "forget:yes", message_id=1)
    [erased] = await telegram.wait_for_messages_async(3001, count=1, timeout=10)
    assert "Alles over jou is gewist" in erased["text"]
    with transaction(services.sessions) as session:
        assert find_resident(session, telegram_id=3001) is None
        assert session.query(models.InboundUpdate).filter_by(chat_id=3001).count() == 0
