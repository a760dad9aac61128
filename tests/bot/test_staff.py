"""The staff commands and buttons in Telegram, against the fake Bot API (no assistant needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from telegram.ext import Application

from db import models
from db.models import utcnow
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import outbox_idle, running_bot, runtime_of
from tests.factories import make_item, make_resident, make_staff
from wijkbot.services import Services

App = Application[Any, Any, Any, Any, Any, Any]
RUWAARD = "WK082806"  # Oss: ideas are copied to the Wijkraad Ruwaard


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def app(telegram: FakeTelegramServer, sqlite_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=sqlite_url)) as application:
        yield application


def _file(services: Services, resident: models.Resident, kind: str, text: str, area: str = RUWAARD) -> int:
    with transaction(services.sessions) as session:
        resident = session.merge(resident)
        return make_item(
            session, services.registry, resident=resident, kind=kind, area_code=area, text=text, rules=services.rules
        ).id


async def test_a_council_member_s_inbox_lists_only_the_ideas_sent_to_them(
    app: App, telegram: FakeTelegramServer
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=[RUWAARD], role="wijkcoordinator", telegram_id=2001)
        make_staff(session, services.registry, areas=[RUWAARD], role="council", telegram_id=2002, name="Raad")
        resident = make_resident(session, telegram_id=2003)
    idea = _file(services, resident, "idea", "Een moestuin aan de Ruwaardflat")
    report = _file(services, resident, "report", "Losse stoeptegel bij nummer 12")
    question = _file(services, resident, "question", "Wanneer wordt het gras gemaaid?")
    await telegram.wait_for_messages_async(2002, count=1, timeout=10)  # the council's copy of the idea
    telegram.push_command(2002, "inbox")
    listing = (await telegram.wait_for_messages_async(2002, count=2, timeout=10))[-1]["text"]
    assert f"#{idea} " in listing and "moestuin" in listing
    assert f"#{report} " not in listing and f"#{question} " not in listing
    telegram.push_command(2001, "inbox")  # the wijkcoördinator sees all three
    listing = (await telegram.wait_for_messages_async(2001, count=4, timeout=10))[-1]["text"]
    assert all(f"#{i} " in listing for i in (idea, report, question))


async def test_a_council_member_s_handling_buttons_on_the_idea_copied_to_them_are_refused(
    app: App, telegram: FakeTelegramServer
) -> None:
    """(Beantwoorden and Advies geven are theirs on a copy: tests/bot/test_raad.py.)"""
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=[RUWAARD], role="council", telegram_id=2102, name="Raad")
        resident = make_resident(session, telegram_id=2103)
    idea = _file(services, resident, "idea", "Bloembakken")
    for action in ("claim", "forward", "close", "out:done"):
        telegram.push_callback(2102, f"item:{idea}:{action}", message_id=1)
    calls = await telegram.wait_for_calls_async("answerCallbackQuery", count=4, timeout=10)
    assert all("rechten" in c.params.get("text", "") for c in calls), [c.params for c in calls]
    with transaction(services.sessions) as session:
        item = session.get(models.Item, idea)
        assert item is not None and item.status == "new" and item.claimed_by_id is None


async def test_a_text_typed_long_after_beantwoorden_is_not_sent_to_the_resident(
    app: App, telegram: FakeTelegramServer
) -> None:
    rt = runtime_of(app)
    services = rt.services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082613"], telegram_id=2201, name="Sanne")
        resident = make_resident(session, telegram_id=2203)
    item = _file(services, resident, "question", "Mag ik een bankje neerzetten?", area="WK082613")
    await telegram.wait_for_messages_async(2201, count=1, timeout=10)
    pressed = utcnow()
    rt.clock = lambda: pressed
    telegram.push_callback(2201, f"item:{item}:reply", message_id=1)
    await telegram.wait_for_messages_async(2201, count=2, timeout=10)  # "Typ je antwoord op #…"
    await outbox_idle(app)
    rt.clock = lambda: pressed + timedelta(minutes=31)
    telegram.push_text(2201, "Ja hoor, ga je gang")
    told = (await telegram.wait_for_messages_async(2201, count=3, timeout=10))[-1]["text"]
    assert "niet verstuurd" in told and "30 minuten" in told
    telegram.push_text(2201, "nog iets")  # a later message proves the first one was handled completely
    await telegram.wait_for_messages_async(2201, count=4, timeout=10)
    assert telegram.sent_messages(2203) == []
    await outbox_idle(app)
    rt.clock = lambda: pressed + timedelta(minutes=40)
    telegram.push_callback(2201, f"item:{item}:reply", message_id=1)
    await telegram.wait_for_messages_async(2201, count=5, timeout=10)
    await outbox_idle(app)
    rt.clock = lambda: pressed + timedelta(minutes=45)
    telegram.push_text(2201, "Ja hoor, ga je gang")
    answer = (await telegram.wait_for_messages_async(2203, count=1, timeout=10))[0]  # an opt-in offer may follow
    assert "Ja hoor, ga je gang" in answer["text"]


async def test_a_private_text_looks_the_sender_up_as_staff_once(
    app: App, telegram: FakeTelegramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """route_private_text asks once whether the sender is staff, in the transaction that handles the text."""
    import bot.staff

    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082613"], telegram_id=2301, name="Sanne")
    looked_up: list[int] = []
    real = bot.staff.find_staff_by_telegram_id

    def counting(session: Any, *, telegram_id: int) -> models.StaffMember | None:
        looked_up.append(telegram_id)
        return real(session, telegram_id=telegram_id)

    monkeypatch.setattr(bot.staff, "find_staff_by_telegram_id", counting)
    telegram.push_text(2301, "hallo")
    [help_text] = await telegram.wait_for_messages_async(2301, count=1, timeout=10)
    assert "/inbox" in help_text["text"]
    assert looked_up == [2301]
