"""Stored before acknowledged: an update is in the inbound log before Telegram hears it arrived, and what a
crash left unhandled is handled once after the restart (issue 16, item 7)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Update
from telegram.ext import Application, ContextTypes

from bot import resident
from bot.conversation import Conversation
from bot.intake import Stored, StoringUpdateQueue
from bot.main import build_application, record_at_intake
from bot.rasa_client import RasaReply
from db import models
from db.models import utcnow
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_resident, make_staff
from wijkbot.inbound import mark_retry, record_update
from wijkbot.items import file_item
from wijkbot.pending import (
    MAX_REDISPATCH,
    OPERATOR_ALERT,
    RESIDENT_NOTICE,
    expire_pending,
    record_handler_error,
    take_for_redispatch,
)
from wijkbot.privacy import expire_old_data
from wijkbot.services import Services
from wijkbot.settings import Settings
from wijkbot.staff_loop import set_awaiting

App = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@asynccontextmanager
async def bot_until_a_crash(settings: Settings) -> AsyncIterator[App]:
    """The bot up to the moment it dies: updates are taken from Telegram (and so acknowledged), but the
    process stops before any handler ran."""
    application = build_application(settings)
    await application.initialize()
    assert application.post_init is not None and application.updater is not None
    await application.post_init(application)
    await application.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=Update.ALL_TYPES)
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


def _statuses(app: App, update_ids: list[int]) -> list[str | None]:
    with transaction(runtime_of(app).services.sessions) as session:
        rows = [session.get(models.InboundUpdate, update_id) for update_id in update_ids]
        return [row.status if row else None for row in rows]


async def test_an_update_waiting_behind_its_chat_is_stored_before_telegram_is_acknowledged(
    telegram: FakeTelegramServer, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    answer_list = resident.list_my_items

    async def slow_list(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        started.set()
        await release.wait()
        await answer_list(update, context)

    monkeypatch.setattr(resident, "list_my_items", slow_list)
    async with running_bot(bot_settings(telegram, database_url=sqlite_url)) as app:
        first = telegram.push_command(801, "mijnideeen")
        second = telegram.push_command(801, "bestaatniet")  # waits behind the first, in memory
        await asyncio.wait_for(started.wait(), timeout=10)
        await telegram.wait_for_async(lambda: not telegram.pending_updates(), timeout=10)  # acknowledged
        assert _statuses(app, [first["update_id"], second["update_id"]]) == ["pending", "pending"]
        release.set()
        await telegram.wait_for_messages_async(801, count=2, timeout=10)
        await telegram.wait_for_async(lambda: _statuses(app, [second["update_id"]]) == ["done"], timeout=10)
    texts = [m["text"] for m in telegram.sent_messages(801)]
    assert len(texts) == 2 and "nog niets gestuurd" in texts[0] and "commando ken ik niet" in texts[1]


async def test_a_staff_reply_a_command_and_a_button_left_by_a_crash_are_handled_once_after_the_restart(
    telegram: FakeTelegramServer, database_url: str
) -> None:
    settings = bot_settings(telegram, database_url=database_url)
    async with bot_until_a_crash(settings) as app:
        services = runtime_of(app).services
        with transaction(services.sessions) as session:
            sanne = make_staff(session, services.registry, areas=["WK082613"], telegram_id=901, name="Sanne")
            make_staff(session, services.registry, areas=["WK082613"], telegram_id=902, name="Joris")
            first, second = (
                file_item(
                    session,
                    services.registry,
                    services.rules,
                    resident=make_resident(session, telegram_id=telegram_id),
                    kind="idea",
                    area_code="WK082613",
                    text=text,
                ).item.id
                for telegram_id, text in ((903, "bankje"), (904, "boom"))
            )
            set_awaiting(sanne, action="reply", item_id=first)
        reply = telegram.push_text(901, "Goed idee, we kijken ernaar.")
        button = telegram.push_callback(902, f"item:{second}:claim", message_id=1)
        command = telegram.push_command(905, "mijnideeen")
        await telegram.wait_for_async(lambda: not telegram.pending_updates(), timeout=10)
    # the process died: Telegram will not send these again, only the inbound log still has them
    async with running_bot(settings) as app:
        telegram.push_update(command)  # ... or Telegram does send one again: still handled once
        telegram.push_command(905, "bestaatniet")  # a later update proves the redelivery was seen
        await telegram.wait_for_messages_async(905, count=2, timeout=20)
        await telegram.wait_for_messages_async(903, count=1, timeout=20)
        await telegram.wait_for_calls_async("answerCallbackQuery", count=1, timeout=20)
        ids = [reply["update_id"], button["update_id"], command["update_id"]]
        await telegram.wait_for_async(lambda: _statuses(app, ids) == ["done"] * 3, timeout=20)
        with transaction(runtime_of(app).services.sessions) as session:
            claimed = session.get(models.Item, second)
            assert claimed is not None and claimed.claimed_by_id is not None
    [to_resident] = telegram.sent_messages(903)
    assert "Goed idee, we kijken ernaar." in to_resident["text"]
    texts = [m["text"] for m in telegram.sent_messages(905)]
    assert len(texts) == 2 and "nog niets gestuurd" in texts[0] and "commando ken ik niet" in texts[1]
    assert len(telegram.calls("answerCallbackQuery")) == 1


def test_an_update_that_keeps_failing_after_restarts_is_failed_and_the_inbox_alerted(services: Services) -> None:
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082600"], role="inbox", telegram_id=950, name="Loket")
        record_update(session, update_id=7001, chat_id=951, kind="command", payload={"update_id": 7001})
        record_update(session, update_id=7002, chat_id=952, kind="callback", payload={"update_id": 7002})
    with transaction(services.sessions) as session:  # the first start hands both back ...
        assert [r.update_id for r in take_for_redispatch(session)] == [7001, 7002]
        session.get(models.InboundUpdate, 7002).status = "done"  # type: ignore[union-attr]
    for _ in range(MAX_REDISPATCH - 1):  # ... and dies on 7001, as does every start after it
        with transaction(services.sessions) as session:
            assert [r.update_id for r in take_for_redispatch(session)] == [7001]
    with transaction(services.sessions) as session:
        assert take_for_redispatch(session) == []
        assert session.get(models.InboundUpdate, 7001).status == "failed"  # type: ignore[union-attr]
        sent = {(r.recipient_chat_id, r.payload["text"]) for r in session.scalars(select(models.OutboxMessage))}
    alert = OPERATOR_ALERT.format(update_id=7001, kind="command", reason=f"{MAX_REDISPATCH} keer geprobeerd")
    assert (951, RESIDENT_NOTICE) in sent and (950, alert) in sent


def test_a_pending_update_expires_with_retention(services: Services) -> None:
    now = utcnow()
    with transaction(services.sessions) as session:
        record_update(session, update_id=7101, chat_id=961, kind="text", payload={}, now=now - timedelta(days=91))
        record_update(session, update_id=7102, chat_id=961, kind="text", payload={}, now=now - timedelta(days=1))
    with transaction(services.sessions) as session:  # what the retention job does
        expire_pending(session, cutoff=now - timedelta(days=90), now=now)
        expire_old_data(session, retention=timedelta(days=90), now=now)
    with transaction(services.sessions) as session:
        assert session.get(models.InboundUpdate, 7101) is None
        assert session.get(models.InboundUpdate, 7102).status == "pending"  # type: ignore[union-attr]


async def test_a_new_message_in_a_chat_waiting_for_rasa_keeps_the_chat_s_backoff(services: Services) -> None:
    now = utcnow()
    asked: list[str] = []

    class Rasa:
        async def answered_before(self, *, sender: str, update_id: int) -> list[RasaReply] | None:
            return None  # this Rasa never saved a turn the bot gave up on

        async def turn(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaReply]:
            asked.append(text)
            return [RasaReply(text=f"antwoord op {text}", buttons=[])]

    with transaction(services.sessions) as session:
        payload = {"text": "eerste", "user_id": 971, "meta": {}}
        record_update(session, update_id=7201, chat_id=971, kind="rasa", payload=payload, now=now)
        mark_retry(session, update_id=7201, now=now)  # Rasa failed: next try in 2 s
    clock = [now]
    conversation = Conversation(services, Rasa(), lambda: None, clock=lambda: clock[0])  # type: ignore[arg-type]
    await conversation.submit(update_id=7202, chat_id=971, user_id=971, text="tweede", meta={})
    assert asked == []  # queued behind the waiting turn, no early try
    clock[0] = now + timedelta(seconds=3)
    assert await conversation.drain(971)
    assert asked == ["eerste", "tweede"]


async def test_a_command_whose_handler_raises_is_told_to_the_inbox_and_its_sender(
    telegram: FakeTelegramServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise RuntimeError("kapot in de test")

    monkeypatch.setattr(resident, "list_my_items", broken)
    monkeypatch.setattr(resident, "press_my_items_page", broken)
    settings = bot_settings(telegram, database_url=database_url)
    async with running_bot(settings) as app:
        services = runtime_of(app).services
        with transaction(services.sessions) as session:
            make_staff(session, services.registry, areas=["WK082600"], role="inbox", telegram_id=960, name="Loket")
        command = telegram.push_command(961, "mijnideeen")
        [notice] = await telegram.wait_for_messages_async(961, count=1, timeout=20)
        [alert] = await telegram.wait_for_messages_async(960, count=1, timeout=20)
        button = telegram.push_callback(962, "mine:2", message_id=1)
        await telegram.wait_for_messages_async(960, count=2, timeout=20)
        await telegram.wait_for_calls_async("answerCallbackQuery", count=1, timeout=20)
        statuses = _statuses(app, [command["update_id"], button["update_id"]])
    assert notice["text"] == RESIDENT_NOTICE
    assert "update " + str(command["update_id"]) in alert["text"] and "RuntimeError: kapot in de test" in alert["text"]
    assert statuses == ["failed", "failed"]
    # the presser of a button was told by the button itself, not by a second message
    assert telegram.sent_messages(962) == []


def test_a_resident_turn_whose_handler_raises_waits_for_the_retry_job_and_nobody_is_told_yet(
    services: Services,
) -> None:
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082600"], role="inbox", telegram_id=970, name="Loket")
        record_update(session, update_id=7101, chat_id=971, kind="rasa", payload={"update_id": 7101})
        assert record_handler_error(session, update_id=7101, error="RuntimeError: x", now=utcnow()) == "pending"
        assert record_handler_error(session, update_id=7199, error="RuntimeError: x", now=utcnow()) is None
        assert session.scalars(select(models.OutboxMessage)).all() == []


def _text_update(update_id: int, user_id: int, text: str, *, chat_type: str = "private") -> Update:
    chat_id = user_id if chat_type == "private" else -100123
    update = Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": chat_type},
                "from": {"id": user_id, "is_bot": False, "first_name": "Anna"},
                "text": text,
            },
        },
        None,
    )
    assert update is not None
    return update


def test_the_intake_looks_up_whether_a_private_text_comes_from_staff_while_it_stores_it(services: Services) -> None:

    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082613"], telegram_id=7001)
    cases = [
        (_text_update(9001, 7002, "de lantaarn is kapot"), Stored(new=True, resident_text=True)),
        (_text_update(9002, 7001, "ik kijk ernaar"), Stored(new=True, resident_text=False)),  # staff
        (_text_update(9003, 7002, "/help"), Stored(new=True, resident_text=False)),  # a command
        (_text_update(9004, 7002, "hoi allemaal", chat_type="group"), Stored(new=True, resident_text=False)),
        (_text_update(9001, 7002, "de lantaarn is kapot"), Stored(new=False, resident_text=False)),  # again
    ]
    for update, expected in cases:
        with transaction(services.sessions) as session:
            assert record_at_intake(update, now=utcnow())(session) == expected


async def test_the_staff_handler_is_told_once_that_a_stored_text_comes_from_a_resident() -> None:

    queue = StoringUpdateQueue()
    found = {9101: Stored(new=True, resident_text=True), 9102: Stored(new=True, resident_text=False)}

    async def store(update: Update) -> Stored:
        return found[update.update_id]

    queue.store = store
    await queue.put(_text_update(9101, 7002, "hallo"))
    await queue.put(_text_update(9102, 7001, "hallo"))
    assert queue.from_resident(9101) is True
    assert queue.from_resident(9101) is False  # asked once
    assert queue.from_resident(9102) is False  # staff (or unknown): the handler looks itself
