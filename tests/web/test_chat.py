"""The web chat's HTTP API (web/chat.py) with the real app on a real SQLite database: sessions, what the widget
sends and how it lands in the inbound log, what the bot sent (rows the sender marked sent through the web
transport), the long poll, files, CORS, and nothing at all while WEB_CHAT is off."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from db import models
from db.session import transaction
from tests.factories import make_media, make_outbox_message
from tests.web.chat_support import web_sender
from tests.web.conftest import Clock
from web.app import create_app
from wijkbot.payloads import Document, Photo, Poll, Text
from wijkbot.services import Services, open_services
from wijkbot.settings import Settings
from wijkbot.webchat import CHANNEL, Notifier, chat_of, session_of

KEY = "sleutel-van-de-werkplek"
SITE = "https://www.oosterhout.nl"
OWN = "https://werkplek.oosterhout.nl"


@dataclasses.dataclass
class Chat:
    services: Services
    clock: Clock
    client: TestClient
    notifier: Notifier
    dispatched: list[dict[str, Any]]

    def start(self) -> str:
        """A new session's token."""
        response = self.client.post("/chat/session")
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def chat_id(self, token: str) -> int:
        session_id = session_of(KEY, token)
        assert session_id is not None
        with transaction(self.services.sessions) as session:
            found = chat_of(session, session_id=session_id)
        assert found is not None
        return found

    def send(self, token: str, **fields: Any) -> httpx.Response:
        return self.client.post("/chat/send", json={"token": token, **fields})

    def queue(self, token: str, message: Any) -> int:
        """A message from the bot to this session's chat, queued (not sent yet); its row id."""
        with transaction(self.services.sessions) as session:
            row = make_outbox_message(session, chat_id=self.chat_id(token), message=message, now=self.clock())
            assert row.channel == CHANNEL
            return row.id

    def deliver(self) -> None:
        """The outbox sender's round, with the web transport: due rows are marked sent and their polls woken."""
        sender = web_sender(self.services, self.notifier, self.clock)
        asyncio.run(sender.send_due())

    def messages(self, token: str, after: int = 0) -> dict[str, Any]:
        response = self.client.get("/chat/messages", params={"token": token, "after": after})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def inbound(self, token: str) -> list[models.InboundUpdate]:
        with transaction(self.services.sessions) as session:
            return list(
                session.scalars(
                    select(models.InboundUpdate)
                    .where(models.InboundUpdate.chat_id == self.chat_id(token))
                    .order_by(models.InboundUpdate.received_at, models.InboundUpdate.update_id)
                )
            )


def chat_settings(sqlite_url: str, **values: Any) -> Settings:
    values = {"web_chat": True, "web_chat_origins": f"{SITE}, https://wijkbot.dongen.nl/", "web_base_url": OWN} | values
    return Settings(_env_file=None, database_url=sqlite_url, **values)  # type: ignore[call-arg]


@pytest.fixture
def chat(sqlite_url: str) -> Iterator[Chat]:
    services = open_services(chat_settings(sqlite_url))
    clock, notifier, dispatched = Clock(), Notifier(), []
    app = create_app(
        services,
        clock=clock,
        wake=lambda: None,
        secret_key=KEY,
        chat_dispatch=dispatched.append,
        chat_notifier=notifier,
    )
    try:
        with TestClient(app) as client:
            yield Chat(services, clock, client, notifier, dispatched)
    finally:
        services.close()


# --- sessions -------------------------------------------------------------------------------------------------


def test_a_session_is_an_anonymous_signed_token_and_an_intro_that_says_it_is_a_chatbot(chat: Chat) -> None:
    response = chat.client.post("/chat/session")
    assert response.status_code == 201
    body = response.json()
    assert body["intro"].startswith("Je praat met wijkbot, de chatbot van de gemeente.")
    assert "Typ /vergeetmij om je gegevens te wissen." in body["intro"]
    assert session_of(KEY, body["token"]) is not None
    assert "set-cookie" not in response.headers
    assert chat.chat_id(body["token"]) >= 2**53  # never a Telegram id


# --- sending --------------------------------------------------------------------------------------------------


