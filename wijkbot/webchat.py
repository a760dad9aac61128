"""The web chat on the municipality's site (issue 14; docs/webchat.md), without the web framework.

- A session is anonymous: a random id, signed with the app's secret key (salt "web-chat"), is the token the
  widget keeps; the session's chat (wijkbot.channels, channel "web") is created with it, and erasing the
  person (/vergeetmij) removes it, after which the token opens nothing.
- What the widget sends becomes an update in the inbound log (wijkbot.channels.receive), as from Telegram.
- What the bot sends to a web chat is an outbox row like any other; the web transport (bot/web_transport.py)
  "delivers" it by letting the sender mark it sent and waking the chat's long polls (`Notifier`). The widget
  reads the sent rows after its cursor, each rendered by `render` into a small JSON message whose HTML holds
  only b, strong, i, em, a (http and https only), code, pre and br: everything else is escaped.

Nothing here imports the web framework or telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from db import models
from wijkbot import channels
from wijkbot.outbox import read
from wijkbot.payloads import Document, Edit, Payload, Photo, Poll, StopPoll, Text, UnreadablePayload

CHANNEL = channels.WEB
SALT = "web-chat"
MAX_TEXT = 4096  # as Telegram: a longer message is refused, not cut
MAX_VALUE = 64  # a button's value (Telegram's callback data is at most 64 bytes)
MAX_CHOICES = 10  # as wijkbot.channels
INTRO = (
    "Je praat met wijkbot, de chatbot van de gemeente. Je kunt hier een melding doen, een vraag stellen of een "
    "idee voor je wijk delen. Een medewerker van de gemeente leest mee als dat nodig is. "
    "Typ /vergeetmij om je gegevens te wissen."
)
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# --- sessions -------------------------------------------------------------------------------------------------


def _signer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def new_session(secret_key: str) -> tuple[str, str]:
    """A new anonymous session: its random id and the signed token the widget keeps."""
    session_id = secrets.token_urlsafe(24)
    return session_id, str(_signer(secret_key).dumps(session_id))


def session_of(secret_key: str, token: str | None) -> str | None:
    """The session id a token carries, or None when it is missing, forged or signed for something else."""
    if not token or len(token) > 200:
        return None
    try:
        value = _signer(secret_key).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) and value else None


def open_chat(session: Session, *, session_id: str, now: datetime) -> int:
    """The chat of a new session (created now)."""
    return channels.address_chat(session, channel=CHANNEL, address=session_id, now=now)


def chat_of(session: Session, *, session_id: str) -> int | None:
    """The session's chat, or None when there is none (never opened, or erased with /vergeetmij: the goodbye's
    delivery takes the address with it, wijkbot.channels.forget_address)."""
    found = session.scalar(
        select(models.ChannelAddress.chat_id).where(
            models.ChannelAddress.channel == CHANNEL, models.ChannelAddress.address == session_id
        )
    )
    return int(found) if found is not None else None


# --- what the widget sends ------------------------------------------------------------------------------------


class Refused(ValueError):
    """A request the widget should not have sent; the message (Dutch) says why."""


@dataclass(frozen=True)
class Incoming:
    """One message from the widget: exactly one of a text, a button's value, or a poll's choices."""

    client_id: str
    text: str | None = None
    button: str | None = None
    choices: list[str] | None = None


def parse_send(body: Any) -> Incoming:
    """The widget's POST /chat/send body (without its token), checked; Refused with a Dutch message."""
    if not isinstance(body, dict):
        raise Refused("Het bericht kon niet gelezen worden.")
    client_id = body.get("id")
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise Refused("Het bericht heeft geen geldig kenmerk (id).")
    given = [key for key in ("text", "button", "choices") if body.get(key) is not None]
    if len(given) != 1:
        raise Refused("Stuur een tekst, een knop of een keuze: precies één daarvan.")
    key = given[0]
    value = body[key]
    if key == "text":
        if not isinstance(value, str) or not value.strip():
            raise Refused("Je bericht is leeg.")
        if len(value) > MAX_TEXT:
            raise Refused(f"Je bericht is te lang: hooguit {MAX_TEXT} tekens.")
        return Incoming(client_id, text=value.strip())
    if key == "button":
        if not isinstance(value, str) or not 0 < len(value) <= MAX_VALUE:
            raise Refused("Deze knop bestaat niet.")
        return Incoming(client_id, button=value)
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= MAX_VALUE for v in value):
        raise Refused("Deze keuze bestaat niet.")
    if not value:
        raise Refused("Kies minstens één antwoord.")
    if len(value) > MAX_CHOICES:
        raise Refused("Dat zijn te veel keuzes.")
    return Incoming(client_id, choices=list(dict.fromkeys(value)))


