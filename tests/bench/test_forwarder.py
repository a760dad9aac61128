"""The bench's plain forwarder (bench/forwarder_process.py) in its own process, against the fake Bot API and a
small fake of Rasa's REST webhook on loopback: no Rasa needed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from bench.forwarder import Forwarder

ANSWER = [{"text": "Hoi <b>x</b>"}, {"text": "tweede"}]


class FakeRasa(ThreadingHTTPServer):
    """Answers every POST to the REST webhook with ANSWER and records (query, body) of each."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RasaHandler)
        self.turns: list[tuple[dict[str, list[str]], dict[str, Any]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _RasaHandler(BaseHTTPRequestHandler):
    server: FakeRasa

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if url.path != "/webhooks/rest/webhook":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.turns.append((parse_qs(url.query), body))
        answer = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    server = FakeRasa()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_turn_goes_to_rasa_and_its_texts_come_back_as_one_message(rasa: FakeRasa, tmp_path: Path) -> None:
    forwarder = await Forwarder.start(rasa.url, "geheim", logs=tmp_path)
    try:
        seconds = await forwarder.turn(700_000_001, "hallo", timeout=60)
        assert seconds is not None and seconds > 0
        [message] = forwarder.fake.sent_messages(700_000_001)
        assert message["text"] == "Hoi <b>x</b>\n\ntweede"
        assert message["parse_mode"] == "HTML"
        [(query, body)] = rasa.turns
        assert query == {"token": ["geheim"]}
        assert body["sender"] == "700000001" and body["message"] == "hallo"
        assert body["metadata"]["telegram"]["user_id"] == 700_000_001
    finally:
        status = await forwarder.stop()
    assert status == 0  # SIGTERM: run_polling shut down cleanly
