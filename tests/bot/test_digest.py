"""The monthly digest reaches each lead through the real bot's `digest` job and outbox sender, against the fake
Bot API: nothing before the 1st at 09:00 (the injected clock), then a chart per wijk with its three lines, once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from telegram.ext import Application

from db import models
from db.models import utcnow
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import outbox_idle, running_bot, runtime_of
from tests.factories import make_resident, make_staff
from wijkbot.items import file_item

App = Application[Any, Any, Any, Any, Any, Any]
ZONE = ZoneInfo("Europe/Amsterdam")
LEAD, OTHER_LEAD, WIJKMAKELAAR = 9301, 9302, 9303


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def app(telegram: FakeTelegramServer, sqlite_url: str) -> AsyncIterator[App]:
    settings = bot_settings(telegram, database_url=sqlite_url, web_base_url="https://werkplek.example")
    async with running_bot(settings) as application:
        yield application


async def test_the_digest_job_sends_each_lead_a_chart_per_wijk_once_a_month(
    app: App, telegram: FakeTelegramServer
) -> None:
    rt = runtime_of(app)
    services = rt.services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082611", "WK082613"], role="lead", telegram_id=LEAD)
        make_staff(session, services.registry, areas=["WK082613"], role="lead", name="Wil", telegram_id=OTHER_LEAD)
        make_staff(session, services.registry, areas=["WK082611"], telegram_id=WIJKMAKELAAR)
        item = file_item(
            session,
            services.registry,
            services.rules,
            resident=make_resident(session),
            kind="report",
            area_code="WK082611",
            text="Losse tegel",
        ).item
        item.created_at = datetime(2026, 11, 12, 10, 0, tzinfo=ZONE)
        item_id = item.id
    await telegram.wait_for_messages_async(WIJKMAKELAAR, count=1, timeout=10)  # the item's notification
    assert app.job_queue is not None
    [digest] = app.job_queue.get_jobs_by_name("digest")

    def photos_to(chat: int) -> list[dict[str, Any]]:  # the clock moved: reminders and escalations come too
        return [message for message in telegram.sent_messages(chat) if message["method"] == "sendPhoto"]

    def digest_rows() -> list[tuple[str, int]]:
        with transaction(services.sessions) as session:
            rows = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.purpose.like("digest:%")))
            return sorted((row.purpose, row.recipient_chat_id) for row in rows)

    def at(moment: datetime) -> None:
        """Move the bot's one clock to `moment`, running on from there (the sender paces by it)."""
        started = utcnow()
        rt.clock = lambda: moment + (utcnow() - started)

    await outbox_idle(app)
    at(datetime(2026, 12, 1, 8, 59, tzinfo=ZONE))
    await digest.run(app)  # the job has done its work when run() returns
    assert digest_rows() == []
    await outbox_idle(app)
    at(datetime(2026, 12, 1, 9, 5, tzinfo=ZONE))
    await digest.run(app)
    await telegram.wait_for_async(lambda: len(photos_to(LEAD)) == 2 and len(photos_to(OTHER_LEAD)) == 1, 20)
    den_hout, dorst = photos_to(LEAD)
    assert den_hout["caption"].startswith("<b>Den Hout</b>") and den_hout["params"].get("parse_mode") == "HTML"
    assert den_hout["plain_text"].splitlines() == [
        "Den Hout · november 2026",
        "Nieuw: <5",
        "Afgerond: 0",
        f"Langst open: #{item_id} (melding), 18 dagen",
        "Meer in de werkplek: https://werkplek.example/stats",
    ]
    assert dorst["plain_text"].splitlines()[:4] == [
        "Dorst · november 2026",
        "Nieuw: 0",
        "Afgerond: 0",
        "Langst open: niets open",
    ]
    assert photos_to(OTHER_LEAD)[0]["plain_text"].startswith("Dorst · november 2026")
    assert photos_to(WIJKMAKELAAR) == []
    sent = digest_rows()
    assert sent == [
        ("digest:2026-11:WK082611", LEAD),
        ("digest:2026-11:WK082613", LEAD),
        ("digest:2026-11:WK082613", OTHER_LEAD),
    ]  # no digest for the wijkmakelaar: not a lead
    await outbox_idle(app)
    at(datetime(2026, 12, 2, 10, 5, tzinfo=ZONE))  # a day later: the same month, nothing new
    await digest.run(app)
    assert digest_rows() == sent
