"""The wijk link through the whole stack: fake Bot API → the real bot → the real Rasa and action server →
the database. The greeting is Rasa's own; Ja subscribes the resident to the link's wijk with its source."""

from __future__ import annotations

from typing import Any

import pytest
from telegram.ext import Application

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer
from tests.bot.harness import Chat, runtime_of
from wijkbot.reach import reach

pytestmark = pytest.mark.rasa
App = Application[Any, Any, Any, Any, Any, Any]


async def test_a_wijk_link_greets_then_subscribes_in_one_tap(telegram: FakeTelegramServer, app: App) -> None:
    resident = Chat(telegram, app, first_name="Noor")
    telegram.push_command(resident.user_id, "start", args="w_WK082612_dorpskrant", first_name="Noor")
    greeting, _privacy, offer = await telegram.wait_for_messages_async(resident.user_id, count=3, timeout=60)
    resident.cursor = 3
    assert "Ik ben een computerprogramma" in greeting["plain_text"]  # Rasa's greeting comes first
    assert "Wil je af en toe horen wat er in Oosteind speelt?" in offer["plain_text"]
    thanks = await resident.press(offer, "Ja, houd me op de hoogte")
    assert "Fijn!" in thanks["plain_text"]
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        row = session.query(models.Resident).filter_by(telegram_id=resident.user_id).one()
        assert (row.area_code, row.source, row.outreach_opt_in, row.consent_via) == (
            "WK082612",
            "dorpskrant",
            True,
            "link",
        )
        oosteind = next(
            r
            for r in reach(session, rt.services.registry, now=rt.clock(), zone=rt.services.settings.zone)
            if r.code == "WK082612"
        )
    assert oosteind.by_source.get("dorpskrant") == 1 and oosteind.new_this_month >= 1
