"""The bot serves residents on other channels with the same handlers (wijkbot.channels): what they send reaches
the handlers through wijkbot.channel_intake, and what the bot answers leaves through their channel's transport,
never through Telegram. No assistant needed: these are commands and buttons."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from bot.sender import Outgoing, RateLimiter
from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_resident
from wijkbot import channel_intake
from wijkbot.channels import WEB, WHATSAPP, address_chat, receive
from wijkbot.payloads import Delivery, Text
from wijkbot.residents import find_resident
from wijkbot.staff import invite_staff

App = Application[Any, Any, Any, Any, Any, Any]


class Inbox:
    """A channel's transport that keeps what it was given (the real ones are tested against their platforms)."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.changed = asyncio.Event()

    async def send(self, message: Outgoing) -> Delivery:
        self.sent.append(message)
        self.changed.set()
        return Delivery(message.id)

    async def texts(self, chat_id: int, count: int, timeout: float = 20) -> list[str]:
        async def enough() -> None:
            while len(self.to(chat_id)) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(enough(), timeout)
        return [m.payload.text if isinstance(m.payload, Text) else m.method for m in self.to(chat_id)]

    def to(self, chat_id: int) -> list[Outgoing]:
        return [m for m in self.sent if m.chat_id == chat_id]


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def app(telegram: FakeTelegramServer, sqlite_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=sqlite_url)) as application:
        yield application


@pytest.fixture
def inbox(app: App) -> Inbox:
    box = Inbox()
    unlimited = RateLimiter(per_second=None, per_chat_gap=0.0, group_gap=0.0)
    runtime_of(app).sender.channels.update({WEB: (box, unlimited), WHATSAPP: (box, unlimited)})
    return box


def arrive(app: App, channel: str, address: str, external_id: str, **what: Any) -> int:
    """A person on `channel` sends something: stored as the web app's edge stores it, then dispatched."""
    rt = runtime_of(app)
    now = rt.clock()
    with transaction(rt.services.sessions) as session:
        chat_id = address_chat(session, channel=channel, address=address, name="Anna", now=now, wrote=True)
        update = receive(session, channel=channel, chat_id=chat_id, external_id=external_id, now=now, **what)
    if update is not None:
        assert channel_intake.dispatch(update)  # the running bot listens
    return chat_id


async def test_a_command_on_the_web_chat_is_answered_on_the_web_chat_and_not_in_telegram(
    app: App, inbox: Inbox, telegram: FakeTelegramServer
) -> None:
    chat_id = arrive(app, WEB, "sessie-mine", "m1", text="/mijnideeen")
    [answer] = await inbox.texts(chat_id, 1)
    assert "Je hebt nog niets gestuurd" in answer
    assert inbox.to(chat_id)[0].channel == WEB
    assert not [c for c in telegram.calls() if c.params.get("chat_id") == chat_id]
    with transaction(runtime_of(app).services.sessions) as session:
        stored = session.scalars(select(models.InboundUpdate).where(models.InboundUpdate.chat_id == chat_id)).one()
        assert (stored.channel, stored.external_id, stored.status) == (WEB, "m1", "done")


async def test_a_retried_message_is_handled_once(app: App, inbox: Inbox) -> None:
    chat_id = arrive(app, WHATSAPP, "31611111111", "wamid.1", text="/mijnideeen")
    arrive(app, WHATSAPP, "31611111111", "wamid.1", text="/mijnideeen")  # Meta delivers the webhook again
    await inbox.texts(chat_id, 1)
    chat_again = arrive(app, WHATSAPP, "31611111111", "wamid.2", text="/stop")
    assert chat_again == chat_id
    texts = await inbox.texts(chat_id, 2)
    assert len([t for t in texts if "Je hebt nog niets gestuurd" in t]) == 1


async def test_a_buttons_alert_reaches_a_channel_resident_as_a_message_without_calling_telegram(
    app: App, inbox: Inbox, telegram: FakeTelegramServer
) -> None:
    chat_id = arrive(app, WHATSAPP, "31622222222", "wamid.b", button="mine:99999")  # a page that no longer exists
    texts = await inbox.texts(chat_id, 1)
    assert texts and all(isinstance(t, str) and t for t in texts)
    assert not [c for c in telegram.calls() if c.method == "answerCallbackQuery"]


async def test_vergeetmij_on_whatsapp_erases_says_goodbye_there_and_forgets_the_number(
    app: App, inbox: Inbox, telegram: FakeTelegramServer
) -> None:
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        chat_id = address_chat(session, channel=WHATSAPP, address="31633333333", now=rt.clock(), wrote=True)
        make_resident(session, telegram_id=chat_id, first_name="Anna")
    arrive(app, WHATSAPP, "31633333333", "wamid.v1", text="/vergeetmij")
    [question] = await inbox.texts(chat_id, 1)
    assert "wissen" in question.lower()
    buttons = inbox.to(chat_id)[0].payload.buttons  # type: ignore[union-attr]
    confirm = next(b["callback_data"] for row in buttons or [] for b in row if b["callback_data"].endswith("yes"))
    arrive(app, WHATSAPP, "31633333333", "wamid.v2", button=confirm)
    texts = await inbox.texts(chat_id, 2)
    assert "Alles over jou is gewist" in texts[1]

    def gone(session: Any) -> bool:
        return (
            find_resident(session, telegram_id=chat_id) is None
            and session.scalar(select(models.ChannelAddress).where(models.ChannelAddress.chat_id == chat_id)) is None
        )

    for _ in range(100):  # the address goes in the transaction that records the goodbye as sent
        with transaction(rt.services.sessions) as session:
            if gone(session):
                break
        await asyncio.sleep(0.05)
    with transaction(rt.services.sessions) as session:
        assert gone(session)
        # no second "gewist" for the press (the goodbye says it), neither queued nor sent
        notices = select(models.OutboxMessage).where(models.OutboxMessage.purpose.startswith("note:"))
        assert session.scalars(notices).all() == []
    assert len(inbox.to(chat_id)) == 2
    assert not [c for c in telegram.calls() if c.method == "answerCallbackQuery"]


async def test_a_staff_invite_opened_on_the_web_chat_is_refused_and_stays_usable_in_telegram(
    app: App, inbox: Inbox
) -> None:
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        member = invite_staff(session, rt.services.registry, role="wijkmakelaar", area_codes=["WK082611"])
        code, member_id = member.invite_code, member.id
    assert code
    chat_id = arrive(app, WEB, "sessie-invite", "m-invite", text=f"/start {code}")
    [answer] = await inbox.texts(chat_id, 1)
    assert "werkt alleen in Telegram" in answer
    with transaction(rt.services.sessions) as session:
        still = session.get(models.StaffMember, member_id)
        assert still is not None and still.invite_code == code and still.telegram_id is None
