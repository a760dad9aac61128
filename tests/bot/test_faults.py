"""Faults: Rasa killed, the action server hanging, the database locked, Telegram answering 500 or 429.

Afterwards every resident message is answered exactly once. These tests run last: killing Rasa costs a
model load.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from bot.conversation import HOLDING_REPLY
from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer
from tests.bot.harness import Chat, runtime_of, settled
from tests.factories import make_staff
from tests.stack import Stack

pytestmark = pytest.mark.rasa
App = Application[Any, Any, Any, Any, Any, Any]
RASA_TIMEOUT_SECONDS = 5.0
_users = itertools.count(660_000_001)


def answers(telegram: FakeTelegramServer, user: int) -> list[str]:
    return [m["text"] for m in telegram.sent_messages(user)]


async def test_telegram_500s_and_429s_delay_but_do_not_lose_or_double(
    stack: Stack, telegram: FakeTelegramServer, app: App
) -> None:
    user = next(_users)
    telegram.fail_next("sendMessage", status=500, times=2, chat_id=user)
    telegram.push_text(user, "hallo")
    await telegram.wait_for_messages_async(user, count=1, timeout=60)
    telegram.fail_next("sendMessage", status=429, retry_after=1, chat_id=user)
    telegram.push_text(user, "wie is mijn wijkmakelaar?")
    await telegram.wait_for_messages_async(user, count=2, timeout=60)
    await settled(app, user)
    assert len(answers(telegram, user)) == 2


async def test_a_hanging_action_server_gives_a_holding_reply_then_one_answer(
    stack: Stack, telegram: FakeTelegramServer, app: App
) -> None:
    user = next(_users)
    stack.pause_actions()
    try:
        telegram.push_text(user, "ik heb een idee")
        holding = await telegram.wait_for_messages_async(user, count=1, timeout=60)
        assert holding[0]["text"] == HOLDING_REPLY
        telegram.push_text(user, "een bankje bij de kerk")  # waits behind the first, in order
        await asyncio.sleep(3)
        assert answers(telegram, user) == [HOLDING_REPLY]  # one holding reply per waiting streak
    finally:
        stack.resume_actions()
    await settled(app, user)
    await telegram.wait_for_messages_async(user, count=3, timeout=60)
    await settled(app, user)
    texts = answers(telegram, user)
    assert texts[0] == HOLDING_REPLY and "Wat is je idee?" in texts[1] and "Waar is je idee?" in texts[2]
    assert len(texts) == 3


async def test_a_submit_turn_that_outlasts_the_bot_s_patience_files_once_and_the_resident_gets_one_receipt(
    stack: Stack, telegram: FakeTelegramServer, app: App
) -> None:
    """ "Ja, insturen": the action server files the report, but Rasa cannot save the turn (its tracker store is
    held by another writer), so the bot gives up waiting (holding reply) and sends the turn again later, and
    Rasa runs "Ja, insturen" once more on the unsaved conversation. One item, one notification per staff
    member, one receipt for the resident."""
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        staff = [
            make_staff(session, services.registry, areas=["WK082611"], name=name, telegram_id=next(_users))
            for name in ("Sanne", "Joost")
        ]
        staff_chats = sorted(s.telegram_id for s in staff if s.telegram_id is not None)
    resident = Chat(telegram, app, next(_users))

    def items() -> list[models.Item]:
        with transaction(services.sessions) as session:
            return list(
                session.scalars(
                    select(models.Item).join(models.Resident).where(models.Resident.telegram_id == resident.user_id)
                )
            )

    await resident.say("ik wil iets melden")
    await resident.say("er ligt een losse stoeptegel voor ons huis")
    summary = await resident.say("4911AB")
    assert "Dit is je melding" in summary["text"]
    writer = sqlite3.connect(stack.tracker_db, timeout=30, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # Rasa still reads its conversations, but cannot save one
    try:
        assert (await resident.press(summary, "Ja, insturen"))["text"] == HOLDING_REPLY  # the bot gave up
        await telegram.wait_for_async(lambda: len(items()) == 1, timeout=30)  # ... after the report was filed
    finally:
        writer.rollback()
        writer.close()
    await telegram.wait_for_async(lambda: any("Dank je wel" in m["text"] for m in resident.received), timeout=90)
    await settled(app, resident.user_id)
    [item] = items()
    with transaction(services.sessions) as session:
        notified = session.scalars(
            select(models.OutboxMessage.recipient_chat_id).where(models.OutboxMessage.item_id == item.id)
        ).all()
    # one notification per staff member of the area (other tests' staff there too), nobody notified twice
    assert set(staff_chats) <= set(notified) and len(notified) == len(set(notified))
    receipts = [m["text"] for m in resident.received if "Dank je wel" in m["text"]]
    assert len(receipts) == 1 and f"nummer {item.id}" in receipts[0]


async def test_a_locked_database_for_a_moment_loses_nothing(
    stack: Stack, telegram: FakeTelegramServer, app: App
) -> None:
    user = next(_users)
    path = stack.database_url.removeprefix("sqlite:///")
    locked = threading.Event()

    def hold_lock() -> None:
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        threading.Event().wait(3)
        connection.rollback()
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(10)
    telegram.push_text(user, "hallo")
    await telegram.wait_for_messages_async(user, count=1, timeout=90)
    holder.join()
    await settled(app, user)
    assert len(answers(telegram, user)) == 1


async def test_rasa_killed_mid_conversation_then_back_answers_once(
    stack: Stack, telegram: FakeTelegramServer, app: App
) -> None:
    user = next(_users)
    telegram.push_text(user, "ik heb een idee")
    await telegram.wait_for_messages_async(user, count=1, timeout=60)
    stack.stop_rasa()
    try:
        telegram.push_text(user, "een jeu de boules baan bij het dorpshuis")
        second = await telegram.wait_for_messages_async(user, count=2, timeout=60)
        assert second[-1]["text"] == HOLDING_REPLY
        telegram.push_text(user, "hallo?")
        await asyncio.sleep(3)
        assert len(answers(telegram, user)) == 2
    finally:
        stack.start_rasa()
    await settled(app, user)
    await telegram.wait_for_messages_async(user, count=4, timeout=60)
    await settled(app, user)
    texts = answers(telegram, user)
    assert "Wat is je idee?" in texts[0] and texts[1] == HOLDING_REPLY
    assert "Waar is je idee?" in texts[2]  # the waiting message, answered once and in order
    assert len(texts) == 4  # ... and the one after it
