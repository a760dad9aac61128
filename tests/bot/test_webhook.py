"""Webhook mode: only Telegram, proving the shared secret, gets an update in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, post_update_async, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import free_port, running_bot, runtime_of

SECRET = "s3cr3t-token_for-tests"


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


def _update(update_id: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "text": "/mijnideeen",
            "entities": [{"type": "bot_command", "offset": 0, "length": 11}],
            "chat": {"id": 77, "type": "private", "first_name": "Anna"},
            "from": {"id": 77, "is_bot": False, "first_name": "Anna"},
        },
    }


@pytest.mark.parametrize("given", [None, "wrong", SECRET + "x"])
async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_stored(
    telegram: FakeTelegramServer, sqlite_url: str, given: str | None
) -> None:
    port = free_port()
    async with running_bot(bot_settings(telegram, database_url=sqlite_url), webhook_port=port, secret=SECRET) as app:
        response = await post_update_async(f"http://127.0.0.1:{port}/telegram", _update(500), secret_token=given)
        assert response.status_code == 403
        with transaction(runtime_of(app).services.sessions) as session:
            assert session.scalar(select(func.count()).select_from(models.InboundUpdate)) == 0
    assert telegram.sent_messages(77) == []


async def test_the_right_secret_gets_the_update_handled(telegram: FakeTelegramServer, sqlite_url: str) -> None:
    port = free_port()
    async with running_bot(bot_settings(telegram, database_url=sqlite_url), webhook_port=port, secret=SECRET) as app:
        response = await post_update_async(f"http://127.0.0.1:{port}/telegram", _update(501), secret_token=SECRET)
        assert response.status_code == 200
        [message] = await telegram.wait_for_messages_async(77, count=1, timeout=10)
        assert "nog niets gestuurd" in message["text"]
        with transaction(runtime_of(app).services.sessions) as session:
            assert session.get(models.InboundUpdate, 501).status == "done"  # type: ignore[union-attr]
