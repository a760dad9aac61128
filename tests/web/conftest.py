"""Fixtures for the web workspace: the real bot on the fake Bot API, the workspace served beside it on a free
port (as `wijkbot run` serves it), and Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.orm import Session
from telegram.ext import Application

from db import models
from db.models import utcnow
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import free_port, running_bot, runtime_of
from tests.factories import make_item
from tests.stack import next_update_base
from web.app import create_app
from web.server import WebServer
from wijkbot.services import Services
from wijkbot.settings import Settings

App = Application[Any, Any, Any, Any, Any, Any]
CHROMIUM = Path(os.environ.get("WIJKBOT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def file_in_den_hout(
    session: Session, services: Services, resident: models.Resident, kind: str, text: str, **details: str
) -> models.Item:
    """A resident's item in Den Hout (WK082611), routed and notified as the action server files it."""
    return make_item(
        session, services.registry, resident=resident, kind=kind, text=text, details=details, rules=services.rules
    )


@dataclass
class Clock:
    """The one clock of the bot and the workspace in a test: moved by the test, never slept on."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Workspace:
    app: App
    server: WebServer
    clock: Clock
    telegram: FakeTelegramServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram(first_update_id=next_update_base()) as server:
        yield server


def web_settings(telegram: FakeTelegramServer, port: int, **values: Any) -> Settings:
    return bot_settings(
        telegram, web_host="127.0.0.1", web_port=port, web_base_url=f"http://127.0.0.1:{port}", **values
    )


@asynccontextmanager
async def serving(settings: Settings, clock: Clock, telegram: FakeTelegramServer) -> AsyncIterator[Workspace]:
    """The real bot and, beside it, the workspace on WEB_PORT, sharing the bot's services and clock; the
    workspace wakes the bot's sender through wijkbot.outbox_wake, as in `wijkbot run`."""
    async with running_bot(settings) as application:
        rt = runtime_of(application)
        rt.clock = clock
        server = WebServer(create_app(rt.services, clock=clock), host=settings.web_host, port=settings.web_port)
        await asyncio.to_thread(server.start)
        try:
            yield Workspace(application, server, clock, telegram)
        finally:
            await asyncio.to_thread(server.stop)


@pytest.fixture
async def workspace(telegram: FakeTelegramServer, sqlite_url: str) -> AsyncIterator[Workspace]:
    """Bot and workspace on a fresh SQLite database, without Rasa (staff work only)."""
    async with serving(web_settings(telegram, free_port(), database_url=sqlite_url), Clock(), telegram) as served:
        yield served


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's Chromium at {CHROMIUM}: `make test` installs it as root "
            "(apt-get install chromium); otherwise install it, or set WIJKBOT_CHROMIUM to a Chromium binary"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()


async def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now: one line each."""
    results = await Axe().run(page, options=WCAG_21_AA)
    return [
        f"{v['id']}: {v['help']} ({', '.join(str(n['target']) for n in v['nodes'])})"
        for v in results.response["violations"]
    ]
