"""Long messages reach their reader whole, against a fake Bot API that refuses, like Telegram, any text over
4,096 UTF-16 units (issue 16, item 6). Rasa is away: relays, staff replies and commands need no assistant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from telegram.ext import Application

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram, utf16_len
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_item, make_resident, make_staff
from wijkbot.services import Services
from wijkbot.staff_loop import reply, set_awaiting

App = Application[Any, Any, Any, Any, Any, Any]
DORST = "WK082613"
ASTRAL = "🙂"
LONG = ("Het gaat om de stoep " + ASTRAL + " ") * 170  # 4,080 UTF-16 units, 3,910 characters


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def app(telegram: FakeTelegramServer, sqlite_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=sqlite_url)) as application:
        yield application


def _words(text: str) -> str:
    return " ".join(text.split())


def _refused(telegram: FakeTelegramServer) -> list[Any]:
    return [call for call in telegram.calls() if call.status >= 400]


def _file(services: Services, resident: models.Resident, text: str) -> int:
    with transaction(services.sessions) as session:
        resident = session.merge(resident)
        return make_item(
            session, services.registry, resident=resident, area_code=DORST, text=text, rules=services.rules
        ).id


async def test_a_long_relayed_resident_answer_reaches_the_staff_member_whole(
    app: App, telegram: FakeTelegramServer
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        sanne = make_staff(session, services.registry, areas=[DORST], telegram_id=4101, name="Sanne")
        resident = make_resident(session, telegram_id=4103)
    item = _file(services, resident, "Een bankje bij de kerk")
    await telegram.wait_for_messages_async(4101, count=1, timeout=10)  # the notification
    with transaction(services.sessions) as session:
        staff = session.get(models.StaffMember, sanne.id)
        assert staff is not None
        reply(session, services.registry, staff=staff, item_id=item, text="Vertel eens meer?")
    runtime_of(app).sender.wake()
    await telegram.wait_for_messages_async(4103, count=1, timeout=10)
    telegram.push_text(4103, LONG)
    relayed = (await telegram.wait_for_messages_async(4101, count=3, timeout=20))[1:]
    assert all(utf16_len(m["plain_text"]) <= 4096 for m in relayed)
    assert _words(LONG) in _words(" ".join(m["plain_text"] for m in relayed))
    told = await telegram.wait_for_messages_async(4103, count=2, timeout=10)
    assert "doorgestuurd naar Sanne" in told[-1]["plain_text"]
    assert _refused(telegram) == []


async def test_a_long_staff_reply_reaches_the_resident_whole(app: App, telegram: FakeTelegramServer) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        sanne = make_staff(session, services.registry, areas=[DORST], telegram_id=4201, name="Sanne")
        resident = make_resident(session, telegram_id=4203)
    item = _file(services, resident, "Meer groen in de straat")
    await telegram.wait_for_messages_async(4201, count=1, timeout=10)
    with transaction(services.sessions) as session:
        staff = session.get(models.StaffMember, sanne.id)
        assert staff is not None
        set_awaiting(staff, action="reply", item_id=item, now=runtime_of(app).clock())
    telegram.push_text(4201, LONG)
    answer = await telegram.wait_for_messages_async(4203, count=2, timeout=20)
    assert all(utf16_len(m["plain_text"]) <= 4096 for m in answer)
    assert _words(LONG) in _words(" ".join(m["plain_text"] for m in answer))
    assert "Antwoord van Sanne" in answer[0]["plain_text"] and "terugschrijven" in answer[-1]["plain_text"]
    assert _refused(telegram) == []


async def test_an_inbox_of_40_items_comes_in_pages_turned_with_volgende(app: App, telegram: FakeTelegramServer) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        resident = make_resident(session, telegram_id=4303)
    items = [_file(services, resident, f"{i} " + ASTRAL * 70) for i in range(40)]  # filed before staff exists
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=[DORST], telegram_id=4301, name="Sanne")
    telegram.push_command(4301, "inbox")
    pages = [(await telegram.wait_for_messages_async(4301, count=1, timeout=10))[-1]]
    while True:
        keyboard = (pages[-1].get("reply_markup") or {}).get("inline_keyboard") or [[]]
        forward = [b for b in keyboard[0] if b["text"].startswith("Volgende")]
        if not forward:
            break
        telegram.push_callback(4301, forward[0]["callback_data"], message_id=pages[-1]["message_id"])
        pages.append((await telegram.wait_for_messages_async(4301, count=len(pages) + 1, timeout=10))[-1])
    assert len(pages) == 3 and pages[0]["plain_text"].startswith("Open items (1/3)")
    assert all(utf16_len(p["plain_text"]) <= 4096 for p in pages)
    listed = " ".join(p["plain_text"] for p in pages)
    assert all(f"#{item} " in listed for item in items)
    telegram.push_command(4301, "inbox 2")  # or by number
    again = (await telegram.wait_for_messages_async(4301, count=4, timeout=10))[-1]
    assert again["plain_text"] == pages[1]["plain_text"]
    assert _refused(telegram) == []


async def test_mijnideeen_with_long_outcomes_comes_in_pages(app: App, telegram: FakeTelegramServer) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        resident = make_resident(session, telegram_id=4403)
    items = [_file(services, resident, f"Idee {i}") for i in range(12)]
    with transaction(services.sessions) as session:
        for item_id in items:
            item = session.get(models.Item, item_id)
            assert item is not None
            item.status, item.outcome = "closed", "We hebben het uitgevoerd. " * 40  # ~1,000 characters
    telegram.push_command(4403, "mijnideeen")
    first = (await telegram.wait_for_messages_async(4403, count=1, timeout=10))[-1]
    assert first["plain_text"].startswith("Wat je hebt gestuurd: (1/2)")
    [[volgende]] = first["reply_markup"]["inline_keyboard"]
    telegram.push_callback(4403, volgende["callback_data"], message_id=first["message_id"])
    second = (await telegram.wait_for_messages_async(4403, count=2, timeout=10))[-1]
    assert second["plain_text"].startswith("Wat je hebt gestuurd: (2/2)")
    listed = first["plain_text"] + second["plain_text"]
    assert all(f"#{item} " in listed for item in items)
    assert _refused(telegram) == []
