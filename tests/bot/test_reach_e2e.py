"""The wijk link through the whole stack: fake Bot API → the real bot → the real Rasa and action server →
the database. The greeting is Rasa's own; Ja subscribes the resident to the link's wijk with its source; the
raad of that wijk announces a meeting, which reaches the new subscriber, whose Ik kom is counted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from telegram.ext import Application

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer
from tests.bot.harness import Chat, runtime_of
from tests.factories import make_staff
from wijkbot.reach import reach

pytestmark = pytest.mark.rasa
OUTREACH_QUIET_HOURS = ""  # the announcement goes out on the real clock, whatever the hour of the test
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
    await announce_and_count(telegram, app, subscriber=resident, area_code="WK082612")


async def announce_and_count(telegram: FakeTelegramServer, app: App, *, subscriber: Chat, area_code: str) -> None:
    """A raad member of the wijk announces a meeting a week from now with /aankondiging; the subscriber gets
    it (among the wijk's subscribers only, within the caps), presses Ik kom, and the raad member's Tellingen
    count it."""
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        make_staff(
            session, rt.services.registry, areas=[area_code], role="council", name="Wim", telegram_id=776_000_001
        )
    raad = Chat(telegram, app, 776_000_001, "Wim")
    meeting = (rt.clock() + timedelta(days=7)).astimezone(rt.services.settings.zone)
    telegram.push_command(raad.user_id, "aankondiging", first_name="Wim")
    assert "Nieuwe aankondiging" in (await raad.next_message())["plain_text"]
    await raad.say("Openbare vergadering dorpsraad Oosteind")
    await raad.say(f"{meeting.day}-{meeting.month} 19:30")
    await raad.say("Dorpshuis De Bolder")
    preview = await raad.say("Op de agenda: de speeltuin en de verkeersdrempels.")
    assert "Dit bereikt" in preview["plain_text"]
    sent = await raad.press(preview, "Versturen")
    assert "gaat naar" in sent["plain_text"]
    await telegram.wait_for_async(
        lambda: any("Openbare vergadering dorpsraad Oosteind" in m["plain_text"] for m in subscriber.received), 30
    )
    announcement = next(m for m in subscriber.received if "Openbare vergadering dorpsraad Oosteind" in m["plain_text"])
    assert "Fijn dat je komt" in (await subscriber.press(announcement, "Ik kom"))["plain_text"]
    counted = await raad.press(sent, "Tellingen")
    assert "Ik kom: 1" in counted["plain_text"]
