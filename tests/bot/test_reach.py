"""Recruiting by wijk through the real bot and the fake Bot API (issue 12): a resident opens a wijk link, the
greeting follows, one tap on Ja subscribes them to that wijk with the source recorded, and `wijkbot reach
--json` shows it; staff and council get their wijk's link and QR code with /wijklink."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from telegram.ext import Application
from typer.testing import CliRunner

from bot.rasa_client import RasaReply
from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer  # the `telegram` fixture: tests/bot/conftest.py
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_staff
from wijkbot import cli
from wijkbot.settings import get_settings

App = Application[Any, Any, Any, Any, Any, Any]
NOW = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)
DORST = "WK082613"
GREETING = "Hoi! Ik ben de wijkbot van de gemeente."


class GreetingRasa:
    """Stands in for Rasa: answers every turn with the greeting, and remembers what it was sent."""

    def __init__(self) -> None:
        self.turns: list[str] = []

    async def answered_before(self, *, sender: str, update_id: int) -> list[RasaReply] | None:
        return None

    async def turn(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaReply]:
        self.turns.append(text)
        return [RasaReply(GREETING)]


@pytest.fixture
async def app(telegram: FakeTelegramServer, database_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=database_url)) as application:
        rt = runtime_of(application)
        rt.clock = lambda: NOW
        rt.conversation.rasa = GreetingRasa()  # type: ignore[assignment]
        yield application


def resident_row(app: App, telegram_id: int) -> models.Resident:
    with transaction(runtime_of(app).services.sessions) as session:
        resident = session.scalars(select(models.Resident).where(models.Resident.telegram_id == telegram_id)).one()
        session.expunge(resident)
        return resident


def buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


async def test_a_resident_opens_a_wijk_link_taps_ja_and_reach_counts_them(
    app: App, telegram: FakeTelegramServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram.push_command(7101, "start", args="w_WK082613_flyer", first_name="Anna")
    greeting, privacy, offer = await telegram.wait_for_messages_async(7101, count=3, timeout=10)
    assert greeting["text"] == GREETING and "privacy" in privacy["plain_text"].lower()
    assert runtime_of(app).conversation.rasa.turns == ["/greet"]  # type: ignore[attr-defined]
    assert "Wil je af en toe horen wat er in Dorst speelt?" in offer["plain_text"]
    assert buttons(offer) == {"Ja, houd me op de hoogte": f"wl:yes:{DORST}", "Nee, liever niet": "wl:no"}
    opened = resident_row(app, 7101)
    assert (opened.area_code, opened.source, opened.outreach_opt_in) == (DORST, "flyer", False)

    telegram.push_callback(7101, buttons(offer)["Ja, houd me op de hoogte"], offer["message_id"])
    thanks = (await telegram.wait_for_messages_async(7101, count=4, timeout=10))[3]  # the buurt question follows
    assert "Fijn!" in thanks["plain_text"] and "/stop" in thanks["plain_text"]
    subscribed = resident_row(app, 7101)
    assert (subscribed.outreach_opt_in, subscribed.consent_via, subscribed.consent_at) == (True, "link", NOW)
    assert (subscribed.area_code, subscribed.source) == (DORST, "flyer")

    # a second resident says no: their wijk is known, they are not subscribed and not counted
    telegram.push_command(7102, "start", args="w_WK082613_flyer", first_name="Bram")
    offer_2 = (await telegram.wait_for_messages_async(7102, count=3, timeout=10))[2]
    telegram.push_callback(7102, buttons(offer_2)["Nee, liever niet"], offer_2["message_id"])
    no_thanks = (await telegram.wait_for_messages_async(7102, count=4, timeout=10))[3]
    assert "geen berichten" in no_thanks["plain_text"]
    assert resident_row(app, 7102).outreach_opt_in is False

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr(cli, "utcnow", lambda: NOW)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["reach", "--municipality", "GM0826", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    dorst = next(area for area in json.loads(result.stdout)["areas"] if area["code"] == DORST)
    assert dorst == {
        "code": DORST,
        "name": "Dorst",
        "population": 3475,
        "subscribers": 1,
        "share": round(1 / 3475, 6),
        "new_this_month": 1,
        "by_source": {"flyer": 1},
    }
    assert not telegram.errors


async def test_a_bad_or_forged_link_gets_a_kind_answer_and_the_greeting(app: App, telegram: FakeTelegramServer) -> None:
    for user, payload in ((7201, "w_WK999999_flyer"), (7202, "w_WK082613_fl_yer"), (7203, "onbekend")):
        telegram.push_command(user, "start", args=payload)
        greeting, _privacy, answer = await telegram.wait_for_messages_async(user, count=3, timeout=10)
        assert greeting["text"] == GREETING and "Deze link ken ik niet" in answer["plain_text"]
        assert not buttons(answer)
    # a forged press for an area that does not exist changes nothing and says so
    telegram.push_callback(7201, "wl:yes:WK999999", 1)
    [answer] = (await telegram.wait_for_messages_async(7201, count=4, timeout=10))[3:]
    assert "werkt niet" in answer["plain_text"]
    assert resident_row(app, 7201).outreach_opt_in is False and resident_row(app, 7201).area_code is None


async def test_wijklink_sends_staff_and_council_their_wijks_qr_code_with_the_link(
    app: App, telegram: FakeTelegramServer
) -> None:
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=[DORST], role="council", telegram_id=7301, name="Raad")
        make_staff(session, services.registry, areas=[DORST], role="inbox", telegram_id=7302, name="Loket")
    telegram.push_command(7301, "wijklink", args="wijkkrant")
    [photo] = await telegram.wait_for_messages_async(7301, count=1, timeout=10)
    assert photo["method"] == "sendPhoto"
    assert f"https://t.me/{telegram.bot_user['username']}?start=w_WK082613_wijkkrant" in photo["caption"]
    [call] = telegram.calls("sendPhoto")
    image = Image.open(io.BytesIO(call.files["photo"].data))
    assert image.format == "PNG" and image.width >= 400
    telegram.push_command(7302, "wijklink")  # the municipality's inbox does not recruit
    [refused] = await telegram.wait_for_messages_async(7302, count=1, timeout=10)
    assert "geen rechten" in refused["plain_text"]
    telegram.push_command(7303, "wijklink")  # a resident
    [resident] = await telegram.wait_for_messages_async(7303, count=1, timeout=10)
    assert "alleen voor medewerkers" in resident["plain_text"]