def accept(
    session: Session, *, session_id: str, incoming: Incoming, now: datetime
) -> tuple[int, dict[str, Any] | None] | None:
    """Store a message of this session in the inbound log: its chat and the update to hand to the bot (None
    when this message id was received before: a retried POST). None when the session has no chat; Refused
    when wijkbot.channels cannot make an update of it."""
    chat_id = chat_of(session, session_id=session_id)
    if chat_id is None:
        return None
    try:
        update = channels.receive(
            session,
            channel=CHANNEL,
            chat_id=chat_id,
            external_id=f"{chat_id}:{incoming.client_id}",  # one session cannot take another's ids
            text=incoming.text,
            button=incoming.button,
            choices=incoming.choices,
            now=now,
        )
    except channels.BadInput as exc:  # e.g. choices of two polls
        raise Refused("Deze keuze bestaat niet.") from exc
    return chat_id, update


class RateLimit:
    """At most `limit` sends per `per` for one key (a session), on the caller's clock; thread-safe."""

    def __init__(self, limit: int = 20, per: timedelta = timedelta(minutes=1)) -> None:
        self.limit = limit
        self.per = per
        self._lock = threading.Lock()
        self._seen: dict[str, deque[datetime]] = defaultdict(deque)

    def check(self, key: str, now: datetime) -> float | None:
        """Count one send; None when it is allowed, else the seconds until the next one is."""
        with self._lock:
            seen = self._seen[key]
            while seen and now - seen[0] >= self.per:
                seen.popleft()
            if len(seen) >= self.limit:
                return max(1.0, (seen[0] + self.per - now).total_seconds())
            seen.append(now)
            if len(self._seen) > 10_000:  # forget idle sessions
                for idle in [k for k, v in self._seen.items() if not v or now - v[-1] >= self.per]:
                    del self._seen[idle]
            return None


# --- what the bot sends ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebMessage:
    """One message for the widget (GET /chat/messages)."""

    id: int
    html: str
    buttons: list[dict[str, str]] = field(default_factory=list)  # {"label", "value"}
    multiple: bool = False
    image: str | None = None
    download: dict[str, str] | None = None  # {"url", "name"}
    replaces: int | None = None
    ask: str | None = None  # the input's placeholder: the bot asks for something to type
    seq: int = 0  # its place in the order the sends were recorded (the cursor; not shown)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "html": self.html,
            "buttons": self.buttons,
            "multiple": self.multiple,
            "image": self.image,
            "download": self.download,
            "replaces": self.replaces,
            "ask": self.ask,
        }


def poll_id(row_id: int) -> str:
    """The poll id of a poll sent to the web (the transport's Delivery.poll_id; its options' values)."""
    return f"{CHANNEL}{row_id}"


def rasa_button_value(row_id: int, index: int) -> str:
    """What a Rasa button sends back: as bot.telegram_transport.rasa_button_data (the payload stays stored)."""
    return f"rb:{row_id}:{index}"


def media_url(row_id: int, token: str) -> str:
    return f"/chat/media/{row_id}?token={quote(token, safe='')}"


def file_url(row_id: int, token: str) -> str:
    return f"/chat/file/{row_id}?token={quote(token, safe='')}"


def render(row_id: int, payload: Payload, *, token: str, replaced: Payload | None = None) -> WebMessage:
    """The widget's message for an outbox row sent to a web chat. `replaced` is the message a StopPoll
    closes (its question stays, its buttons go); the URLs carry the session's token."""
    if isinstance(payload, Text):
        if payload.rasa_buttons and not payload.buttons:
            buttons = [
                {"label": str(b.get("title", ""))[:64] or "…", "value": rasa_button_value(row_id, i)}
                for i, b in enumerate(payload.rasa_buttons)
            ]
        else:
            buttons = _inline(payload.buttons)
        return WebMessage(row_id, sanitize(payload.text), buttons, ask=payload.ask if not buttons else None)
    if isinstance(payload, Photo):
        image = media_url(row_id, token) if payload.media_id is not None else None
        return WebMessage(row_id, sanitize(payload.caption or ""), image=image)
    if isinstance(payload, Poll):
        options = [{"label": option, "value": f"pv:{poll_id(row_id)}:{i}"} for i, option in enumerate(payload.options)]
        return WebMessage(row_id, html.escape(payload.question), options, multiple=payload.allows_multiple_answers)
    if isinstance(payload, Document):
        download = {"url": file_url(row_id, token), "name": payload.filename}
        return WebMessage(row_id, html.escape(payload.caption or ""), download=download)
    if isinstance(payload, Edit):
        return WebMessage(row_id, sanitize(payload.text), _inline(payload.buttons), replaces=payload.message_id)
    question = replaced.question if isinstance(replaced, Poll) else ""
    return WebMessage(row_id, html.escape(question), replaces=payload.message_id)


