"""The idea → wijkmakelaar → answer → resident loop on every channel (issue 14), against the real stack: the real
bot, Rasa and action server, the web app beside the bot (widget API and WhatsApp webhook), the fake Bot API for
the wijkmakelaar in Telegram, the fake WhatsApp Cloud API, and the widget in headless Chromium on a page of
another origin. One test, parameterised by the resident's channel: the flow is the same."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from playwright.async_api import Locator, Page, expect
from sqlalchemy import select

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer
from devtools.fake_whatsapp import FakeWhatsAppServer, start_fake_whatsapp
from devtools.settings import bot_settings
from tests.bot.harness import App, Chat, free_port, running_bot, runtime_of
from tests.factories import make_staff
from tests.stack import Stack
from tests.web.test_widget_browser import host_site
from web.app import create_app
from web.server import WebServer
from wijkbot.channels import WHATSAPP, address_chat
from wijkbot.webchat import chat_of, session_of

pytestmark = pytest.mark.rasa
KEY = "sleutel-voor-de-kanalen"
_staff_ids = itertools.count(774_000_001)
_numbers = itertools.count(31_612_000_001)


@dataclass
class Message:
    """A message as the resident sees it on their channel: its text, and its buttons (label, value)."""

    text: str
    buttons: list[tuple[str, str]]
    raw: Any = None


class Resident(Protocol):
    chat_id: int

    async def say(self, text: str) -> Message: ...

    async def press(self, message: Message, wanted: str) -> Message: ...

    async def next_message(self) -> Message: ...


def rasa_title(app: App, chat_id: int, payload: str) -> str | None:
    """The title of the Rasa button with this payload in the latest message to the chat that had one."""
    with transaction(runtime_of(app).services.sessions) as session:
        rows = session.scalars(
            select(models.OutboxMessage)
            .where(models.OutboxMessage.recipient_chat_id == chat_id)
            .order_by(models.OutboxMessage.id.desc())
            .limit(10)
        )
        for row in rows:
            for button in row.payload.get("rasa_buttons") or []:
                if button["payload"] == payload:
                    return str(button["title"])
    return None


class TelegramResident:
    def __init__(self, telegram: FakeTelegramServer, app: App) -> None:
        self.chat = Chat(telegram, app, first_name="Anna")
        self.chat_id = self.chat.user_id

    @staticmethod
    def _message(raw: dict[str, Any]) -> Message:
        rows = (raw.get("reply_markup") or {}).get("inline_keyboard", [])
        return Message(str(raw.get("text", "")), [(b["text"], b["callback_data"]) for r in rows for b in r], raw)

    async def say(self, text: str) -> Message:
        return self._message(await self.chat.say(text))

    async def press(self, message: Message, wanted: str) -> Message:
        return self._message(await self.chat.press(message.raw, wanted))

    async def next_message(self) -> Message:
        return self._message(await self.chat.next_message())


class WhatsAppResident:
    def __init__(self, whatsapp: FakeWhatsAppServer, app: App) -> None:
        self.whatsapp, self.app = whatsapp, app
        self.wa_id = str(next(_numbers))
        self.cursor = 0
        self.chat_id = 0

    @staticmethod
    def _message(raw: dict[str, Any]) -> Message:
        if raw["type"] == "text":
            return Message(re.sub(r"[*_]", "", raw["text"]["body"]), [], raw)
        interactive = raw["interactive"]
        action = interactive["action"]
        if interactive["type"] == "button":
            buttons = [(b["reply"]["title"], b["reply"]["id"]) for b in action["buttons"]]
        else:
            buttons = [(r["title"], r["id"]) for s in action["sections"] for r in s["rows"]]
        return Message(re.sub(r"[*_]", "", interactive["body"]["text"]), buttons, raw)

    async def next_message(self) -> Message:
        sent = await self.whatsapp.wait_for_async(self.wa_id, count=self.cursor + 1, timeout=60)
        self.cursor += 1
        return self._message(sent[self.cursor - 1])

    async def say(self, text: str) -> Message:
        self.cursor = len(self.whatsapp.sent(self.wa_id))
        assert await self.whatsapp.send_text_async(self.wa_id, text) == 200
        if not self.chat_id:
            with transaction(runtime_of(self.app).services.sessions) as session:
                self.chat_id = address_chat(
                    session, channel=WHATSAPP, address=self.wa_id, now=runtime_of(self.app).clock()
                )
        return await self.next_message()

    async def press(self, message: Message, wanted: str) -> Message:
        title = rasa_title(self.app, self.chat_id, wanted) or wanted
        value = next(v for label, v in message.buttons if label == title[: len(label)] or v == wanted)
        self.cursor = len(self.whatsapp.sent(self.wa_id))
        raw = message.raw["interactive"]
        if raw["type"] == "button":
            await self.whatsapp.press_button_async(self.wa_id, value, title[:20], message.raw["id"])
        else:
            await self.whatsapp.pick_row_async(self.wa_id, value, title[:24], message.raw["id"])
        return await self.next_message()


class WebResident:
    """A resident in the widget, keyboard and mouse as a person uses it, in headless Chromium."""

    def __init__(self, page: Page, app: App) -> None:
        self.page, self.app = page, app
        self.chat_id = 0
        self.seen = 0

    async def open(self, site: str) -> None:
        await self.page.goto(site)
        await self.page.get_by_role("button", name="Chat met de gemeente").click()
        self.dialog = self.page.get_by_role("dialog", name="Chat met de gemeente")
        self.bot = self.dialog.get_by_role("log").locator(".wbw-bot")
        await expect(self.bot.first).to_contain_text("chatbot")  # the intro says it is a bot
        self.seen = await self.bot.count()

    async def _bubble(self, index: int) -> Message:
        bubble: Locator = self.bot.nth(index)
        await expect(bubble).to_be_attached(timeout=60_000)
        await expect(bubble.locator(".wbw-body")).not_to_be_empty()
        text = await bubble.locator(".wbw-body").inner_text()
        labels = await bubble.get_by_role("button").all_inner_texts()
        return Message(text, [(label, label) for label in labels], bubble)

    async def next_message(self) -> Message:
        message = await self._bubble(self.seen)
        self.seen += 1
        return message

    async def say(self, text: str) -> Message:
        self.seen = await self.bot.count()
        field = self.dialog.get_by_label("Je bericht")
        await field.fill(text)
        await field.press("Enter")
        if not self.chat_id:
            token = await self.page.evaluate("JSON.parse(localStorage.getItem('wijkbot-chat')).token")
            with transaction(runtime_of(self.app).services.sessions) as session:
                found = chat_of(session, session_id=session_of(KEY, token) or "")
                assert found is not None
                self.chat_id = found
        return await self.next_message()

    async def press(self, message: Message, wanted: str) -> Message:
        title = rasa_title(self.app, self.chat_id, wanted) or wanted
        self.seen = await self.bot.count()
        await message.raw.get_by_role("button", name=title, exact=True).click()
        return await self.next_message()


@pytest.fixture
def whatsapp_port() -> int:
    return free_port()


@pytest.fixture
def whatsapp(whatsapp_port: int) -> Iterator[FakeWhatsAppServer]:
    with start_fake_whatsapp(webhook_url=f"http://127.0.0.1:{whatsapp_port}/webhooks/whatsapp") as fake:
        yield fake


@dataclass
class Served:
    app: App
    site: str


@pytest.fixture
async def served(
    stack: Stack, telegram: FakeTelegramServer, whatsapp: FakeWhatsAppServer, whatsapp_port: int
) -> AsyncIterator[Served]:
    api = f"http://127.0.0.1:{whatsapp_port}"
    with host_site(api) as site:
        settings = bot_settings(
            telegram,
            database_url=stack.database_url,
            rasa_url=stack.rasa_url,
            tracker_db=str(stack.tracker_db),
            rasa_token=stack.rasa_token,
            rasa_timeout_seconds=60.0,
            holding_reply_after_seconds=120.0,  # a slow turn on a loaded machine must not answer "even geduld"
            web_host="127.0.0.1",
            web_port=whatsapp_port,
            web_base_url=api,
            web_chat=True,
            web_chat_origins=site,
            whatsapp_token=whatsapp.token,
            whatsapp_app_secret=whatsapp.app_secret,
            whatsapp_verify_token="verifieer-mij",
            whatsapp_phone_number_id=whatsapp.phone_number_id,
            whatsapp_base_url=whatsapp.base_url,
        )
        async with running_bot(settings) as application:
            rt = runtime_of(application)
            server = WebServer(
                create_app(rt.services, clock=rt.clock, secret_key=KEY), host="127.0.0.1", port=whatsapp_port
            )
            await asyncio.to_thread(server.start)
            try:
                yield Served(application, site)
            finally:
                await asyncio.to_thread(server.stop)


@pytest.mark.parametrize("channel", ["telegram", "whatsapp", "web"])
async def test_an_idea_reaches_the_wijkmakelaar_and_her_answer_reaches_the_resident_on_their_channel(
    channel: str, served: Served, telegram: FakeTelegramServer, whatsapp: FakeWhatsAppServer, page: Page
) -> None:
    app = served.app
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        sanne = make_staff(session, services.registry, areas=["WK082611"], name="Sanne", telegram_id=next(_staff_ids))
        sanne_id = sanne.telegram_id
    wijkmakelaar = Chat(telegram, app, sanne_id, "Sanne")
    resident: Resident
    if channel == "telegram":
        resident = TelegramResident(telegram, app)
    elif channel == "whatsapp":
        resident = WhatsAppResident(whatsapp, app)
    else:
        web = WebResident(page, app)
        await web.open(served.site)
        resident = web

    assert "Wat is je idee?" in (await resident.say("ik heb een idee voor een bankje")).text
    asked = await resident.say("een bankje bij de vijver zodat ouderen kunnen uitrusten")
    assert "Waar is je idee?" in asked.text
    answer = await resident.say("4911AB")
    assert "Wie doen er nog meer mee?" in answer.text
    answer = await resident.say("samen met de buren uit de straat")
    answer = await resident.press(answer, '/inform{"help_needed":"money"}')
    for _ in range(4):  # the Oosterhout criteria still open
        answer = await resident.press(answer, "/affirm")
    assert "Klopt dit?" in answer.text
    filed = await resident.press(answer, "/affirm")
    assert "Je idee gaat naar de wijkmakelaar van Den Hout." in filed.text

    with transaction(services.sessions) as session:
        item = session.scalars(
            select(models.Item).join(models.Resident).where(models.Resident.telegram_id == resident.chat_id)
        ).one()
        item_id = item.id
    notification = await wijkmakelaar.next_message()
    assert f"#{item_id}" in notification["text"] and "bankje bij de vijver" in notification["text"]
    telegram.push_callback(sanne_id, f"item:{item_id}:claim", notification["message_id"])
    await wijkmakelaar.say("Mooi idee! Bij welke vijver precies?", reply_to_message_id=notification["message_id"])

    for _ in range(3):  # behind the receipt: the opt-in offer for the wijk, then Sanne's answer
        message = await resident.next_message()
        if "Mooi idee! Bij welke vijver precies?" in message.text:
            break
    else:
        raise AssertionError("Sanne's answer did not reach the resident")
    assert "Sanne" in message.text
    if channel != "telegram":
        assert not telegram.sent_messages(resident.chat_id)  # nothing of theirs went to Telegram
