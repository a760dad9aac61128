"""The wiring around every handler: an update is stored first and marked done only when it was handled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from telegram.ext import Application

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_resident, make_staff
from wijkbot.items import file_item
from wijkbot.settings import Settings

App = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def app(telegram: FakeTelegramServer, sqlite_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=sqlite_url)) as application:
        yield application


async def test_an_update_whose_handler_raised_is_marked_failed_not_done(
    app: App, telegram: FakeTelegramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082613"], telegram_id=3201)
        resident = make_resident(session, telegram_id=3202)
        item_id = file_item(
            session, services.registry, services.rules, resident=resident, kind="idea", area_code="WK082613", text="x"
        ).item.id

    def broken_claim(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("bot.staff.claim", broken_claim)
    update = telegram.push_callback(3201, f"item:{item_id}:claim", message_id=1)
    [answer] = await telegram.wait_for_calls_async("answerCallbackQuery", count=1, timeout=10)
    assert "Probeer het zo nog eens" in answer.params["text"]
    telegram.push_command(3201, "inbox")  # a later update of the same chat proves the first was finished with
    await telegram.wait_for_messages_async(3201, count=2, timeout=10)  # the notification and the inbox
    with transaction(services.sessions) as session:
        row = session.get(models.InboundUpdate, update["update_id"])
        assert row is not None and (row.status, row.attempts) == ("failed", 1)
        item = session.get(models.Item, item_id)
        assert item is not None and item.claimed_by_id is None


async def test_the_sender_paces_each_chat_as_telegram_asks_unless_told_otherwise(
    telegram: FakeTelegramServer, sqlite_url: str
) -> None:
    assert (Settings().telegram_chat_gap_seconds, Settings().telegram_group_gap_seconds) == (1.0, 3.0)
    paced = bot_settings(
        telegram, database_url=sqlite_url, telegram_chat_gap_seconds=1.0, telegram_group_gap_seconds=3.0
    )
    async with running_bot(paced) as application:
        limiter = runtime_of(application).sender.limiter
        assert (limiter.per_chat_gap, limiter.group_gap, limiter.per_second) == (1.0, 3.0, 30.0)
