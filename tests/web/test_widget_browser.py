"""The widget in headless Chromium, embedded with its one script tag on a page of another origin (the
municipality's site, here a tiny local server with a strict Content-Security-Policy as docs/webchat.md asks),
used with the keyboard only. The bot's side is an outbox row sent by the real sender through the web transport;
what the widget sends is checked where it lands: the update handed to the bot."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from db.session import transaction
from tests.bot.harness import free_port
from tests.factories import make_media, make_outbox_message
from tests.web.chat_support import web_sender
from tests.web.conftest import Clock, axe_violations
from web.app import create_app
from web.server import WebServer
from wijkbot.payloads import Payload, Photo, Poll, Text
from wijkbot.services import Services, open_services
from wijkbot.settings import Settings
from wijkbot.webchat import CHANNEL, Notifier, chat_of, session_of

KEY = "sleutel-voor-de-widget-test"


@contextmanager
def host_site(api: str) -> Iterator[str]:
    """The municipality's site: one page with the widget's script tag, served from another origin, under the
    Content-Security-Policy docs/webchat.md gives for the widget."""
    page = (
        '<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>Gemeente Oosterhout</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        "<body><main><h1>Gemeente Oosterhout</h1><p>Welkom op de site van de gemeente.</p></main>"
        f'<script src="{api}/widget.js" defer></script></body></html>'
    ).encode()
    policy = (
        f"default-src 'self'; script-src 'self' {api}; connect-src 'self' {api}; img-src 'self' {api}; "
        "style-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="host-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Served:
    services: Services
    clock: Clock
    notifier: Notifier
    api: str
    site: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def dispatch(self, update: dict[str, Any]) -> None:
        with self.arrived:
            self.updates.append(update)
            self.arrived.notify_all()

    async def update(self, number: int) -> dict[str, Any]:
        """The `number`-th update handed to the bot (1 is the first), once it arrived."""

        def wait() -> bool:
            with self.arrived:
                return self.arrived.wait_for(lambda: len(self.updates) >= number, timeout=30)

        assert await asyncio.to_thread(wait), f"update {number} never reached the bot: {self.updates}"
        return self.updates[number - 1]

    async def bot_says(self, page: Page, message: Payload) -> int:
        """The bot sends `message` to the page's session: an outbox row of the web chat, sent by the sender with
        the web transport (which wakes the widget's long poll); its row id."""
        token = await page.evaluate("JSON.parse(localStorage.getItem('wijkbot-chat')).token")
        session_id = session_of(KEY, token)
        assert session_id is not None
        with transaction(self.services.sessions) as session:
            chat_id = chat_of(session, session_id=session_id)
            assert chat_id is not None
            row = make_outbox_message(session, chat_id=chat_id, message=message, now=self.clock())
            assert row.channel == CHANNEL
            row_id = row.id
        sender = web_sender(self.services, self.notifier, self.clock)
        assert await sender.send_due() == 1
        return row_id


@pytest.fixture
async def served(sqlite_url: str) -> AsyncIterator[Served]:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with host_site(api) as site:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, database_url=sqlite_url, web_chat=True, web_chat_origins=site, web_base_url=api
        )
        services = open_services(settings)
        found = Served(services, Clock(), Notifier(), api, site)
        app = create_app(
            services,
            clock=found.clock,
            wake=lambda: None,
            secret_key=KEY,
            chat_dispatch=found.dispatch,
            chat_notifier=found.notifier,
        )
        server = WebServer(app, host="127.0.0.1", port=port)
        await asyncio.to_thread(server.start)
        try:
            yield found
        finally:
            await asyncio.to_thread(server.stop)
            services.close()


async def focused_name(page: Page) -> str:
    return str(
        await page.evaluate("document.activeElement.getAttribute('aria-label') || document.activeElement.textContent")
    )


async def test_a_resident_chats_with_the_keyboard_only_and_the_conversation_survives_a_reload(
    served: Served, page: Page
) -> None:
    await page.set_viewport_size({"width": 320, "height": 640})
    await page.goto(served.site)
    launcher = page.get_by_role("button", name="Chat met de gemeente")
    await expect(launcher).to_be_visible()
    await expect(launcher).to_have_css("background-color", "rgb(29, 79, 145)")  # its styles apply under the CSP
    await expect(page.locator(".wbw-root")).to_have_css("position", "fixed")

    await page.keyboard.press("Tab")
    await expect(launcher).to_be_focused()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Chat met de gemeente")
    await expect(dialog).to_be_visible()
    field_ = dialog.get_by_label("Je bericht")
    await expect(field_).to_be_focused()
    log = dialog.get_by_role("log")
    await expect(log).to_contain_text("Je praat met wijkbot, de chatbot van de gemeente.")

    await page.keyboard.type("Er ligt een losse tegel op de stoep")
    await page.keyboard.press("Enter")
    sent = await served.update(1)
    assert sent["message"]["text"] == "Er ligt een losse tegel op de stoep"
    await expect(log).to_contain_text("JijEr ligt een losse tegel op de stoep")
    await expect(field_).to_be_enabled()
    await expect(field_).to_have_value("")

    row = await served.bot_says(
        page,
        Text(
            text="Bedankt! Gaat het om een <b>melding</b>?",
            rasa_buttons=[{"title": "Ja, een melding", "payload": "/melding"}, {"title": "Nee", "payload": "/nee"}],
        ),
    )
    answer = log.locator(".wbw-bot").last
    await expect(answer).to_contain_text("wijkbot (chatbot)")
    await expect(answer).to_contain_text("Bedankt! Gaat het om een melding?")
    await expect(answer.locator("b")).to_have_text("melding")
    await expect(answer.get_by_role("button")).to_have_text(["Ja, een melding", "Nee"])

    assert await axe_violations(page) == []

    await page.keyboard.press("Shift+Tab")  # from the input back to the last button of the conversation
    assert await focused_name(page) == "Nee"
    await page.keyboard.press("Enter")
    pressed = await served.update(2)
    assert pressed["callback_query"]["data"] == f"rb:{row}:1"
    await expect(log.locator(".wbw-me").last).to_contain_text("Nee")

    await expect(field_).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(launcher).to_be_focused()

    await page.reload()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    log = page.get_by_role("dialog", name="Chat met de gemeente").get_by_role("log")
    await expect(log.locator(".wbw-msg")).to_have_count(4)  # the intro, mine, the bot's answer, mine
    await expect(log.locator(".wbw-msg")).to_contain_text(
        [
            "Je praat met wijkbot",
            "Er ligt een losse tegel op de stoep",
            "Bedankt! Gaat het om een melding?",
            "Nee",
        ]
    )
    await expect(log.get_by_role("button", name="Ja, een melding")).to_be_visible()


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


