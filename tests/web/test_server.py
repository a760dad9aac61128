"""`wijkbot run` serves the workspace on WEB_HOST:WEB_PORT in a thread beside the bot and stops it cleanly."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest
from fastapi import FastAPI

from tests.bot.harness import free_port
from web.server import WebServer
from wijkbot import outbox_wake
from wijkbot.runner import start_web
from wijkbot.settings import Settings


def test_the_workspace_listens_on_web_port_and_stops(sqlite_url: str) -> None:
    port = free_port()
    settings = Settings(_env_file=None, database_url=sqlite_url, web_port=port)
    assert settings.web_url == f"http://127.0.0.1:{port}"
    server = start_web(settings)
    try:
        page = httpx.get(f"{settings.web_url}/login", timeout=10)
        assert page.status_code == 200 and "Inloggen op de werkplek" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        script = httpx.get(f"{settings.web_url}/static/htmx.min.js", timeout=10)  # vendored, no CDN
        assert script.status_code == 200 and "htmx" in script.text[:200]
    finally:
        server.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_a_taken_port_is_a_clear_error(sqlite_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"could not listen on 127.0.0.1:{port}"):
            start_web(Settings(_env_file=None, database_url=sqlite_url, web_port=port))


def test_queued_wakes_every_listening_sender_until_it_stops_listening() -> None:
    woken: list[str] = []
    stop = outbox_wake.listen(lambda: woken.append("sender"))
    outbox_wake.queued()
    stop()
    outbox_wake.queued()
    assert woken == ["sender"]


def test_a_request_still_open_when_the_workspace_stops_is_cut_after_the_grace(sqlite_url: str) -> None:
    """A chat widget's long poll waits up to a minute for news; stopping does not wait it out."""
    entered = threading.Event()
    app = FastAPI()

    @app.get("/wacht")
    async def wait_long() -> dict[str, str]:
        entered.set()
        await asyncio.sleep(120)  # far longer than the test runs
        return {"klaar": "ja"}

    server = WebServer(app, host="127.0.0.1", port=0)
    server.start()
    outcome: list[object] = []

    def ask() -> None:
        try:
            outcome.append(httpx.get(f"http://127.0.0.1:{server.port}/wacht", timeout=120).status_code)
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)

    asker = threading.Thread(target=ask)
    asker.start()
    assert entered.wait(30), "the request never reached the app"
    serving = server._thread
    server.stop(grace=0.2, timeout=30)
    asker.join(30)
    assert serving is not None and not serving.is_alive()  # the serving thread ended within the stop
    assert not asker.is_alive() and outcome and outcome[0] != 200  # cut, not answered
