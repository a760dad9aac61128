"""The Telegram front door without the assistant: storage, redelivery, staff onboarding, buttons, odd input."""

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
from tests.bot.harness import outbox_idle, running_bot, runtime_of
from tests.factories import make_resident, make_staff
from wijkbot.items import file_item
from wijkbot.staff import invite_staff

App = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def app(telegram: FakeTelegramServer, database_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=database_url)) as application:
        yield application


async def test_an_update_delivered_twice_is_answered_once(app: App, telegram: FakeTelegramServer) -> None:
    update = telegram.push_command(301, "mijnideeen")
    await telegram.wait_for_messages_async(301, count=1, timeout=10)
    telegram.push_update(update)  # Telegram redelivers the same update_id
    telegram.push_command(301, "help_me_not")  # a later update proves the redelivery was processed
    await telegram.wait_for_messages_async(301, count=2, timeout=10)
    texts = [m["text"] for m in telegram.sent_messages(301)]
    assert len(texts) == 2 and "nog niets gestuurd" in texts[0] and "commando ken ik niet" in texts[1]


async def test_a_staff_invite_binds_the_telegram_account_once(app: App, telegram: FakeTelegramServer) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        code = invite_staff(session, services.registry, role="wijkmakelaar", area_codes=["WK082613"]).invite_code
    telegram.push_command(401, "start", args=code, first_name="Sanne")
    [welcome] = await telegram.wait_for_messages_async(401, count=1, timeout=10)
    assert "Welkom, Sanne" in welcome["text"] and "WK082613" in welcome["text"]
    telegram.push_command(402, "start", args=code, first_name="Indringer")  # the code is used up
    await telegram.wait_for_messages_async(402, count=1, timeout=30)
    with transaction(services.sessions) as session:
        staff = session.scalars(select(models.StaffMember)).one()
        assert (staff.telegram_id, staff.name, staff.invite_code) == (401, "Sanne", None)


async def test_forged_or_foreign_staff_buttons_are_refused(app: App, telegram: FakeTelegramServer) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082613"], telegram_id=501, name="Dorst")
        make_staff(session, services.registry, areas=["WK082611"], telegram_id=502, name="Den Hout")
        resident = make_resident(session, telegram_id=503)
        item_id = file_item(
            session,
            services.registry,
            services.rules,
            resident=resident,
            kind="idea",
            area_code="WK082613",
            text="bankje",
        ).item.id
    for user, data in (
        (502, f"item:{item_id}:claim"),
        (503, f"item:{item_id}:claim"),
        (501, "item:x:claim"),
        (501, f"item:{item_id}:fwd:99999"),
        (501, f"item:{item_id}:out:<b>"),
    ):
        telegram.push_callback(user, data, message_id=1)
    await telegram.wait_for_calls_async("answerCallbackQuery", count=5, timeout=10)
    answers = [c.params.get("text", "") for c in telegram.calls("answerCallbackQuery")]
    assert all(a for a in answers), answers
    with transaction(services.sessions) as session:
        item = session.get(models.Item, item_id)
        assert item is not None and item.status == "new" and item.claimed_by_id is None


async def test_a_resident_cannot_press_a_button_sent_to_someone_else(app: App, telegram: FakeTelegramServer) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        from wijkbot.outbox import enqueue
        from wijkbot.payloads import Text

        enqueue(
            session,
            purpose="x",
            chat_id=601,
            message=Text(text="Kies", rasa_buttons=[{"title": "Dorst", "payload": '/inform{"area_code":"WK082613"}'}]),
        )
        row_id = session.scalars(select(models.OutboxMessage.id)).one()
    telegram.push_callback(602, f"rb:{row_id}:0", message_id=1)
    await telegram.wait_for_calls_async("answerCallbackQuery", count=1, timeout=10)
    assert "werkt niet" in telegram.calls("answerCallbackQuery")[0].params["text"]


