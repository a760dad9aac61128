"""A poll with several answers through the real bot and the fake Bot API (issue 12): the creator allows them
in the /peiling preview, residents get a Telegram poll that allows several answers, and both count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application, CallbackContext

from bot import polls
from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer  # the `telegram` fixture: tests/bot/conftest.py
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_staff
from tests.polls_support import SLOTJES, ZONE, make_subscriber

App = Application[Any, Any, Any, Any, Any, Any]
STAFF, ANNA = 3300, 3301


@pytest.fixture
async def app(telegram: FakeTelegramServer, database_url: str) -> AsyncIterator[App]:
    settings = bot_settings(telegram, database_url=database_url, outreach_quiet_hours="")
    async with running_bot(settings) as application:
        yield application


async def test_the_creator_allows_several_answers_and_a_residents_two_answers_count(
    app: App, telegram: FakeTelegramServer
) -> None:
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        make_staff(session, rt.services.registry, areas=[SLOTJES], telegram_id=STAFF)
        make_subscriber(session, SLOTJES, telegram_id=ANNA)

    async def next_message(count: int) -> dict[str, Any]:
        return (await telegram.wait_for_messages_async(STAFF, count=count, timeout=15))[-1]

    telegram.push_command(STAFF, "peiling")
    await next_message(1)
    telegram.push_text(STAFF, "Wat wil je in het park?")
    await next_message(2)
    telegram.push_text(STAFF, "Bankjes\nBomen\nSpeeltuin")
    start = await next_message(3)
    telegram.push_callback(STAFF, "peiling:start:now", start["message_id"])
    close = await next_message(4)
    telegram.push_callback(STAFF, "peiling:close:7", close["message_id"])
    preview = await next_message(5)
    assert "Kiezen: één antwoord" in preview["plain_text"]
    assert "Bereikt 1 van de 1 inwoners die zich aanmeldden (1 van de " in preview["plain_text"]
    telegram.push_callback(STAFF, "peiling:multi", preview["message_id"])
    preview = await next_message(6)
    assert "Kiezen: meer antwoorden mag" in preview["plain_text"]
    telegram.push_callback(STAFF, "peiling:ok", preview["message_id"])
    assert "is verstuurd naar 1 inwoners" in (await next_message(7))["plain_text"]

    intro, poll = await telegram.wait_for_messages_async(ANNA, count=2, timeout=20)
    assert "alleen je eigen stem" in intro["plain_text"]
    assert poll["poll"]["allows_multiple_answers"] is True
    telegram.push_poll_answer(ANNA, poll["poll"]["id"], [0, 2])

    def counted(session: Any) -> bool:
        ballot = session.scalars(select(models.PollBallot)).one()
        return bool(ballot.option_ids == [0, 2])

    deadline = asyncio.get_running_loop().time() + 15
    while not await rt.db(counted):
        assert asyncio.get_running_loop().time() < deadline, "the two answers were never stored"
        await asyncio.sleep(0.05)
    stored = await rt.db(lambda s: s.scalars(select(models.Poll)).one().allows_multiple)
    assert stored is True
    assert not telegram.errors


async def test_the_creator_picks_one_buurt_in_the_preview_and_only_its_residents_get_the_poll(
    app: App, telegram: FakeTelegramServer
) -> None:
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        make_staff(session, rt.services.registry, areas=[SLOTJES], telegram_id=STAFF)
        oost = make_subscriber(session, SLOTJES, telegram_id=ANNA)
        oost.buurt_code = "BU08260100"
        midden = make_subscriber(session, SLOTJES, telegram_id=3302)
        midden.buurt_code = "BU08260101"

    async def next_message(count: int) -> dict[str, Any]:
        return (await telegram.wait_for_messages_async(STAFF, count=count, timeout=15))[-1]

    telegram.push_command(STAFF, "peiling")
    await next_message(1)
    telegram.push_text(STAFF, "Een bankje op het pleintje?")
    await next_message(2)
    telegram.push_text(STAFF, "Ja\nNee")
    start = await next_message(3)
    telegram.push_callback(STAFF, "peiling:start:now", start["message_id"])
    close = await next_message(4)
    telegram.push_callback(STAFF, "peiling:close:7", close["message_id"])
    preview = await next_message(5)
    assert "Slotjes (2 aangemelde inwoners)" in preview["plain_text"]
    telegram.push_callback(STAFF, "peiling:buurten", preview["message_id"])
    choice = await next_message(6)
    options = [b["callback_data"] for row in choice["reply_markup"]["inline_keyboard"] for b in row]
    assert options == [
        "peiling:buurt:BU08260100",
        "peiling:buurt:BU08260101",
        "peiling:buurt:BU08260102",
        "peiling:buurt:all",
    ]
    telegram.push_callback(STAFF, "peiling:buurt:BU08260100", choice["message_id"])
    preview = await next_message(7)
    assert "Slotjes-Oost in Slotjes (1 aangemelde inwoners)" in preview["plain_text"]
    telegram.push_callback(STAFF, "peiling:ok", preview["message_id"])
    assert "is verstuurd naar 1 inwoners" in (await next_message(8))["plain_text"]
    intro, _poll = await telegram.wait_for_messages_async(ANNA, count=2, timeout=20)
    assert "Peiling voor Slotjes-Oost (wijk Slotjes)" in intro["plain_text"]
    to_midden = await rt.db(
        lambda s: s.scalars(select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == 3302)).all()
    )
    assert to_midden == []
    stored = await rt.db(lambda s: s.scalars(select(models.Poll)).one().buurt_codes)
    assert stored == ["BU08260100"]


async def test_the_outreach_job_sends_the_monthly_message_on_the_first(app: App, telegram: FakeTelegramServer) -> None:
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        make_staff(session, rt.services.registry, areas=[SLOTJES], role="council", telegram_id=3400)
        make_subscriber(session, SLOTJES, telegram_id=ANNA)
    context = CallbackContext(app)
    rt.clock = lambda: datetime(2026, 11, 30, 10, 0, tzinfo=ZONE)
    await polls.run_outreach(context)
    rt.clock = lambda: datetime(2026, 12, 1, 10, 0, tzinfo=ZONE)
    await polls.run_outreach(context)
    text, chart = await telegram.wait_for_messages_async(3400, count=2, timeout=15)
    assert "Slotjes in november 2026" in text["plain_text"] and "Wat speelt er in de wijk" in text["plain_text"]
    assert chart["method"] == "sendPhoto"
    await polls.run_outreach(context)  # again that day: nothing new
    rows = await rt.db(
        lambda s: s.scalars(select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == 3400)).all()
    )
    assert len(rows) == 2
