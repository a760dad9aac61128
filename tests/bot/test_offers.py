"""The opt-in offer through the real bot and the fake Bot API (issue 12): after /help and behind the receipt of
a filed item; Ja subscribes with consent via `offer`, Nee keeps it away for 90 days."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from bot.rasa_client import RasaReply
from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer  # the `telegram` fixture: tests/bot/conftest.py
from devtools.settings import bot_settings
from tests.bot.harness import outbox_idle, running_bot, runtime_of
from wijkbot.effects import TurnKey, run_once
from wijkbot.items import file_item
from wijkbot.residents import get_or_create_resident, set_home_area
from wijkbot.services import Services

App = Application[Any, Any, Any, Any, Any, Any]
NOW = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)
DORST = "WK082613"
HELP = "Ik help je met ideeën, meldingen en vragen."
OFFER = "Wil je af en toe horen wat er in Dorst speelt?"


def is_my_items(message: dict[str, Any]) -> bool:
    return "niets gestuurd" in message["plain_text"] or "Wat je hebt gestuurd" in message["plain_text"]


class FilingRasa:
    """Stands in for Rasa and its action server: "/help" and "/greet" get the help text; any other text is filed
    as an idea under the turn's key, as actions/submit.py does, and answered with the receipt."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def answered_before(self, *, sender: str, update_id: int) -> list[RasaReply] | None:
        return None

    async def turn(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaReply]:
        if text in ("/help", "/greet"):
            return [RasaReply(HELP)]
        key = TurnKey(telegram_id=int(sender), update_id=int(metadata["update_id"]), action="file_idea")

        def work(session: Any) -> dict[str, Any]:
            resident = get_or_create_resident(session, telegram_id=int(sender))
            filed = file_item(
                session, self.services.registry, self.services.rules, resident=resident, kind="idea",
                area_code=DORST, text=text,
            )  # fmt: skip
            return {"item_id": filed.item.id}

        item_id = run_once(self.services.sessions, key, work)["item_id"]
        return [RasaReply(f"Je idee #{item_id} gaat naar de wijkmakelaar van Dorst.")]


@pytest.fixture
async def app(telegram: FakeTelegramServer, database_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=database_url)) as application:
        rt = runtime_of(application)
        rt.clock = lambda: NOW
        rt.conversation.rasa = FilingRasa(rt.services)  # type: ignore[assignment]
        yield application


def resident_row(app: App, telegram_id: int) -> models.Resident:
    with transaction(runtime_of(app).services.sessions) as session:
        resident = session.scalars(select(models.Resident).where(models.Resident.telegram_id == telegram_id)).one()
        session.expunge(resident)
        return resident


def lives_in_dorst(app: App, telegram_id: int) -> None:
    with transaction(runtime_of(app).services.sessions) as session:
        set_home_area(session, get_or_create_resident(session, telegram_id=telegram_id), area_code=DORST)


async def until_my_items(telegram: FakeTelegramServer, chat_id: int) -> list[dict[str, Any]]:
    """Every message to this chat up to the answer of /mijnideeen (a command answered without Rasa)."""
    await telegram.wait_for_async(lambda: any(is_my_items(m) for m in telegram.sent_messages(chat_id)), 10)
    messages = telegram.sent_messages(chat_id)
    return messages[: next(i for i, m in enumerate(messages) if is_my_items(m)) + 1]


def buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