@pytest.mark.parametrize(
    ("push", "expected"),
    [
        (lambda tg: tg.push_voice(701), "alleen tekst"),
        (lambda tg: tg.push_sticker(701), "alleen tekst"),
        (lambda tg: tg.push_location(701, 51.6, 4.86), "postcode"),
        (lambda tg: tg.push_photo(701), "Vertel eerst"),
        (lambda tg: tg.push_command(701, "bestaatniet"), "commando ken ik niet"),
        (lambda tg: tg.push_group_text(701, -1001, "hallo"), "privégesprek"),
    ],
)
async def test_odd_input_gets_a_clear_answer(app: App, telegram: FakeTelegramServer, push: Any, expected: str) -> None:
    update = push(telegram)
    chat = update.get("message", {}).get("chat", {}).get("id", 701)
    [answer] = await telegram.wait_for_messages_async(chat, count=1, timeout=10)
    assert expected in answer["text"]


async def test_an_edited_message_is_acknowledged(app: App, telegram: FakeTelegramServer) -> None:
    telegram.push_command(801, "mijnideeen")
    [first] = await telegram.wait_for_messages_async(801, count=1, timeout=10)
    telegram.push_edited_text(801, first["message_id"], "aangepast")
    answers = await telegram.wait_for_messages_async(801, count=2, timeout=10)
    assert "aangepast" in answers[1]["text"]


async def test_a_photo_is_attached_to_the_open_item_by_file_id(app: App, telegram: FakeTelegramServer) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082613"], telegram_id=901, name="Dorst")
        resident = make_resident(session, telegram_id=902)
        item_id = file_item(
            session,
            services.registry,
            services.rules,
            resident=resident,
            kind="report",
            area_code="WK082613",
            text="losse tegel",
        ).item.id
    telegram.push_photo(902)
    [answer] = await telegram.wait_for_messages_async(902, count=1, timeout=10)
    assert f"#{item_id}" in answer["text"] and "locatie" in answer["text"]
    await telegram.wait_for_async(
        lambda: any(m["method"] == "sendPhoto" for m in telegram.sent_messages(901)), timeout=10
    )
    with transaction(services.sessions) as session:
        photos = session.get(models.Item, item_id).details["photos"]  # type: ignore[union-attr]
        assert len(photos) == 1 and isinstance(photos[0], str)
    assert telegram.calls("getFile") == []  # nothing downloaded


async def test_an_unclaimed_item_reminds_its_staff_then_escalates_to_the_lead(
    app: App, telegram: FakeTelegramServer
) -> None:
    from datetime import timedelta

    from db.models import utcnow

    rt = runtime_of(app)
    services = rt.services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082613"], telegram_id=1101, name="Dorst")
        make_staff(session, services.registry, areas=["WK082613"], telegram_id=1102, name="Wethouder", role="lead")
        resident = make_resident(session, telegram_id=1103)
        item_id = file_item(
            session,
            services.registry,
            services.rules,
            resident=resident,
            kind="report",
            area_code="WK082613",
            text="kapotte bank",
        ).item.id
    await telegram.wait_for_messages_async(1101, count=1, timeout=10)  # the notification
    assert app.job_queue is not None
    [reminders] = app.job_queue.get_jobs_by_name("reminders")
    await outbox_idle(app)
    rt.clock = lambda: utcnow() + timedelta(hours=25)
    await reminders.run(app)
    reminder = (await telegram.wait_for_messages_async(1101, count=2, timeout=10))[-1]
    assert "Herinnering" in reminder["text"] and f"#{item_id}" in reminder["text"]
    assert telegram.sent_messages(1102) == []
    await outbox_idle(app)
    rt.clock = lambda: utcnow() + timedelta(hours=73)
    await reminders.run(app)
    [escalation] = await telegram.wait_for_messages_async(1102, count=1, timeout=10)
    assert "Escalatie" in escalation["text"] and escalation["reply_markup"]