def test_a_text_is_stored_as_a_message_update_and_handed_to_the_bot_once_even_when_retried(chat: Chat) -> None:
    token = chat.start()
    first = chat.send(token, id="m-1", text="Er ligt een losse tegel op de stoep")
    assert (first.status_code, first.json()) == (202, {"accepted": True})
    again = chat.send(token, id="m-1", text="Er ligt een losse tegel op de stoep")  # the widget retried the POST
    assert again.status_code == 202
    stored = chat.inbound(token)
    assert len(stored) == 1 and stored[0].kind == "text" and stored[0].channel == CHANNEL
    assert stored[0].payload["message"]["text"] == "Er ligt een losse tegel op de stoep"
    assert stored[0].payload["message"]["chat"]["id"] == chat.chat_id(token)
    assert chat.dispatched == [stored[0].payload]
    assert "set-cookie" not in first.headers


def test_a_button_is_a_callback_query_and_a_polls_choices_are_a_poll_answer(chat: Chat) -> None:
    token = chat.start()
    assert chat.send(token, id="b-1", button="rb:12:0").status_code == 202
    assert chat.send(token, id="c-1", choices=["pv:web40:0", "pv:web40:2"]).status_code == 202
    button, answer = chat.inbound(token)
    assert button.kind == "callback" and button.payload["callback_query"]["data"] == "rb:12:0"
    assert answer.kind == "poll_answer"
    assert answer.payload["poll_answer"]["poll_id"] == "web40"
    assert answer.payload["poll_answer"]["option_ids"] == [0, 2]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"id": "x", "text": ""}, "Je bericht is leeg."),
        ({"id": "x", "text": "a" * 4097}, "te lang"),
        ({"id": "x", "text": "hoi", "button": "rb:1:0"}, "precies één"),
        ({"text": "hoi"}, "kenmerk"),
    ],
)
def test_an_empty_or_too_long_or_ambiguous_message_is_a_400_with_a_dutch_reason(
    chat: Chat, body: dict[str, Any], says: str
) -> None:
    token = chat.start()
    response = chat.send(token, **body)
    assert response.status_code == 400 and says in response.json()["error"]
    assert chat.inbound(token) == [] and chat.dispatched == []


