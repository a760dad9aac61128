"""/vergeetmij and /mijngegevens in Telegram, and the privacy statement after the greeting of /start, against
the fake Bot API (no assistant needed: Rasa is away, or a stand-in answers the greeting)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from telegram.ext import Application

from bot.rasa_client import RasaReply
from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_resident
from wijkbot.residents import find_resident, set_home_area

App = Application[Any, Any, Any, Any, Any, Any]
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
OOSTERHOUT, OSS = "https://www.oosterhout.nl/privacy", "https://www.oss.nl/privacy"  # profiles.yaml privacy_url


class GreetingRasa:
    """Stands in for Rasa: answers every turn with the greeting."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def answered_before(self, *, sender: str, update_id: int) -> list[RasaReply] | None:
        return None

    async def turn(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaReply]:
        self.asked.append(text)
        return [RasaReply("Hoi! Ik ben de digitale wijkassistent van de gemeente.")]


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def app(telegram: FakeTelegramServer, sqlite_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=sqlite_url)) as application:
        yield application


async def test_a_vergeetmij_confirmation_handled_too_late_to_answer_still_erases(
    app: App, telegram: FakeTelegramServer
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_resident(session, telegram_id=3001, first_name="Anna")
    telegram.fail_next("answerCallbackQuery", status=400, description=TOO_OLD)
    telegram.push_callback(3001, "forget:yes", message_id=1)
    [erased] = await telegram.wait_for_messages_async(3001, count=1, timeout=10)
    assert "Alles over jou is gewist" in erased["text"]
    with transaction(services.sessions) as session:
        assert find_resident(session, telegram_id=3001) is None
        assert session.query(models.InboundUpdate).filter_by(chat_id=3001).count() == 0


async def test_the_greeting_of_start_is_followed_by_each_municipality_s_privacy_statement(
    app: App, telegram: FakeTelegramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new resident's municipality is not known yet: both configured municipalities' statements are shown."""
    rasa = GreetingRasa()
    monkeypatch.setattr(runtime_of(app).conversation, "rasa", rasa)
    telegram.push_command(3002, "start")
    greeting, statement = await telegram.wait_for_messages_async(3002, count=2, timeout=10)
    assert rasa.asked == ["/greet"]
    assert greeting["text"].startswith("Hoi! Ik ben de digitale wijkassistent")
    assert "privacyverklaring" in statement["text"]
    assert f"Oosterhout: {OOSTERHOUT}" in statement["text"] and f"Oss: {OSS}" in statement["text"]


async def test_a_resident_whose_area_is_known_sees_their_own_municipality_s_statement_at_start(
    app: App, telegram: FakeTelegramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        set_home_area(session, make_resident(session, telegram_id=3003), area_code="WK082806")  # Ruwaard, Oss
    monkeypatch.setattr(runtime_of(app).conversation, "rasa", GreetingRasa())
    telegram.push_command(3003, "start")
    statement = (await telegram.wait_for_messages_async(3003, count=2, timeout=10))[1]  # an opt-in offer may follow
    assert statement["text"] == f"Hoe de gemeente Oss met je gegevens omgaat, lees je in de privacyverklaring: {OSS}"


async def test_mijngegevens_shows_the_privacy_statement_of_the_resident_s_municipality(
    app: App, telegram: FakeTelegramServer
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        set_home_area(session, make_resident(session, telegram_id=3004), area_code="WK082613")  # Dorst, Oosterhout
    telegram.push_command(3004, "mijngegevens")
    [summary] = await telegram.wait_for_messages_async(3004, count=1, timeout=10)
    assert "Dit bewaren we over jou" in summary["text"]
    assert summary["text"].endswith(
        f"Hoe de gemeente Oosterhout met je gegevens omgaat, lees je in de privacyverklaring: {OOSTERHOUT}"
    )
    assert OSS not in summary["text"]


async def test_mijngegevens_of_a_resident_without_an_area_shows_each_municipality_s_statement(
    app: App, telegram: FakeTelegramServer
) -> None:
    telegram.push_command(3005, "mijngegevens")
    [summary] = await telegram.wait_for_messages_async(3005, count=1, timeout=10)
    assert "• Gebied: onbekend" in summary["text"]
    assert f"Oosterhout: {OOSTERHOUT}" in summary["text"] and f"Oss: {OSS}" in summary["text"]
