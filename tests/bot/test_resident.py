"""The resident's buttons in Telegram, against the fake Bot API; Rasa is away (nothing listens on its port)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from wijkbot.outbox import enqueue
from wijkbot.payloads import Text

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


async def test_a_button_press_handled_too_late_to_answer_still_becomes_the_resident_s_turn(
    app: App, telegram: FakeTelegramServer
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        enqueue(
            session,
            purpose="x",
            chat_id=3101,
            message=Text(text="Kies", rasa_buttons=[{"title": "Dorst", "payload": '/inform{"area_code":"WK082613"}'}]),
        )
        row_id = session.scalars(select(models.OutboxMessage.id)).one()
    telegram.fail_next("answerCallbackQuery", status=400, description=TOO_OLD)
    update = telegram.push_callback(3101, f"rb:{row_id}:0", message_id=1)
    await telegram.wait_for_async(  # Rasa is away: the turn is kept, with a holding reply
        lambda: any("Even geduld" in m["text"] for m in telegram.sent_messages(3101)), timeout=10
    )
    with transaction(services.sessions) as session:
        turn = session.get(models.InboundUpdate, update["update_id"])
        assert turn is not None and (turn.kind, turn.status) == ("rasa", "pending")
        assert turn.payload["text"] == '/inform{"area_code":"WK082613"}'