async def test_help_offers_the_opt_in_and_ja_subscribes_via_offer(app: App, telegram: FakeTelegramServer) -> None:
    lives_in_dorst(app, 7401)
    telegram.push_command(7401, "help")
    help_text, offer = await telegram.wait_for_messages_async(7401, count=2, timeout=10)
    assert help_text["text"] == HELP
    assert "Wil je af en toe horen wat er in Dorst speelt?" in offer["plain_text"]
    assert buttons(offer) == {"Ja, houd me op de hoogte": f"of:yes:{DORST}", "Nee, liever niet": "of:no"}
    telegram.push_callback(7401, buttons(offer)["Ja, houd me op de hoogte"], offer["message_id"])
    thanks = (await telegram.wait_for_messages_async(7401, count=3, timeout=10))[2]
    assert "Fijn!" in thanks["plain_text"]
    subscribed = resident_row(app, 7401)
    assert (subscribed.outreach_opt_in, subscribed.consent_via, subscribed.consent_at) == (True, "offer", NOW)
    # then: which buurt of Dorst (so that a poll for one buurt reaches them)
    buurt = (await telegram.wait_for_messages_async(7401, count=4, timeout=10))[3]
    assert "In welke buurt van Dorst woon je?" in buurt["plain_text"]
    assert buttons(buurt)["Steenoven"] == "bu:BU08261309" and buttons(buurt)["Weet ik niet"] == "bu:none"
    telegram.push_callback(7401, "bu:BU08261309", buurt["message_id"])
    assert "Steenoven" in (await telegram.wait_for_messages_async(7401, count=5, timeout=10))[4]["plain_text"]
    assert resident_row(app, 7401).buurt_code == "BU08261309"
    # opted in: /help no longer offers anything (/mijnideeen's answer comes after anything /help queued)
    telegram.push_command(7401, "help")
    telegram.push_command(7401, "mijnideeen")
    messages = await until_my_items(telegram, 7401)
    assert [m["plain_text"] for m in messages[5:-1]] == [HELP]
    # a buurt of another wijk (an old or forged button) is not stored
    telegram.push_callback(7401, "bu:BU08260100", buurt["message_id"])
    assert "werkt niet" in (await telegram.wait_for_messages_async(7401, count=8, timeout=10))[7]["plain_text"]
    assert resident_row(app, 7401).buurt_code == "BU08261309"
    assert not telegram.errors


async def test_nee_is_remembered_and_a_new_resident_without_a_wijk_is_not_asked(
    app: App, telegram: FakeTelegramServer
) -> None:
    lives_in_dorst(app, 7402)
    telegram.push_command(7402, "help")
    offer = (await telegram.wait_for_messages_async(7402, count=2, timeout=10))[1]
    telegram.push_callback(7402, buttons(offer)["Nee, liever niet"], offer["message_id"])
    no_thanks = (await telegram.wait_for_messages_async(7402, count=3, timeout=10))[2]
    assert "geen berichten" in no_thanks["plain_text"]
    declined = resident_row(app, 7402)
    assert (declined.outreach_opt_in, declined.offer_declined_at) == (False, NOW)
    # 89 days later neither /start nor /help offers it; at 90 days /help does
    await outbox_idle(app)
    runtime_of(app).clock = lambda: NOW + timedelta(days=89)
    telegram.push_command(7402, "start")
    telegram.push_command(7402, "help")
    telegram.push_command(7402, "mijnideeen")
    messages = await until_my_items(telegram, 7402)
    assert len(messages) == 3 + 3 + 1 and not any(OFFER in m["plain_text"] for m in messages[3:])
    await outbox_idle(app)
    runtime_of(app).clock = lambda: NOW + timedelta(days=90)
    telegram.push_command(7402, "help")
    assert OFFER in (await telegram.wait_for_messages_async(7402, count=9, timeout=10))[8]["plain_text"]
    # a resident whose wijk is not known is not asked after /start or /help
    telegram.push_command(7403, "start")
    telegram.push_command(7403, "help")
    telegram.push_command(7403, "mijnideeen")
    messages = await until_my_items(telegram, 7403)
    assert len(messages) == 2 + 1 + 1 and not any(OFFER in m["plain_text"] for m in messages)


async def test_the_offer_follows_the_receipt_of_a_filed_item(app: App, telegram: FakeTelegramServer) -> None:
    telegram.push_text(7404, "Een bankje bij de vijver")
    receipt, offer = await telegram.wait_for_messages_async(7404, count=2, timeout=10)
    assert receipt["plain_text"].startswith("Je idee #")
    assert "Wil je af en toe horen wat er in Dorst speelt?" in offer["plain_text"]  # the item's wijk
    # the next item within the week: the receipt only
    telegram.push_text(7404, "En een prullenbak")
    telegram.push_command(7404, "mijnideeen")
    messages = await until_my_items(telegram, 7404)
    assert len(messages) == 4 and messages[2]["plain_text"].startswith("Je idee #")