def _inline(rows: list[list[dict[str, str]]] | None) -> list[dict[str, str]]:
    return [
        {"label": str(b.get("text", "")), "value": str(b.get("callback_data", ""))}
        for row in rows or []
        for b in row
        if b.get("callback_data")
    ]


def messages_after(session: Session, *, chat_id: int, after: int, token: str, limit: int = 100) -> list[WebMessage]:
    """The chat's web rows that the sender marked sent after the cursor `after` (their `channel_seq`: the order
    in which the sends were recorded, not the row ids, which priorities and due times send out of order)."""
    rows = session.scalars(
        select(models.OutboxMessage)
        .where(
            models.OutboxMessage.recipient_chat_id == chat_id,
            models.OutboxMessage.channel == CHANNEL,
            models.OutboxMessage.status == "sent",
            models.OutboxMessage.channel_seq > after,
        )
        .order_by(models.OutboxMessage.channel_seq)
        .limit(limit)
    ).all()
    found: list[WebMessage] = []
    for row in rows:
        try:
            payload = read(row)
            replaced = None
            if isinstance(payload, StopPoll):
                replaced = _own_payload(session, chat_id=chat_id, row_id=payload.message_id)
            found.append(replace(render(row.id, payload, token=token, replaced=replaced), seq=row.channel_seq or 0))
        except UnreadablePayload:
            continue
    return found


def _own_row(session: Session, *, chat_id: int, row_id: int) -> models.OutboxMessage | None:
    row = session.get(models.OutboxMessage, row_id)
    if row is None or row.recipient_chat_id != chat_id or row.channel != CHANNEL or row.status != "sent":
        return None
    return row


def _own_payload(session: Session, *, chat_id: int, row_id: int) -> Payload | None:
    row = _own_row(session, chat_id=chat_id, row_id=row_id)
    try:
        return read(row) if row is not None else None
    except UnreadablePayload:
        return None


@dataclass(frozen=True)
class File:
    data: bytes
    content_type: str
    filename: str


def image_of(session: Session, *, chat_id: int, row_id: int) -> File | None:
    """The stored picture of a photo sent to this chat (None for anything else)."""
    payload = _own_payload(session, chat_id=chat_id, row_id=row_id)
    if not isinstance(payload, Photo) or payload.media_id is None:
        return None
    media = session.get(models.Media, payload.media_id)
    return File(media.data, media.content_type, media.filename) if media is not None else None


def document_of(session: Session, *, chat_id: int, row_id: int) -> File | None:
    """The text file of a document sent to this chat (None for anything else)."""
    payload = _own_payload(session, chat_id=chat_id, row_id=row_id)
    if not isinstance(payload, Document):
        return None
    return File(payload.document_text.encode("utf-8"), "text/plain; charset=utf-8", payload.filename)


# --- sanitizing -----------------------------------------------------------------------------------------------

_SIMPLE = ("b", "strong", "i", "em", "code", "pre")
_DROPPED = ("u", "ins", "s", "strike", "del", "tg-spoiler", "span", "blockquote")  # Telegram's: text kept
_TOKEN = re.compile(
    r"(?P<open><(?P<name>" + "|".join(_SIMPLE + _DROPPED) + r")>)"
    r"|(?P<close></(?P<cname>" + "|".join(_SIMPLE + _DROPPED + ("a",)) + r")>)"
    r"|(?P<br><br\s*/?>)"
    r"|(?P<a><a\s+href\s*=\s*(?:\"(?P<dq>[^\"<>]*)\"|'(?P<sq>[^'<>]*)')\s*>)"
    r"|(?P<entity>&(?:[a-zA-Z]{2,8}|#\d{1,7}|#x[0-9a-fA-F]{1,6});)"
    r"|(?P<char>[<>&\"'])",
)