def test_a_body_that_is_not_json_is_a_400(chat: Chat) -> None:
    response = chat.client.post("/chat/send", content=b"{niet: json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "geen geldige JSON" in response.json()["error"]


@pytest.mark.parametrize("token", [None, "", "verzonnen.token", "forged"])
def test_a_missing_or_forged_token_is_a_401(chat: Chat, token: str | None) -> None:
    if token == "forged":
        real = chat.start()
        token = real[:-3] + ("xyz" if not real.endswith("xyz") else "abc")
    response = (
        chat.send(token, id="m-1", text="hallo")
        if token is not None
        else chat.client.post("/chat/send", json={"id": "m-1", "text": "hallo"})
    )
    assert response.status_code == 401 and response.json()["error"]
    assert chat.client.get("/chat/messages", params={"token": token or ""}).status_code == 401
    assert chat.dispatched == []


def test_more_than_twenty_sends_a_minute_are_a_429_that_says_how_long_to_wait(chat: Chat) -> None:
    token, other = chat.start(), chat.start()
    for number in range(20):
        assert chat.send(token, id=f"m-{number}", text=f"bericht {number}").status_code == 202
    refused = chat.send(token, id="m-20", text="nog een")
    assert refused.status_code == 429
    assert refused.json()["retry_after"] == 60 and refused.headers["Retry-After"] == "60"
    assert "Wacht 60 seconden" in refused.json()["error"]
    assert chat.send(other, id="m-1", text="ik mag wel").status_code == 202  # per session
    chat.clock.now += timedelta(minutes=1)
    assert chat.send(token, id="m-20", text="nog een").status_code == 202


# --- what the bot sent ----------------------------------------------------------------------------------------


def test_messages_are_the_rows_the_sender_marked_sent_after_the_cursor_in_order(chat: Chat) -> None:
    token = chat.start()
    first = chat.queue(token, Text(text="Hoi! <b>Welkom</b>.", rasa_buttons=[{"title": "Melding", "payload": "/m"}]))
    second = chat.queue(token, Poll(question="Meer bankjes?", options=["Ja", "Nee"]))
    chat.deliver()
    later = chat.queue(token, Text(text="Nog niet verstuurd"))

    found = chat.messages(token)
    assert [m["id"] for m in found["messages"]] == [first, second] and found["cursor"] == second
    assert found["messages"][0]["html"] == "Hoi! <b>Welkom</b>."
    assert found["messages"][0]["buttons"] == [{"label": "Melding", "value": f"rb:{first}:0"}]
    assert found["messages"][1]["buttons"][1] == {"label": "Nee", "value": f"pv:web{second}:1"}
    assert chat.messages(token, after=first)["messages"][0]["id"] == second

    chat.deliver()
    assert [m["id"] for m in chat.messages(token, after=second)["messages"]] == [later]
    with transaction(chat.services.sessions) as session:
        ballot_poll = session.get(models.OutboxMessage, second)
        assert ballot_poll is not None and ballot_poll.telegram_message_id == second  # an Edit names the row


def test_another_sessions_messages_are_never_shown(chat: Chat) -> None:
    mine, theirs = chat.start(), chat.start()
    chat.queue(theirs, Text(text="Alleen voor de ander"))
    own = chat.queue(mine, Text(text="Voor mij"))
    chat.deliver()
    assert [m["id"] for m in chat.messages(mine)["messages"]] == [own]


def test_with_wait_0_an_empty_poll_answers_at_once_with_the_same_cursor(chat: Chat) -> None:
    token = chat.start()
    response = chat.client.get("/chat/messages", params={"token": token, "after": 7, "wait": 0})
    assert response.status_code == 200 and response.json() == {"messages": [], "cursor": 7}


def test_a_bad_cursor_is_a_400(chat: Chat) -> None:
    token = chat.start()
    response = chat.client.get("/chat/messages", params={"token": token, "after": "-1"})
    assert response.status_code == 400


def test_the_long_poll_answers_when_the_web_transport_delivers_a_row(chat: Chat) -> None:
    token = chat.start()
    chat_id = chat.chat_id(token)
    answers: list[httpx.Response] = []
    poll = threading.Thread(
        target=lambda: answers.append(chat.client.get("/chat/messages", params={"token": token, "after": 0}))
    )
    poll.start()
    assert chat.notifier.wait_for_waiters(chat_id)  # the poll found nothing yet and waits
    assert not answers
    row = chat.queue(token, Text(text="Daar ben ik"))
    chat.deliver()
    poll.join(timeout=15)
    assert not poll.is_alive() and answers[0].status_code == 200
    assert [m["id"] for m in answers[0].json()["messages"]] == [row]


def test_after_the_erasure_the_goodbye_is_the_waiting_polls_last_answer_and_the_token_opens_nothing(
    chat: Chat,
) -> None:
    token = chat.start()
    chat_id = chat.chat_id(token)
    answers: list[httpx.Response] = []
    poll = threading.Thread(
        target=lambda: answers.append(chat.client.get("/chat/messages", params={"token": token, "after": 0}))
    )
    poll.start()
    assert chat.notifier.wait_for_waiters(chat_id)
    goodbye = "Alles over jou is <b>gewist</b>. Je kunt me altijd opnieuw een bericht sturen."
    chat.queue(token, Text(text=goodbye, ephemeral=True))  # as bot/privacy.py queues it after /vergeetmij
    chat.deliver()  # sent: the row is deleted and the session's address with it
    poll.join(timeout=15)
    assert not poll.is_alive() and answers[0].status_code == 401
    assert answers[0].json()["farewell"] == goodbye
    assert chat.client.get("/chat/messages", params={"token": token}).status_code == 401
    assert chat.send(token, id="m-9", text="Ben je er nog?").status_code == 401
    assert chat.dispatched == []


def test_choices_of_two_polls_are_a_400(chat: Chat) -> None:
    token = chat.start()
    response = chat.send(token, id="c-1", choices=["pv:web40:0", "pv:web41:1"])
    assert response.status_code == 400 and response.json()["error"] == "Deze keuze bestaat niet."
    assert chat.inbound(token) == []


def test_a_photo_and_a_document_are_served_only_to_their_own_session(chat: Chat) -> None:
    token, other = chat.start(), chat.start()
    with transaction(chat.services.sessions) as session:
        media_id = make_media(session, data=b"\x89PNG uitslag").id
    photo = chat.queue(token, Photo(media_id=media_id, caption="De uitslag"))
    document = chat.queue(token, Document(document_text="naam: -\n", filename="mijn-gegevens.txt"))
    chat.deliver()
    shown = {m["id"]: m for m in chat.messages(token)["messages"]}

    image = chat.client.get(shown[photo]["image"])
    assert image.status_code == 200 and image.content == b"\x89PNG uitslag"
    assert image.headers["content-type"] == "image/png"
    download = chat.client.get(shown[document]["download"]["url"])
    assert download.status_code == 200 and download.text == "naam: -\n"
    assert download.headers["content-disposition"] == 'attachment; filename="mijn-gegevens.txt"'

    assert chat.client.get(f"/chat/media/{photo}", params={"token": other}).status_code == 404
    assert chat.client.get(f"/chat/file/{document}", params={"token": other}).status_code == 404
    assert chat.client.get(f"/chat/file/{photo}", params={"token": token}).status_code == 404  # not a document


# --- the widget, CORS, and WEB_CHAT off -----------------------------------------------------------------------


def test_the_widget_is_javascript_cacheable_for_an_hour(chat: Chat) -> None:
    response = chat.client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert "Chat met de gemeente" in response.text


@pytest.mark.parametrize("origin", [SITE, "https://wijkbot.dongen.nl", OWN])
def test_an_allowed_origin_gets_cors_with_a_preflight_for_json(chat: Chat, origin: str) -> None:
    preflight = chat.client.options(
        "/chat/send",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    response = chat.client.post("/chat/session", headers={"Origin": origin})
    assert response.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-credentials" not in response.headers


def test_another_origin_gets_no_cors_header(chat: Chat) -> None:
    evil = "https://elders.example"
    preflight = chat.client.options("/chat/send", headers={"Origin": evil, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    response = chat.client.post("/chat/session", headers={"Origin": evil})
    assert "access-control-allow-origin" not in response.headers


def test_with_web_chat_off_nothing_of_it_is_there(sqlite_url: str) -> None:
    services = open_services(chat_settings(sqlite_url, web_chat=False))
    try:
        with TestClient(create_app(services, wake=lambda: None, secret_key=KEY)) as client:
            assert client.get("/widget.js").status_code == 404
            assert client.post("/chat/session").status_code == 404
            assert client.post("/chat/send", json={}).status_code == 404
            assert client.get("/chat/messages").status_code == 404
    finally:
        services.close()


def test_more_than_thirty_new_sessions_from_one_address_in_ten_minutes_are_a_429(chat: Chat) -> None:
    for _ in range(30):
        chat.start()
    refused = chat.client.post("/chat/session", json={})
    assert refused.status_code == 429 and "te veel gesprekken" in refused.json()["error"]
    chat.clock.now += timedelta(minutes=10)
    assert chat.client.post("/chat/session", json={}).status_code == 201


def test_a_body_over_64_kilobytes_is_refused_unread_with_413(chat: Chat) -> None:
    token = chat.start()
    response = chat.client.post(
        "/chat/send", content=b'{"token": "' + token.encode() + b'", "text": "' + b"x" * 70_000 + b'"}'
    )
    assert response.status_code == 413 and "te groot" in response.json()["error"]
    assert chat.inbound(token) == []


def test_a_cursor_of_other_digits_than_ascii_is_a_400_not_a_crash(chat: Chat) -> None:
    token = chat.start()
    response = chat.client.get("/chat/messages", params={"token": token, "after": "²", "wait": "0"})
    assert response.status_code == 400


def test_a_message_sent_before_an_older_one_is_still_shown_after_it(chat: Chat) -> None:
    """Rows are claimed by priority and due time, not by id: the cursor follows the order the sends were recorded."""
    token = chat.start()
    later = chat.queue(token, Text(text="eerst in de rij gezet, later verstuurd"))
    with transaction(chat.services.sessions) as session:
        row = session.get(models.OutboxMessage, later)
        assert row is not None
        row.not_before = chat.clock.now + timedelta(minutes=5)  # e.g. held for the morning
    sooner = chat.queue(token, Text(text="later in de rij gezet, eerst verstuurd"))
    chat.deliver()
    first = chat.messages(token)
    assert [m["id"] for m in first["messages"]] == [sooner]
    chat.clock.now += timedelta(minutes=5)
    chat.deliver()
    second = chat.messages(token, after=first["cursor"])
    assert [m["id"] for m in second["messages"]] == [later]
