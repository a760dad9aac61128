"""Two REAL Rasa replicas behind one bot, started the way `wijkbot run` starts them (wijkbot.runner) with
endpoints.replicas.yml: a PostgreSQL tracker store and a Redis lock store, shared. Any replica continues a
resident's conversation, and a resident's turns sent to both at once are handled one after the other."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from bot.rasa_client import RasaClient
from tests.conftest import _fresh_postgres_database
from tests.stack import RASA_START_SECONDS, Stack, _rasa_model_loaded, free_port, start, stop, wait_for
from wijkbot.runner import rasa_arguments
from wijkbot.settings import Settings, rasa_environment

pytestmark = pytest.mark.rasa
_senders = itertools.count(895_000_001)
REDIS_URL = "redis://127.0.0.1:6379/3"


def redis_reachable() -> bool:
    """Whether Redis answers PING at REDIS_URL's host and port (its inline protocol)."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def replicas(stack: Stack, postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two Rasa servers on one fresh PostgreSQL database and one Redis, using the session's action server."""
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have Redis at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    workdir = tmp_path_factory.mktemp("replicas")
    for database in _fresh_postgres_database(postgres_admin_url):
        tracker = make_url(database).set(drivername="postgresql").render_as_string(hide_password=False)
        urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            rasa_urls=",".join(urls),
            rasa_token=secrets.token_urlsafe(24),
            rasa_tracker_store_url=tracker,
            rasa_lock_store_url=REDIS_URL,
            action_server_url=stack.action_server_url,
        )
        assert settings.rasa_token is not None
        token = settings.rasa_token.get_secret_value()
        env = {**stack.env, **rasa_environment(settings)}
        processes: list[tuple[subprocess.Popen[bytes], Path]] = []
        try:
            for number, url in enumerate(urls, start=1):
                log = workdir / f"rasa-{number}.log"
                processes.append((start(rasa_arguments(settings, url), env, log), log))
            for url, (process, log) in zip(urls, processes, strict=True):
                wait_for(
                    lambda url=url, token=token: _rasa_model_loaded(url, token),  # type: ignore[misc]
                    seconds=RASA_START_SECONDS,
                    process=process,
                    name="a Rasa replica",
                    log=log,
                )
            yield [f"{url}?token={token}" for url in urls]
        finally:
            for process, _ in processes:
                stop(process)


def say(replica: str, sender: str, text: str) -> str:
    url, token = replica.split("?token=")
    body = {"sender": sender, "message": text, "metadata": {"telegram": {"first_name": "Anna"}}}
    response = httpx.post(f"{url}/webhooks/rest/webhook", params={"token": token}, json=body, timeout=120)
    response.raise_for_status()
    return "\n".join(r.get("text") or "" for r in response.json())


def events(replica: str, sender: str) -> list[dict[str, Any]]:
    url, token = replica.split("?token=")
    response = httpx.get(f"{url}/conversations/{sender}/tracker", params={"token": token}, timeout=30)
    response.raise_for_status()
    return list(response.json()["events"])


def test_a_conversation_goes_on_at_whichever_replica_takes_the_next_turn(replicas: list[str]) -> None:
    sender = str(next(_senders))
    first, second = replicas
    assert "Wat is er aan de hand?" in say(first, sender, "ik wil iets melden")
    assert "Waar is het?" in say(second, sender, "er ligt een losse stoeptegel voor ons huis")
    assert "Dit is je melding" in say(first, sender, "4911AB")
    assert events(first, sender) == events(second, sender)


def redis_get(key: str) -> bytes | None:
    """GET `key` on REDIS_URL's database (Redis's inline protocol; a bulk reply: "$N" and N bytes, or "$-1")."""
    with socket.create_connection(("127.0.0.1", 6379), timeout=5) as connection:
        connection.sendall(f"SELECT 3\r\nGET {key}\r\n".encode())
        reply = b""
        while True:
            reply += connection.recv(65536)
            lines = reply.split(b"\r\n")
            if len(lines) < 3:
                continue  # "+OK", then the bulk header
            header = lines[1]
            if header == b"$-1":
                return None
            size = int(header[1:])
            body = b"\r\n".join(lines[2:])
            if len(body) >= size:
                return body[:size]


def tickets(sender: str) -> int:
    """How many turns hold or wait for this conversation's lock in Redis (Rasa's TicketLock, as JSON)."""
    raw = redis_get(f"lock:{sender}")
    return len(json.loads(raw).get("tickets", [])) if raw else 0


def wait_until(check: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.01)


def test_a_turn_arriving_at_the_other_replica_while_one_is_handled_waits_for_it(
    replicas: list[str], stack: Stack
) -> None:
    """The Redis lock: a second turn of the same resident that reaches the other replica while the first is
    being handled waits until the first is saved, so each user message is followed by its own answer and
    `action_listen` before the next one begins (never two turns on one stale conversation). The first turn is
    held inside the action server (paused), so the overlap is certain: the second turn is sent, and the
    action server resumed, only once the second has taken its ticket behind the first. (The bot itself sends
    a resident's turns one at a time; this is the line behind it. Rasa 3.6 issues lock tickets with a
    read-modify-write in Redis, so two turns arriving at the very same millisecond are not covered.)"""
    sender = str(next(_senders))
    actions = stack.processes["actions"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        os.killpg(actions.pid, signal.SIGSTOP)
        try:
            # asks the action server (the contact form's validation): held there, with the lock taken
            first = pool.submit(say, replicas[0], sender, "wie is mijn wijkmakelaar?")
            wait_until(lambda: tickets(sender) == 1, "the first turn takes the conversation's lock")
            second = pool.submit(say, replicas[1], sender, "hallo")
            wait_until(lambda: tickets(sender) == 2, "the second turn waits behind the first")
            assert not first.done() and not second.done()
        finally:
            os.killpg(actions.pid, signal.SIGCONT)
        first.result(), second.result()
    kinds = [(e["event"], e.get("text")) for e in events(replicas[0], sender) if e["event"] in ("user", "action")]
    users = [i for i, (kind, _) in enumerate(kinds) if kind == "user"]
    assert [kinds[i][1] for i in users] == ["wie is mijn wijkmakelaar?", "hallo"]
    assert kinds[users[1] - 1] == ("action", None)  # the first turn ended listening before the second began


async def test_the_bot_spreads_turns_over_the_replicas_and_skips_one_that_is_down(replicas: list[str]) -> None:
    token = replicas[0].split("?token=")[1]
    urls = [r.split("?token=")[0] for r in replicas]
    down = f"http://127.0.0.1:{free_port()}"
    client = RasaClient([down, *urls], timeout=120, token=token, max_in_flight=1)
    try:
        senders = [str(next(_senders)) for _ in range(6)]
        answers = await asyncio.gather(*(client.turn(sender=s, text="hallo", metadata={}) for s in senders))
    finally:
        await client.aclose()
    assert all(answer and answer[0].text for answer in answers)
    assert client.peak_in_flight >= 2  # both live replicas had a turn at the same time