async def test_a_picture_a_poll_with_several_answers_and_the_erasure(served: Served, page: Page) -> None:
    await page.goto(served.site)
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Chat met de gemeente")
    log = dialog.get_by_role("log")
    await page.keyboard.type("Hallo")
    await page.keyboard.press("Enter")
    await served.update(1)
    stored = "JSON.parse(localStorage.getItem('wijkbot-chat')).token"
    token = await page.evaluate(stored)

    with transaction(served.services.sessions) as session:
        media_id = make_media(session, data=PNG).id
    await served.bot_says(page, Photo(media_id=media_id, caption="De uitslag van de peiling"))
    picture = log.get_by_role("img", name="De uitslag van de peiling")
    await expect(picture).to_be_visible()
    assert await picture.evaluate("image => image.decode().then(() => image.naturalWidth > 0, () => false)")

    poll = await served.bot_says(
        page,
        Poll(
            question="Op welke dagen kun je?", options=["maandag", "dinsdag", "woensdag"], allows_multiple_answers=True
        ),
    )
    choices = log.get_by_role("group", name="Kies een of meer antwoorden")
    await expect(choices.get_by_role("checkbox")).to_have_count(3)
    assert await axe_violations(page) == []

    await page.keyboard.press("Shift+Tab")
    assert await focused_name(page) == "Verstuur keuze"
    await page.keyboard.press("Shift+Tab")  # woensdag
    await page.keyboard.press("Space")
    await page.keyboard.press("Shift+Tab")  # dinsdag
    await page.keyboard.press("Shift+Tab")  # maandag
    await page.keyboard.press("Space")
    await expect(choices.get_by_role("checkbox", name="maandag")).to_be_checked()
    await expect(choices.get_by_role("checkbox", name="dinsdag")).not_to_be_checked()
    for _ in range(3):
        await page.keyboard.press("Tab")
    assert await focused_name(page) == "Verstuur keuze"
    await page.keyboard.press("Enter")
    answer = await served.update(2)
    assert answer["poll_answer"]["poll_id"] == f"web{poll}" and answer["poll_answer"]["option_ids"] == [0, 2]
    await expect(log.locator(".wbw-me").last).to_contain_text("maandag, woensdag")

    # /vergeetmij was confirmed: the bot's goodbye is the last thing this conversation shows
    await served.bot_says(page, Text(text="Alles over jou is gewist.", ephemeral=True))
    await expect(dialog.get_by_role("status")).to_contain_text("Dit gesprek is gewist")
    await expect(log.locator(".wbw-msg")).to_have_count(1)
    await expect(log).to_contain_text("wijkbot (chatbot)Alles over jou is gewist.")
    assert await page.evaluate("localStorage.getItem('wijkbot-chat')") is None

    await dialog.get_by_label("Je bericht").fill("Ik heb nog een vraag")
    await page.keyboard.press("Enter")
    assert (await served.update(3))["message"]["text"] == "Ik heb nog een vraag"
    assert await page.evaluate(stored) != token  # a new session, unrelated to the erased one
    await expect(log.locator(".wbw-msg")).to_contain_text(["Je praat met wijkbot", "Ik heb nog een vraag"])


async def test_a_dropped_connection_shows_in_the_status_line_and_the_widget_reconnects(
    served: Served, page: Page
) -> None:
    await page.goto(served.site)
    await page.get_by_role("button", name="Chat met de gemeente").click()
    dialog = page.get_by_role("dialog", name="Chat met de gemeente")
    await dialog.get_by_label("Je bericht").fill("Hallo")
    await dialog.get_by_label("Je bericht").press("Enter")
    await served.update(1)

    async def drop(route: Route) -> None:
        await route.abort("connectionreset")

    await page.route("**/chat/messages*", drop)
    await served.bot_says(page, Text(text="Eerste antwoord"))  # the waiting poll answers; the next one fails
    status = dialog.get_by_role("status")
    await expect(status).to_have_text("De verbinding is verbroken. We proberen het opnieuw…")
    await page.unroute("**/chat/messages*", drop)
    await expect(status).to_have_text("", timeout=15_000)  # a retry after its backoff got through
    await served.bot_says(page, Text(text="Tweede antwoord"))
    await expect(dialog.get_by_role("log")).to_contain_text("Tweede antwoord")