def safe_href(value: str) -> str | None:
    """The link if it is http or https with a host, else None."""
    url = html.unescape(value).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def sanitize(text: str) -> str:
    """Telegram-style HTML as a safe subset: b, strong, i, em, code, pre and br as they are, a link only with an
    http(s) href (opened in a new tab, rel=noopener); Telegram's other formatting tags are left out with their
    text kept; every other tag, attribute or character that means something in HTML is escaped. Tags are
    balanced: a stray closing tag is left out, an unclosed one closed at the end."""
    out: list[str] = []
    stack: list[str] = []  # open tags, "" for a dropped one (an a without a safe href, a dropped name)
    position = 0
    for match in _TOKEN.finditer(text):
        out.append(html.escape(text[position : match.start()], quote=False))
        position = match.end()
        if match.group("open"):
            name = match.group("name")
            stack.append(name if name in _SIMPLE else "")
            out.append(f"<{name}>" if name in _SIMPLE else "")
        elif match.group("a"):
            href = safe_href(match.group("dq") if match.group("dq") is not None else match.group("sq") or "")
            stack.append("a" if href else "")
            if href:
                out.append(f'<a href="{html.escape(href, quote=True)}" rel="noopener noreferrer" target="_blank">')
        elif match.group("close"):
            out.append(_close(stack, match.group("cname"), match.group("close")))
        elif match.group("br"):
            out.append("<br>")
        elif match.group("entity"):
            entity = match.group("entity")
            out.append(entity if html.unescape(entity) != entity else html.escape(entity))
        else:
            out.append(html.escape(match.group("char"), quote=True))
    out.append(html.escape(text[position:], quote=False))
    out.extend(f"</{name}>" for name in reversed(stack) if name)
    return "".join(out)


def _close(stack: list[str], name: str, tag: str) -> str:
    """A closing tag: closes what is open up to its tag; a stray one is left out (escaped when unknown)."""
    if any(_matches(open_, name) for open_ in stack):
        closed = []
        while stack:
            open_ = stack.pop()
            if open_:
                closed.append(f"</{open_}>")
            if _matches(open_, name):
                break
        return "".join(closed)
    return "" if name in (*_SIMPLE, "a", *_DROPPED) else html.escape(tag)


def _matches(open_: str, close: str) -> bool:
    """Whether an open tag on the stack is the one this closing tag ends ("" stands for a dropped tag)."""
    return open_ == close or (open_ == "" and close in (*_DROPPED, "a"))


# --- waking the long polls ------------------------------------------------------------------------------------


class Notifier:
    """Wakes the long polls waiting on a chat, from any thread: the web transport runs on the bot's event loop,
    the long polls on uvicorn's loop in another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiting: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)
        self._farewells: dict[int, str] = {}

    @contextlib.contextmanager
    def waiting(self, chat_id: int) -> Iterator[asyncio.Event]:
        """An event (of the running loop) that is set when the chat is woken, registered while in the block."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._changed:
            self._waiting[chat_id].add(waiter)
            self._changed.notify_all()
        try:
            yield waiter[1]
        finally:
            with self._changed:
                self._waiting[chat_id].discard(waiter)
                if not self._waiting[chat_id]:
                    del self._waiting[chat_id]
                self._changed.notify_all()

    def wake(self, chat_id: int) -> None:
        """Something changed for this chat: every long poll on it looks again."""
        with self._lock:
            waiters = list(self._waiting.get(chat_id, ()))
        for loop, woken in waiters:
            with contextlib.suppress(RuntimeError):  # that loop was closed meanwhile
                loop.call_soon_threadsafe(woken.set)

    def farewell(self, chat_id: int, text: str) -> None:
        """Keep the last words to a chat that is being erased (the goodbye after /vergeetmij: its row is deleted
        when sent, and the address with it), as safe HTML, for the long poll that finds the chat gone."""
        with self._lock:
            self._farewells[chat_id] = sanitize(text)
            while len(self._farewells) > 1000:
                del self._farewells[next(iter(self._farewells))]

    def take_farewell(self, chat_id: int) -> str | None:
        with self._lock:
            return self._farewells.pop(chat_id, None)

    def wake_after_commit(self, session: Session, chat_id: int) -> None:
        """Wake the chat once the session's transaction has committed (what it wrote is visible then)."""
        event.listen(session, "after_commit", lambda _session: self.wake(chat_id), once=True)

    def waiters(self, chat_id: int) -> int:
        """How many long polls wait on this chat now."""
        with self._lock:
            return len(self._waiting.get(chat_id, ()))

    def wait_for_waiters(self, chat_id: int, count: int = 1, *, timeout: float = 30.0) -> bool:
        """Block until at least `count` long polls wait on the chat (False after `timeout` seconds)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._waiting.get(chat_id, ())) >= count, timeout)


NOTIFIER = Notifier()  # the process's one notifier: the web transport wakes, the web app waits
