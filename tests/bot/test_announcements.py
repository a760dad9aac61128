"""/aankondiging through the real bot and the fake Bot API (issue 12): a raad member announces a meeting, sees
a preview with the number it reaches, sends it; only the subscribers of that wijk get it; Ik kom and Herinner
me are counted and the sender sees the counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer  # the `telegram` fixture: tests/bot/conftest.py
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_staff
from tests.polls_support import DEN_HOUT, NOW, SLOTJES, ZONE, make_subscriber

App = Application[Any, Any, Any, Any, Any, Any]
RAAD = 7501


@pytest.fixture
async def app(telegram: FakeTelegramServer, database_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=database_url)) as application:
        runtime_of(application).clock = lambda: NOW  # 11:00 in Amsterdam: no quiet hours
        yield application


def buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


async def test_a_raad_member_announces_a_meeting_to_the_subscribers_of_their_wijk(
    app: App, telegram: FakeTelegramServer
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=[SLOTJES], role="council", telegram_id=RAAD, name="Wim")
        anna = make_subscriber(session, SLOTJES, telegram_id=7511).telegram_id
        make_subscriber(session, SLOTJES, telegram_id=7512, opted_in=False)
        make_subscriber(session, DEN_HOUT, telegram_id=7513)

    async def step(text: str | None, count: int) -> dict[str, Any]:
        if text is not None:
            telegram.push_text(RAAD, text)
        return (await telegram.wait_for_messages_async(RAAD, count=count, timeout=10))[count - 1]

    telegram.push_command(RAAD, "aankondiging")
    assert "Nieuwe aankondiging" in (await step(None, 1))["plain_text"]
    assert "Wanneer" in (await step("Openbare vergadering wijkraad", 2))["plain_text"]
    assert "begrijp ik niet" in (await step("volgende week ergens", 3))["plain_text"]
    assert "Waar" in (await step("3-12 19:30", 4))["plain_text"]
    assert "tekst" in (await step("Wijkcentrum De Slotjes", 5))["plain_text"]
    preview = await step("Op de agenda: het park en de speeltuin.", 6)
    assert "Dit bereikt 1 aangemelde inwoners" in preview["plain_text"]
    assert "3 december om 19:30" in preview["plain_text"]
    telegram.push_callback(RAAD, buttons(preview)["Versturen"], preview["message_id"])
    sent = await step(None, 7)
    assert "gaat naar 1 inwoners" in sent["plain_text"]

    [announcement] = await telegram.wait_for_messages_async(anna, count=1, timeout=10)
    assert "Openbare vergadering wijkraad" in announcement["plain_text"] and "/stop" in announcement["plain_text"]
    telegram.push_callback(anna, buttons(announcement)["Ik kom"], announcement["message_id"])
    assert "Fijn dat je komt" in (await telegram.wait_for_messages_async(anna, count=2, timeout=10))[1]["plain_text"]
    telegram.push_callback(anna, buttons(announcement)["Herinner me"], announcement["message_id"])
    reminder_set = (await telegram.wait_for_messages_async(anna, count=3, timeout=10))[2]
    assert "2 december om 10:00" in reminder_set["plain_text"]

    telegram.push_callback(RAAD, buttons(sent)["Tellingen"], sent["message_id"])
    counted = await step(None, 8)
    assert "Verstuurd: 1 van 1" in counted["plain_text"]
    assert "Ik kom: 1" in counted["plain_text"] and "Herinner me: 1" in counted["plain_text"]
    # nobody else got it, and the reminder waits for the day before
    assert telegram.sent_messages(7512) == [] and telegram.sent_messages(7513) == []
    with transaction(services.sessions) as session:
        reminder = session.scalars(
            select(models.OutboxMessage).where(models.OutboxMessage.purpose == "announce:1:remind")
        ).one()
        assert (reminder.status, reminder.not_before) == ("pending", datetime(2026, 12, 2, 10, 0, tzinfo=ZONE))
    assert not telegram.errors


async def test_a_resident_cannot_announce(app: App, telegram: FakeTelegramServer) -> None:
    telegram.push_command(7521, "aankondiging")
    [answer] = await telegram.wait_for_messages_async(7521, count=1, timeout=10)
    assert "medewerker of raadslid" in answer["plain_text"]
