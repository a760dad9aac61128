"""The raad as an actor in the chat (issue 12): on the copy of an idea the routing rules sent it, a raad member
answers the resident (marked as the raad) or gives advice to the municipality (never seen by the resident)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram.ext import Application

from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.bot.test_reach import GreetingRasa, buttons
from tests.factories import make_resident, make_staff
from wijkbot.items import file_item

App = Application[Any, Any, Any, Any, Any, Any]
NOW = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)
RUWAARD = "WK082806"  # Oss: ideas also go to the wijkraad (routing.yaml)


@pytest.fixture
async def app(telegram: FakeTelegramServer, database_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=database_url)) as application:
        rt = runtime_of(application)
        rt.clock = lambda: NOW
        rt.conversation.rasa = GreetingRasa()  # type: ignore[assignment]
        yield application


async def test_a_raad_member_advises_the_coordinator_and_answers_the_resident(
    app: App, telegram: FakeTelegramServer
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=[RUWAARD], role="wijkcoordinator", name="Co", telegram_id=9601)
        make_staff(session, services.registry, areas=[RUWAARD], role="council", name="Raad", telegram_id=9602)
        resident = make_resident(session, telegram_id=9603)
        item_id = file_item(
            session,
            services.registry,
            services.rules,
            resident=resident,
            kind="idea",
            area_code=RUWAARD,
            text="Een moestuin bij de school",
            now=NOW,  # the bot's clock: the copies are due for the sender whatever the calendar says
        ).item.id
    runtime_of(app).sender.wake()
    [copy] = await telegram.wait_for_messages_async(9602, count=1, timeout=10)
    assert buttons(copy) == {"Beantwoorden": f"item:{item_id}:reply", "Advies geven": f"item:{item_id}:advise"}

    telegram.push_callback(9602, buttons(copy)["Advies geven"], copy["message_id"])
    asked = (await telegram.wait_for_messages_async(9602, count=2, timeout=10))[1]
    assert "Typ je advies" in asked["plain_text"]
    telegram.push_text(9602, "Past mooi bij het buurtfeest in juni")
    done = (await telegram.wait_for_messages_async(9602, count=3, timeout=10))[2]
    assert "naar de wijkcoördinator gestuurd" in done["plain_text"]
    advice = (await telegram.wait_for_messages_async(9601, count=2, timeout=10))[1]
    assert "Advies van Raad" in advice["plain_text"] and "buurtfeest in juni" in advice["plain_text"]

    telegram.push_callback(9602, buttons(copy)["Beantwoorden"], copy["message_id"])
    await telegram.wait_for_messages_async(9602, count=4, timeout=10)
    telegram.push_text(9602, "Kom je het op onze vergadering vertellen?")
    answered = (await telegram.wait_for_messages_async(9603, count=1, timeout=10))[0]
    assert "Antwoord van Raad (wijk- of dorpsraad)" in answered["plain_text"]
    assert not any("buurtfeest" in m["plain_text"] for m in telegram.sent_messages(9603))  # advice stays inside
    telegram.push_text(9603, "Ja, ik kom graag!")  # the resident writes back: it goes to the raad member
    # found by its text: the raad member's confirmation of their own answer may be queued after it
    relayed = await telegram.wait_for_text_async(9602, "Ja, ik kom graag!", since=4, timeout=10)
    assert "antwoordt op #" in relayed["plain_text"]
    assert runtime_of(app).conversation.rasa.turns == []  # type: ignore[attr-defined]  # not through Rasa
