"""A fake Telegram Bot API server on loopback, for tests.

The real python-telegram-bot talks to it over HTTP::

    with start_fake_telegram() as tg:
        bot = telegram.Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
        tg.push_text(42, "Hallo")            # an update the bot will get from getUpdates
        ...
        tg.wait_for_messages(42, count=1)     # what the bot sent to chat 42

The server runs tornado on its own event loop in a background thread, so it serves sync tests, async
tests and a bot running in another thread or process alike. Everything it is asked is recorded
(:meth:`FakeTelegramServer.calls`), messages that were sent successfully are listed by
:meth:`FakeTelegramServer.sent_messages`, and faults can be injected (``fail_next``, ``block_chat``,
``drop_next``, ``delay_next``, ``set_rate_limits``).

It checks what Telegram checks where tests depend on it: text length, strict HTML (stricter than Telegram
about ``&``: a bare ampersand is refused, so a missing ``html.escape`` shows up), inline keyboard
``callback_data`` length, poll options, unknown message ids for edits and deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

if TYPE_CHECKING:
    import telegram
    import telegram.ext
    import telegram.request

JSONDict = dict[str, Any]
ChatId = int | str

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:AAFakeTokenForWijkbotTests_0000000000"
"""A token with the shape of a real one; the number before the colon is the bot's user id."""

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200

#: Methods that send a message into a chat: they count for rate accounting and blocked chats.
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendPoll",
        "sendVoice",
        "sendSticker",
        "sendLocation",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendMediaGroup",
        "sendContact",
        "sendVenue",
        "sendDice",
        "copyMessage",
        "forwardMessage",
    }
)

#: Update types a bot gets when it never chose (Telegram leaves these three out by default).
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "options",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "link_preview_options",
        "reply_parameters",
        "media",
        "explanation_entities",
        "question_entities",
        "correct_option_ids",
        "menu_button",
        "rights",
        "message_ids",
        "reaction",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "offset",
        "limit",
        "reply_to_message_id",
        "message_thread_id",
        "max_connections",
        "open_period",
        "close_date",
        "correct_option_id",
        "cache_time",
        "user_id",
        "duration",
        "width",
        "height",
    }
)
_FLOAT_FIELDS = frozenset({"latitude", "longitude", "horizontal_accuracy", "timeout"})
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "is_anonymous",
        "allows_multiple_answers",
        "show_alert",
        "drop_pending_updates",
        "is_closed",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "disable_content_type_detection",
        "has_spoiler",
        "show_caption_above_media",
        "allow_paid_broadcast",
        "allows_revoting",
        "revoke",
    }
)


# --------------------------------------------------------------------------------------------------
# Errors and records
# --------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (e.g. the ``photo`` of sendPhoto with an InputFile)."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedCall:
    """One request to the fake, as the bot made it.

    ``params`` are parsed: ints and booleans converted, JSON-in-a-form-field (``reply_markup``,
    ``options``, ``entities`` ...) decoded to Python objects. ``status`` is the HTTP status answered
    (0 when the connection was dropped without an answer), ``response`` the JSON body answered.
    """

    method: str
    params: JSONDict
    time: float
    monotonic: float
    files: dict[str, UploadedFile] = field(default_factory=dict)
    content_type: str = ""
    status: int = 0
    response: JSONDict | None = None
    recorded: bool = field(default=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> ChatId | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int | str) else None


@dataclass
class _Fault:
    method: str  # lower-case method name or "*"
    kind: str  # "error" | "drop" | "drop_after" | "delay"
    times: int
    status: int = 0
    description: str = ""
    parameters: JSONDict | None = None
    delay: float = 0.0
    chat_id: ChatId | None = None

    def matches(self, method: str, chat_id: ChatId | None) -> bool:
        if self.method not in ("*", method.lower()):
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class _QueuedUpdate:
    update: JSONDict
    redelivery: bool = False  # pushed again with an update_id that may already be confirmed


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str = "application/octet-stream"


@dataclass
class _Poll:
    poll: JSONDict
    chat_id: ChatId
    message_id: int
    votes: dict[int, list[int]] = field(default_factory=dict)  # user id -> option ids


@dataclass
class _RateLimits:
    per_chat_per_second: int | None = None
    overall_per_second: int | None = None
    group_per_minute: int | None = None
    retry_after: int = 1


@dataclass
class _Outcome:
    status: int
    payload: JSONDict
    drop: bool = False


# --------------------------------------------------------------------------------------------------
# Telegram HTML (parse_mode=HTML), strictly
# --------------------------------------------------------------------------------------------------


class HtmlParseError(ValueError):
    """Text that Telegram would refuse with "can't parse entities"."""


_ALLOWED_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_NAME_RE = re.compile(r"[^\s>/]*")
_ATTR_RE = re.compile(r"""([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int  # UTF-16 offset in the plain text
    language: str | None = None


def _decode_entity(match: re.Match[str]) -> str | None:
    dec, hexa, named = match.groups()
    if named:
        return _NAMED_ENTITIES[named]
    code = int(dec) if dec else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _decode_attr(value: str) -> str:
    return _ENTITY_RE.sub(lambda m: _decode_entity(m) or m.group(0), value)


def parse_html(source: str) -> tuple[str, list[JSONDict]]:
    """Parse Telegram HTML into (plain text, entities) or raise :class:`HtmlParseError`.

    Allowed: b strong i em u ins s strike del, a href, code, pre (with code class="language-x"),
    span class="tg-spoiler", tg-spoiler, blockquote [expandable], tg-emoji emoji-id; entities &lt; &gt;
    &amp; &quot; and numeric ones. A '<' that does not open an allowed tag, a bare '&', an unknown
    entity, an unclosed or mismatched tag are errors. Offsets are UTF-16 code units, like Telegram's.
    """
    out: list[str] = []
    pos16 = 0
    stack: list[_OpenTag] = []
    entities: list[JSONDict] = []
    i = 0
    n = len(source)

    def byte_offset(k: int) -> int:
        return len(source[:k].encode("utf-8"))

    while i < n:
        ch = source[i]
        if ch == "<":
            if source.startswith("</", i):
                end = source.find(">", i)
                if end == -1:
                    raise HtmlParseError(f"Unclosed end tag at byte offset {byte_offset(i)}")
                name = source[i + 2 : end].strip().lower()
                if not stack:
                    raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset(i)}")
                top = stack.pop()
                if name != top.name:
                    raise HtmlParseError(
                        f'Unmatched end tag at byte offset {byte_offset(i)}, expected "</{top.name}>", '
                        f'found "</{name}>"'
                    )
                _close_tag(top, pos16, stack, entities)
                i = end + 1
                continue
            name_match = _TAG_NAME_RE.match(source, i + 1)
            assert name_match is not None
            name = name_match.group(0).lower()
            if name not in _ALLOWED_TAGS:
                raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {byte_offset(i)}')
            j = name_match.end()
            attrs: dict[str, str] = {}
            while True:
                while j < n and source[j].isspace():
                    j += 1
                if j >= n:
                    raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {byte_offset(i)}')
                if source[j] == ">":
                    j += 1
                    break
                attr = _ATTR_RE.match(source, j)
                if attr is None or attr.end() == j:
                    raise HtmlParseError(
                        f'Unexpected character in the start tag "{name}" at byte offset {byte_offset(j)}'
                    )
                value = next((v for v in attr.groups()[1:] if v is not None), "")
                attrs[attr.group(1).lower()] = _decode_attr(value)
                j = attr.end()
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(i)}')
            stack.append(_OpenTag(name, attrs, pos16))
            i = j
            continue
        if ch == "&":
            entity = _ENTITY_RE.match(source, i)
            decoded = _decode_entity(entity) if entity else None
            if entity is None or decoded is None:
                raise HtmlParseError(
                    f'Unsupported HTML entity or unescaped "&" at byte offset {byte_offset(i)}; escape it as "&amp;"'
                )
            out.append(decoded)
            pos16 += utf16_len(decoded)
            i = entity.end()
            continue
        out.append(ch)
        pos16 += 2 if ord(ch) > 0xFFFF else 1
        i += 1
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_tag(tag: _OpenTag, pos16: int, stack: list[_OpenTag], entities: list[JSONDict]) -> None:
    length = pos16 - tag.start
    if tag.name == "code" and stack and stack[-1].name == "pre":
        cls = tag.attrs.get("class", "")
        if cls.startswith("language-"):
            stack[-1].language = cls.removeprefix("language-")
        return
    if length <= 0:
        return
    entity: JSONDict = {"type": _ALLOWED_TAGS[tag.name], "offset": tag.start, "length": length}
    if tag.name == "a":
        href = tag.attrs.get("href", "")
        if not href:
            return
        entity["url"] = href
    elif tag.name == "pre" and tag.language:
        entity["language"] = tag.language
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attrs.get("emoji-id", "")
    entities.append(entity)


# --------------------------------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------------------------------


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise _bad_request(f"invalid {name} specified")


def normalize_params(raw: Mapping[str, Any]) -> JSONDict:
    """Turn what PTB sends (form fields: strings, JSON strings) into typed values."""
    params: JSONDict = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name in _JSON_FIELDS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                if name == "reply_markup":
                    raise _bad_request("can't parse reply keyboard markup JSON object") from None
                raise _bad_request(f"can't parse {name} JSON object") from None
        elif name in _INT_FIELDS and isinstance(value, str):
            text = value.strip()
            if name == "chat_id" and text.startswith("@"):
                value = text
            else:
                try:
                    value = int(text)
                except ValueError:
                    if name in ("chat_id", "from_chat_id"):
                        raise _bad_request("chat not found") from None
                    raise _bad_request(f"invalid {name} specified") from None
        elif name in _FLOAT_FIELDS and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _bad_request(f"invalid {name} specified") from None
        elif name in _BOOL_FIELDS:
            value = _to_bool(name, value)
        params[name] = value
    return params


def _parse_request(request: tornado.httputil.HTTPServerRequest) -> tuple[JSONDict, dict[str, UploadedFile]]:
    raw: dict[str, Any] = {}
    for name, values in request.query_arguments.items():
        if values:
            raw[name] = values[-1].decode("utf-8")
    files: dict[str, UploadedFile] = {}
    content_type = request.headers.get("Content-Type", "")
    body = request.body or b""
    if body:
        if content_type.lower().startswith("application/json"):
            try:
                decoded = json.loads(body)
            except ValueError:
                raise _bad_request("can't parse JSON object") from None
            if not isinstance(decoded, dict):
                raise _bad_request("JSON object expected")
            raw.update(decoded)
        else:
            args: dict[str, list[bytes]] = {}
            parts: dict[str, list[tornado.httputil.HTTPFile]] = {}
            tornado.httputil.parse_body_arguments(content_type, body, args, parts)
            for name, values in args.items():
                if values:
                    raw[name] = values[-1].decode("utf-8")
            for name, uploads in parts.items():
                up = uploads[-1]
                files[name] = UploadedFile(name, up.filename, up.content_type, bytes(up.body))
    return normalize_params(raw), files


# --------------------------------------------------------------------------------------------------
# HTTP handlers
# --------------------------------------------------------------------------------------------------


class _ApiHandler(tornado.web.RequestHandler):
    fake: FakeTelegramServer

    def initialize(self, fake: FakeTelegramServer) -> None:
        self.fake = fake

    def check_xsrf_cookie(self) -> None:  # the Bot API has no cookies
        return None

    async def get(self, token: str, method: str) -> None:
        await self._serve(token, method)

    async def post(self, token: str, method: str) -> None:
        await self._serve(token, method)

    async def _serve(self, token: str, method: str) -> None:
        outcome = await self.fake._handle(token, method, self.request)
        if outcome.drop:
            with contextlib.suppress(Exception):
                assert self.request.connection is not None
                self.request.connection.close()  # type: ignore[attr-defined]
            self._finished = True  # nothing more goes out on this connection
            return
        self.set_status(outcome.status)
        self.set_header("Content-Type", "application/json")
        with contextlib.suppress(Exception):  # the client may be gone (cancelled long poll)
            await self.finish(json.dumps(outcome.payload, ensure_ascii=False).encode("utf-8"))


class _FileHandler(tornado.web.RequestHandler):
    fake: FakeTelegramServer

    def initialize(self, fake: FakeTelegramServer) -> None:
        self.fake = fake

    def get(self, token: str, path: str) -> None:
        data = self.fake._file_content(token, path)
        if data is None:
            self.set_status(404)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}))
            return
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(data)


class _NotFoundHandler(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}))


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


class FakeTelegramServer:
    """A Bot API server on ``127.0.0.1:<free port>`` backed by in-memory state.

    Thread-safe: the HTTP side runs on its own loop thread; all helpers may be called from any thread.
    """

    def __init__(
        self,
        token: str | None = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_first_name: str = "Wijkbot",
        bot_username: str = "wijkbot_test_bot",
        first_update_id: int = 1,
        strict_chats: bool = False,
        poll_option_limits: tuple[int, int] = (2, 10),
    ) -> None:
        """Create (not start) the server.

        ``token``: the only token accepted (others get 401 Unauthorized); ``None`` accepts any.
        ``strict_chats``: refuse ("chat not found") chats the fake has never seen in a pushed update
        or :meth:`add_chat`; by default any id is a chat (positive: private, negative: group).
        ``poll_option_limits``: (min, max) number of poll options. Bot API 10.0 allows 1..12; the
        default 2..10 is the classic, stricter range.
        """
        self.token = token
        self.host = host
        self._requested_port = port
        self.port = 0
        self.strict_chats = strict_chats
        self.poll_option_limits = poll_option_limits
        bot_id = 123456789
        if token and token.split(":", 1)[0].isdigit():
            bot_id = int(token.split(":", 1)[0])
        self.bot_user: JSONDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._calls: list[RecordedCall] = []
        self._sent: list[JSONDict] = []
        self._errors: list[str] = []
        self._faults: list[_Fault] = []
        self._blocked: set[ChatId] = set()
        self._rate_limits = _RateLimits()

        self._queue: list[_QueuedUpdate] = []
        self._next_update = first_update_id
        self._last_update_id = first_update_id - 1
        self._allowed_updates: list[str] | None = None
        self._webhook: JSONDict = {"url": ""}

        self._users: dict[int, JSONDict] = {}
        self._chats: dict[ChatId, JSONDict] = {}
        self._messages: dict[tuple[ChatId, int], JSONDict] = {}
        self._next_message_id: dict[ChatId, int] = {}
        self._polls: dict[str, _Poll] = {}
        self._callback_ids: dict[str, bool] = {}  # id -> answered
        self._files: dict[str, _StoredFile] = {}
        self._commands: dict[str, list[JSONDict]] = {}
        self._ids = itertools.count(1)

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._updates_event: asyncio.Event | None = None
        self._poll_generation = 0
        self._active_polls = 0
        self._stopping = False

        self._methods: dict[str, tuple[str, Callable[[JSONDict, dict[str, UploadedFile]], Any]]] = {}
        for name, fn in [
            ("getMe", self._get_me),
            ("logOut", self._true),
            ("close", self._true),
            ("deleteWebhook", self._delete_webhook),
            ("setWebhook", self._set_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("setMyCommands", self._set_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("setMyDescription", self._true),
            ("setMyShortDescription", self._true),
            ("setMyName", self._true),
            ("setChatMenuButton", self._true),
            ("getChatMenuButton", lambda p, f: {"type": "commands"}),
            ("sendMessage", self._send_message),
            ("editMessageText", self._edit_message_text),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("editMessageCaption", self._edit_message_caption),
            ("deleteMessage", self._delete_message),
            ("answerCallbackQuery", self._answer_callback_query),
            ("sendPoll", self._send_poll),
            ("stopPoll", self._stop_poll),
            ("sendPhoto", self._send_photo),
            ("sendDocument", self._send_document),
            ("sendChatAction", self._send_chat_action),
            ("getChat", self._get_chat),
            ("copyMessage", self._copy_message),
            ("forwardMessage", self._forward_message),
            ("getFile", self._get_file),
        ]:
            self._methods[name.lower()] = (name, fn)
        self._methods["getupdates"] = ("getUpdates", self._true)  # served by _get_updates (async)

    # ---------------------------------------------------------------------------------------------
    # lifecycle
    # ---------------------------------------------------------------------------------------------

    def start(self) -> FakeTelegramServer:
        """Bind a free port on ``host`` and serve in a background thread. Returns self."""
        if self._thread is not None:
            return self
        sockets = tornado.netutil.bind_sockets(self._requested_port, address=self.host)
        self.port = sockets[0].getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(sockets, ready))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._stopping = False
        self._thread = threading.Thread(target=run, name=f"fake-telegram-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise RuntimeError("fake Telegram server did not start") from failure[0]
        return self

    async def _serve(self, sockets: list[Any], ready: threading.Event) -> None:
        self._stop_event = asyncio.Event()
        self._updates_event = asyncio.Event()
        app = tornado.web.Application(
            [
                (r"/bot([^/]*)/([A-Za-z0-9_]*)/?", _ApiHandler, {"fake": self}),
                (r"/file/bot([^/]*)/(.+)", _FileHandler, {"fake": self}),
                (r".*", _NotFoundHandler),
            ],
            log_function=lambda handler: None,
        )
        server = tornado.httpserver.HTTPServer(app, max_body_size=64 * 1024 * 1024)
        server.add_sockets(sockets)
        ready.set()
        await self._stop_event.wait()
        server.stop()
        self._wake_pollers()
        if self._active_polls:
            await asyncio.sleep(0.05)  # let woken long polls answer
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.close_all_connections(), 2)

    def stop(self) -> None:
        """Stop serving and join the thread (pending long polls are answered with no updates)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._stopping = True
        stop_event = self._stop_event
        if stop_event is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeTelegramServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeTelegramServer:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)`` / ``TELEGRAM_BASE_URL``: PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    @property
    def errors(self) -> list[str]:
        """Unexpected exceptions inside the fake (a bug in the fake, answered as HTTP 500)."""
        with self._lock:
            return list(self._errors)

    def make_bot(self, **kwargs: Any) -> telegram.Bot:
        """A real ``telegram.Bot`` pointed at this server (kwargs go to ``Bot``).

        Unless ``request``/``get_updates_request`` are given it uses :func:`fast_request` clients.
        """
        import telegram

        kwargs.setdefault("request", fast_request())
        kwargs.setdefault("get_updates_request", fast_request(connection_pool_size=1))
        return telegram.Bot(
            self.token or DEFAULT_TOKEN, base_url=self.base_url, base_file_url=self.base_file_url, **kwargs
        )

    def application_builder(self, *, fast: bool = True) -> telegram.ext.ApplicationBuilder:
        """A ``telegram.ext.ApplicationBuilder`` with token, base_url and base_file_url set.

        ``fast``: also set :func:`fast_request` clients (then the builder's connection settings such as
        ``connection_pool_size`` can no longer be set; pass ``fast=False`` for that).
        """
        from telegram.ext import ApplicationBuilder

        builder = (
            ApplicationBuilder()
            .token(self.token or DEFAULT_TOKEN)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )
        if fast:
            builder = builder.request(fast_request()).get_updates_request(fast_request(connection_pool_size=1))
        return builder

    # ---------------------------------------------------------------------------------------------
    # recordings
    # ---------------------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Every request so far (or those of one method, case-insensitive), oldest first."""
        with self._lock:
            if method is None:
                return list(self._calls)
            low = method.lower()
            return [c for c in self._calls if c.method.lower() == low]

    def sent_messages(self, chat_id: ChatId | None = None) -> list[JSONDict]:
        """Messages sent successfully (sendMessage, sendPhoto, sendDocument, sendPoll, copy/forward).

        Each is a dict: ``method, chat_id, message_id, text`` (text as sent, or the caption, or the
        poll question), ``plain_text`` (after HTML parsing), ``caption``, ``parse_mode``,
        ``reply_markup`` (as sent, decoded), ``poll`` (sendPoll), ``message`` (the Message answered),
        ``params`` (all parameters), ``time``.
        """
        with self._lock:
            return [copy.deepcopy(m) for m in self._sent if chat_id is None or m["chat_id"] == chat_id]

    def message(self, chat_id: ChatId, message_id: int) -> JSONDict | None:
        """The current state of a message (after edits), or None if unknown or deleted."""
        with self._lock:
            found = self._messages.get((chat_id, message_id))
            return copy.deepcopy(found) if found else None

    def poll_state(self, poll_id: str) -> JSONDict | None:
        """The current Poll object of a poll the bot sent (vote counts follow push_poll_answer)."""
        with self._lock:
            found = self._polls.get(poll_id)
            return copy.deepcopy(found.poll) if found else None

    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by the bot (getUpdates offset)."""
        with self._lock:
            return [copy.deepcopy(q.update) for q in self._queue]

    def clear(self) -> None:
        """Forget recorded calls and sent messages (state such as chats and messages stays)."""
        with self._lock:
            self._calls.clear()
            self._sent.clear()
            self._errors.clear()

    def reset(self) -> None:
        """Back to a fresh server (update ids keep growing), e.g. between tests sharing one server."""
        with self._lock:
            self.clear()
            self._faults.clear()
            self._blocked.clear()
            self._rate_limits = _RateLimits()
            self._queue.clear()
            self._allowed_updates = None
            self._webhook = {"url": ""}
            self._users.clear()
            self._chats.clear()
            self._messages.clear()
            self._next_message_id.clear()
            self._polls.clear()
            self._callback_ids.clear()
            self._files.clear()
            self._commands.clear()

    # waiting ------------------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0, message: str = "") -> None:
        """Block until ``predicate()`` is true (re-checked on every request and push) or raise TimeoutError.

        Do not call this on the event loop that runs the bot: use :meth:`wait_for_async` there.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(message or f"condition not met within {timeout} s; calls: {self._summary()}")
                self._cond.wait(min(remaining, 0.05))

    async def wait_for_async(self, predicate: Callable[[], bool], timeout: float = 5.0, message: str = "") -> None:
        """Like :meth:`wait_for`, without blocking the running event loop."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise TimeoutError(message or f"condition not met within {timeout} s; calls: {self._summary()}")
            await asyncio.sleep(0.01)

    def wait_for_messages(self, chat_id: ChatId, count: int = 1, timeout: float = 5.0) -> list[JSONDict]:
        """Block until at least ``count`` messages were sent to ``chat_id``; return all sent to it."""
        self.wait_for(
            lambda: len(self._sent_to(chat_id)) >= count,
            timeout,
            f"expected {count} message(s) to chat {chat_id} within {timeout} s; got "
            f"{[m.get('text') for m in self._sent_to(chat_id)]}; calls: {self._summary()}",
        )
        return self.sent_messages(chat_id)

    async def wait_for_messages_async(self, chat_id: ChatId, count: int = 1, timeout: float = 5.0) -> list[JSONDict]:
        await self.wait_for_async(
            lambda: len(self._sent_to(chat_id)) >= count,
            timeout,
            f"expected {count} message(s) to chat {chat_id} within {timeout} s; got "
            f"{[m.get('text') for m in self._sent_to(chat_id)]}; calls: {self._summary()}",
        )
        return self.sent_messages(chat_id)

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[RecordedCall]:
        """Block until ``method`` was called at least ``count`` times; return those calls."""
        self.wait_for(lambda: len(self.calls(method)) >= count, timeout)
        return self.calls(method)

    async def wait_for_calls_async(self, method: str, count: int = 1, timeout: float = 5.0) -> list[RecordedCall]:
        await self.wait_for_async(lambda: len(self.calls(method)) >= count, timeout)
        return self.calls(method)

    def _sent_to(self, chat_id: ChatId) -> list[JSONDict]:
        with self._lock:
            return [m for m in self._sent if m["chat_id"] == chat_id]

    def _summary(self) -> str:
        with self._lock:
            return ", ".join(f"{c.method}->{c.status}" for c in self._calls[-20:]) or "none"

    # rate accounting ----------------------------------------------------------------------------

    def send_times(self, chat_id: ChatId | None = None) -> list[float]:
        """``time.monotonic()`` of every attempted send (any outcome), optionally for one chat."""
        with self._lock:
            return [
                c.monotonic
                for c in self._calls
                if c.method in SEND_METHODS and (chat_id is None or c.chat_id == chat_id)
            ]

    def max_rate(self, chat_id: ChatId | None = None, window: float = 1.0) -> int:
        """The most send attempts in any ``window``-second interval (all chats, or one chat)."""
        return _max_in_window(self.send_times(chat_id), window)

    def max_rate_per_chat(self, window: float = 1.0) -> dict[ChatId, int]:
        """For each chat sent to: the most send attempts in any ``window``-second interval."""
        with self._lock:
            times: dict[ChatId, list[float]] = {}
            for c in self._calls:
                if c.method in SEND_METHODS and c.chat_id is not None:
                    times.setdefault(c.chat_id, []).append(c.monotonic)
        return {chat: _max_in_window(ts, window) for chat, ts in times.items()}

    def set_rate_limits(
        self,
        per_chat_per_second: int | None = None,
        overall_per_second: int | None = None,
        group_per_minute: int | None = None,
        retry_after: int = 1,
    ) -> None:
        """Answer 429 (with ``retry_after``) to sends beyond these limits; None switches one off."""
        with self._lock:
            self._rate_limits = _RateLimits(per_chat_per_second, overall_per_second, group_per_minute, retry_after)

    # faults -------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 2,
        times: int = 1,
        description: str | None = None,
        *,
        chat_id: ChatId | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` ("*" for any) with an error.

        429 answers ``Too Many Requests: retry after N`` with ``parameters.retry_after`` (PTB raises
        RetryAfter); 500 ``Internal Server Error``; 400/403/409 need or get a description.
        ``chat_id`` limits the fault to calls for that chat.
        """
        parameters: JSONDict | None = None
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
                502: "Bad Gateway",
                400: "Bad Request",
                401: "Unauthorized",
                403: "Forbidden: bot was blocked by the user",
                409: "Conflict",
            }.get(status, f"Error {status}")
        if status == 429 and retry_after is not None:
            parameters = {"retry_after": retry_after}
        with self._lock:
            self._faults.append(
                _Fault(method.lower(), "error", times, status, description, parameters, chat_id=chat_id)
            )

    def drop_next(
        self, method: str, times: int = 1, *, after_send: bool = False, chat_id: ChatId | None = None
    ) -> None:
        """Close the connection without answering the next ``times`` calls of ``method``.

        ``after_send=True``: the call takes effect (the message is sent and recorded) and only the
        answer is lost, the case where a sender cannot know whether Telegram delivered.
        """
        with self._lock:
            self._faults.append(_Fault(method.lower(), "drop_after" if after_send else "drop", times, chat_id=chat_id))

    def delay_next(self, method: str, seconds: float, times: int = 1, *, chat_id: ChatId | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds`` (for client timeouts)."""
        with self._lock:
            self._faults.append(_Fault(method.lower(), "delay", times, delay=seconds, chat_id=chat_id))

    def block_chat(self, chat_id: ChatId) -> None:
        """Sends to this chat answer 403 (blocked by the user / kicked from the group)."""
        with self._lock:
            self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: ChatId) -> None:
        with self._lock:
            self._blocked.discard(chat_id)

    # ---------------------------------------------------------------------------------------------
    # injecting updates
    # ---------------------------------------------------------------------------------------------

    def push_update(self, update: Mapping[str, Any]) -> JSONDict:
        """Queue a raw update for getUpdates. Without ``update_id`` it gets the next one.

        With an ``update_id`` that was used before, it is delivered again even if the bot already
        confirmed it, like Telegram redelivering an update.
        """
        upd = copy.deepcopy(dict(update))
        with self._cond:
            if "update_id" not in upd:
                upd["update_id"] = self._next_update
            uid = int(upd["update_id"])
            redelivery = uid <= self._last_update_id
            self._last_update_id = max(self._last_update_id, uid)
            self._next_update = max(self._next_update, uid + 1)
            self._queue.append(_QueuedUpdate(upd, redelivery))
            self._cond.notify_all()
        self._notify_loop()
        return copy.deepcopy(upd)

    def push_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Anna",
        chat_id: ChatId | None = None,
        reply_to_message_id: int | None = None,
        language_code: str = "nl",
        username: str | None = None,
        last_name: str | None = None,
    ) -> JSONDict:
        """A text message from a user (in their private chat unless ``chat_id``).

        A leading ``/command`` gets a ``bot_command`` entity, as Telegram does.
        """
        content: JSONDict = {"text": text}
        command = re.match(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,64})?", text)
        if command:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}]
        return self._push_message(
            user_id,
            content,
            first_name=first_name,
            chat_id=chat_id,
            reply_to_message_id=reply_to_message_id,
            language_code=language_code,
            username=username,
            last_name=last_name,
        )

    def push_command(
        self,
        user_id: int,
        command: str,
        args: str | None = None,
        *,
        first_name: str = "Anna",
        chat_id: ChatId | None = None,
        language_code: str = "nl",
        username: str | None = None,
    ) -> JSONDict:
        """``/command [args]`` with a bot_command entity; ``command`` may be given with or without '/'."""
        text = command if command.startswith("/") else f"/{command}"
        if args:
            text = f"{text} {args}"
        return self.push_text(
            user_id, text, first_name=first_name, chat_id=chat_id, language_code=language_code, username=username
        )

    def push_group_text(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        *,
        title: str = "Wijkraad",
        chat_type: str | None = None,
        first_name: str = "Anna",
        reply_to_message_id: int | None = None,
        language_code: str = "nl",
    ) -> JSONDict:
        """A text message in a group (negative ``chat_id``; type supergroup for -100… ids)."""
        with self._lock:
            if chat_id not in self._chats:
                kind = chat_type or ("supergroup" if chat_id <= -1_000_000_000_000 else "group")
                self._chats[chat_id] = {"id": chat_id, "type": kind, "title": title}
        return self.push_text(
            user_id,
            text,
            first_name=first_name,
            chat_id=chat_id,
            reply_to_message_id=reply_to_message_id,
            language_code=language_code,
        )

    def push_callback(
        self,
        user_id: int,
        data: str,
        message_id: int,
        *,
        chat_id: ChatId | None = None,
        first_name: str = "Anna",
        language_code: str = "nl",
    ) -> JSONDict:
        """A press on an inline button of message ``message_id`` (in the user's chat unless ``chat_id``)."""
        user = self._remember_user(user_id, first_name, language_code)
        target = chat_id if chat_id is not None else user_id
        with self._lock:
            message = copy.deepcopy(self._messages.get((target, message_id)))
            if message is None:
                message = {
                    "message_id": message_id,
                    "from": dict(self.bot_user),
                    "chat": self._chat(target, create=True),
                    "date": int(time.time()),
                    "text": "…",
                }
            query_id = str(4_000_000_000_000_000_000 + next(self._ids))
            self._callback_ids[query_id] = False
        query: JSONDict = {
            "id": query_id,
            "from": user,
            "message": message,
            "chat_instance": str(abs(hash((target, self.bot_id))) % 10**18),
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def push_poll_answer(
        self, user_id: int, poll_id: str, option_ids: Iterable[int], *, first_name: str = "Anna"
    ) -> JSONDict:
        """A vote (or, with no option ids, a retracted vote) in a non-anonymous poll."""
        user = self._remember_user(user_id, first_name, "nl")
        options = list(option_ids)
        with self._lock:
            state = self._polls.get(poll_id)
            if state is not None:
                state.votes[user_id] = options
                self._recount(state)
        answer: JSONDict = {
            "poll_id": poll_id,
            "user": user,
            "option_ids": options,
            "option_persistent_ids": [str(i) for i in options],
        }
        return self.push_update({"poll_answer": answer})

    def push_photo(
        self, user_id: int, *, caption: str | None = None, chat_id: ChatId | None = None, first_name: str = "Anna"
    ) -> JSONDict:
        """A photo (two sizes; the file can be fetched with getFile and the file URL)."""
        small = self._store_file(b"\xff\xd8\xff\xe0fake-jpeg-small", "photos", ".jpg", "image/jpeg")
        large = self._store_file(b"\xff\xd8\xff\xe0fake-jpeg-large" * 8, "photos", ".jpg", "image/jpeg")
        content: JSONDict = {
            "photo": [
                {
                    "file_id": small.file_id,
                    "file_unique_id": small.file_unique_id,
                    "width": 90,
                    "height": 67,
                    "file_size": len(small.data),
                },
                {
                    "file_id": large.file_id,
                    "file_unique_id": large.file_unique_id,
                    "width": 1280,
                    "height": 960,
                    "file_size": len(large.data),
                },
            ]
        }
        if caption is not None:
            content["caption"] = caption
        return self._push_message(user_id, content, first_name=first_name, chat_id=chat_id)

    def push_voice(
        self, user_id: int, *, duration: int = 3, chat_id: ChatId | None = None, first_name: str = "Anna"
    ) -> JSONDict:
        stored = self._store_file(b"OggSfake-voice", "voice", ".oga", "audio/ogg")
        content = {
            "voice": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "duration": duration,
                "mime_type": "audio/ogg",
                "file_size": len(stored.data),
            }
        }
        return self._push_message(user_id, content, first_name=first_name, chat_id=chat_id)

    def push_sticker(
        self, user_id: int, *, emoji: str = "👍", chat_id: ChatId | None = None, first_name: str = "Anna"
    ) -> JSONDict:
        stored = self._store_file(b"RIFFfake-webp", "stickers", ".webp", "image/webp")
        content = {
            "sticker": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
                "set_name": "FakeStickers",
                "file_size": len(stored.data),
            }
        }
        return self._push_message(user_id, content, first_name=first_name, chat_id=chat_id)

    def push_location(
        self,
        user_id: int,
        latitude: float = 51.6433,
        longitude: float = 4.8600,
        *,
        chat_id: ChatId | None = None,
        first_name: str = "Anna",
    ) -> JSONDict:
        content = {"location": {"latitude": latitude, "longitude": longitude}}
        return self._push_message(user_id, content, first_name=first_name, chat_id=chat_id)

    def push_edited_text(
        self,
        user_id: int,
        message_id: int,
        text: str,
        *,
        chat_id: ChatId | None = None,
        first_name: str = "Anna",
        language_code: str = "nl",
    ) -> JSONDict:
        """An ``edited_message`` update: the user changed the text of their message ``message_id``."""
        user = self._remember_user(user_id, first_name, language_code)
        target = chat_id if chat_id is not None else user_id
        now = int(time.time())
        with self._lock:
            original = self._messages.get((target, message_id))
            message: JSONDict = (
                copy.deepcopy(original)
                if original
                else {
                    "message_id": message_id,
                    "from": user,
                    "chat": self._chat(target, create=True),
                    "date": now - 60,
                }
            )
            message.pop("entities", None)
            message["text"] = text
            message["edit_date"] = now
            self._messages[(target, message_id)] = copy.deepcopy(message)
        return self.push_update({"edited_message": message})

    def _push_message(
        self,
        user_id: int,
        content: JSONDict,
        *,
        first_name: str = "Anna",
        chat_id: ChatId | None = None,
        reply_to_message_id: int | None = None,
        language_code: str = "nl",
        username: str | None = None,
        last_name: str | None = None,
    ) -> JSONDict:
        user = self._remember_user(user_id, first_name, language_code, username, last_name)
        target = chat_id if chat_id is not None else user_id
        with self._lock:
            if target not in self._chats:
                self._chats[target] = self._chat(target, create=True)
            message: JSONDict = {
                "message_id": self._new_message_id(target),
                "from": user,
                "chat": self._chat(target, create=True),
                "date": int(time.time()),
            }
            if reply_to_message_id is not None:
                replied = self._messages.get((target, reply_to_message_id))
                if replied is None:
                    replied = {
                        "message_id": reply_to_message_id,
                        "from": dict(self.bot_user),
                        "chat": self._chat(target, create=True),
                        "date": int(time.time()) - 60,
                        "text": "…",
                    }
                replied = copy.deepcopy(replied)
                replied.pop("reply_to_message", None)
                message["reply_to_message"] = replied
            message.update(copy.deepcopy(content))
            self._messages[(target, message["message_id"])] = copy.deepcopy(message)
        return self.push_update({"message": message})

    def add_chat(self, chat_id: int, *, first_name: str = "Anna", title: str | None = None) -> None:
        """Make a chat known (matters with ``strict_chats``)."""
        with self._lock:
            if chat_id > 0:
                self._remember_user(chat_id, first_name, "nl")
                self._chats[chat_id] = {"id": chat_id, "type": "private", "first_name": first_name}
            else:
                kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
                self._chats[chat_id] = {"id": chat_id, "type": kind, "title": title or f"Groep {chat_id}"}

    # webhook delivery ---------------------------------------------------------------------------

    def deliver_webhook(self, timeout: float = 5.0) -> list[httpx.Response]:
        """POST every pending update to the URL set by setWebhook (with its secret token).

        Updates answered 2xx leave the queue, like Telegram; the others stay pending.
        """
        with self._lock:
            url = self._webhook.get("url") or ""
            secret = self._webhook.get("secret_token")
            pending = list(self._queue)
        if not url:
            raise RuntimeError("no webhook set")
        responses: list[httpx.Response] = []
        for queued in pending:
            response = post_update(url, queued.update, secret_token=secret, timeout=timeout)
            responses.append(response)
            if 200 <= response.status_code < 300:
                with self._lock, contextlib.suppress(ValueError):
                    self._queue.remove(queued)
        return responses

    # ---------------------------------------------------------------------------------------------
    # internals: state
    # ---------------------------------------------------------------------------------------------

    def _remember_user(
        self,
        user_id: int,
        first_name: str,
        language_code: str | None,
        username: str | None = None,
        last_name: str | None = None,
    ) -> JSONDict:
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        with self._lock:
            self._users[user_id] = user
            if user_id not in self._chats:
                private: JSONDict = {"id": user_id, "type": "private", "first_name": first_name}
                if username:
                    private["username"] = username
                self._chats[user_id] = private
        return dict(user)

    def _chat(self, chat_id: ChatId, *, create: bool = False) -> JSONDict:
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if isinstance(chat_id, str):
            for chat in self._chats.values():
                if chat.get("username") and f"@{chat['username']}".lower() == chat_id.lower():
                    return dict(chat)
            raise _bad_request("chat not found")
        if self.strict_chats and not create:
            raise _bad_request("chat not found")
        if chat_id > 0:
            user = self._users.get(chat_id)
            return {"id": chat_id, "type": "private", "first_name": user["first_name"] if user else "Bewoner"}
        if chat_id <= -1_000_000_000_000:
            return {"id": chat_id, "type": "supergroup", "title": f"Groep {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Groep {chat_id}"}

    def _new_message_id(self, chat_id: ChatId) -> int:
        value = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = value + 1
        return value

    def _store_file(self, data: bytes, folder: str, suffix: str, mime_type: str) -> _StoredFile:
        with self._lock:
            number = next(self._ids)
            stored = _StoredFile(
                file_id=f"AgAC{uuid.uuid4().hex}{number}",
                file_unique_id=f"AQAD{number:08d}",
                file_path=f"{folder}/file_{number}{suffix}",
                data=data,
                mime_type=mime_type,
            )
            self._files[stored.file_id] = stored
            return stored

    def _file_content(self, token: str, path: str) -> bytes | None:
        if self.token is not None and token != self.token:
            return None
        with self._lock:
            for stored in self._files.values():
                if stored.file_path == path:
                    return stored.data
        return None

    def _recount(self, state: _Poll) -> None:
        counts = [0] * len(state.poll["options"])
        for option_ids in state.votes.values():
            for option in option_ids:
                if 0 <= option < len(counts):
                    counts[option] += 1
        for option, count in zip(state.poll["options"], counts, strict=True):
            option["voter_count"] = count
        state.poll["total_voter_count"] = sum(1 for ids in state.votes.values() if ids)
        stored = self._messages.get((state.chat_id, state.message_id))
        if stored is not None:
            stored["poll"] = copy.deepcopy(state.poll)

    def _notify_loop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_pollers)

    def _wake_pollers(self) -> None:  # on the server loop
        if self._updates_event is not None:
            self._updates_event.set()
            self._updates_event = asyncio.Event()

    # ---------------------------------------------------------------------------------------------
    # internals: request handling (on the server loop)
    # ---------------------------------------------------------------------------------------------

    async def _handle(self, token: str, method: str, request: tornado.httputil.HTTPServerRequest) -> _Outcome:
        arrived, arrived_mono = time.time(), time.monotonic()
        if self.token is not None and token != self.token:
            return _Outcome(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        entry = self._methods.get(method.lower())
        call = RecordedCall(
            method=entry[0] if entry else method,
            params={},
            time=arrived,
            monotonic=arrived_mono,
            content_type=request.headers.get("Content-Type", ""),
        )
        outcome = await self._process(call, entry, request)
        with self._cond:
            call.status = 0 if outcome.drop else outcome.status
            call.response = None if outcome.drop else outcome.payload
            if not call.recorded:
                call.recorded = True
                self._calls.append(call)
            self._cond.notify_all()
        return outcome

    async def _process(
        self,
        call: RecordedCall,
        entry: tuple[str, Callable[[JSONDict, dict[str, UploadedFile]], Any]] | None,
        request: tornado.httputil.HTTPServerRequest,
    ) -> _Outcome:
        try:
            call.params, call.files = _parse_request(request)
            with self._cond:  # record now, so a slow long poll does not hide a later call's order
                call.recorded = True
                self._calls.append(call)
                self._cond.notify_all()
            fault = self._take_fault(call)
            drop_after = False
            if fault is not None:
                if fault.kind == "delay":
                    await asyncio.sleep(fault.delay)
                elif fault.kind == "drop":
                    return _Outcome(0, {}, drop=True)
                elif fault.kind == "drop_after":
                    drop_after = True
                else:
                    raise ApiError(fault.status, fault.description, fault.parameters)
            if entry is None:
                raise ApiError(404, "Not Found: method not found")
            if call.method == "getUpdates":
                result = await self._get_updates(call.params)
            else:
                with self._lock:
                    self._check_chat_allowed(call)
                    result = entry[1](call.params, call.files)
            return _Outcome(200, {"ok": True, "result": result}, drop=drop_after)
        except ApiError as err:
            return _Outcome(err.status, err.payload())
        except Exception as exc:  # a bug in the fake: say so loudly
            log.exception("fake Telegram server failed on %s", call.method)
            with self._lock:
                self._errors.append(f"{call.method}: {exc!r}")
            return _Outcome(500, {"ok": False, "error_code": 500, "description": f"Internal Server Error: {exc!r}"})

    def _take_fault(self, call: RecordedCall) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(call.method, call.chat_id):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _check_chat_allowed(self, call: RecordedCall) -> None:
        if call.method not in SEND_METHODS and call.method not in ("sendChatAction",):
            return
        chat_id = call.chat_id
        if chat_id is None:
            raise _bad_request("chat_id is empty")
        if chat_id in self._blocked:
            chat = self._chat(chat_id)
            if chat["type"] == "private":
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            kind = "supergroup" if chat["type"] == "supergroup" else "group"
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if call.method in SEND_METHODS:
            self._check_rate(call, chat_id)

    def _check_rate(self, call: RecordedCall, chat_id: ChatId) -> None:
        limits = self._rate_limits
        if limits.per_chat_per_second is None and limits.overall_per_second is None and limits.group_per_minute is None:
            return
        now = call.monotonic
        earlier = [c for c in self._calls if c is not call and c.method in SEND_METHODS and c.status != 429]

        def count(window: float, chat: ChatId | None) -> int:
            return sum(1 for c in earlier if now - c.monotonic < window and (chat is None or c.chat_id == chat))

        too_many = (
            (limits.per_chat_per_second is not None and count(1.0, chat_id) >= limits.per_chat_per_second)
            or (limits.overall_per_second is not None and count(1.0, None) >= limits.overall_per_second)
            or (
                limits.group_per_minute is not None
                and isinstance(chat_id, int)
                and chat_id < 0
                and count(60.0, chat_id) >= limits.group_per_minute
            )
        )
        if too_many:
            raise ApiError(
                429,
                f"Too Many Requests: retry after {limits.retry_after}",
                {"retry_after": limits.retry_after},
            )

    # getUpdates -----------------------------------------------------------------------------------

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        with self._lock:
            if self._webhook.get("url"):
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                    "delete the webhook first",
                )
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        limit = min(max(limit, 1), 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        with self._lock:
            if allowed is not None:
                self._allowed_updates = list(allowed) if allowed else None
            self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older long poll of another instance ends with 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._active_polls += 1
        try:
            while True:
                with self._lock:
                    result = self._collect(offset, limit)
                if result or self._stopping:
                    return result
                event = self._updates_event
                remaining = deadline - loop.time()
                if remaining <= 0 or event is None:
                    return []
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    return []
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only one bot "
                        "instance is running",
                    )
        finally:
            self._active_polls -= 1

    def _confirm(self, offset: Any) -> None:
        if offset is None:
            return
        offset = int(offset)
        if offset < 0:
            keep = self._queue[offset:]
            self._queue[:] = keep
            return
        self._queue[:] = [q for q in self._queue if q.update["update_id"] >= offset or q.redelivery]

    def _collect(self, offset: Any, limit: int) -> list[JSONDict]:
        allowed = set(self._allowed_updates) if self._allowed_updates else None
        kept: list[_QueuedUpdate] = []
        for queued in self._queue:
            kind = next((k for k in queued.update if k != "update_id"), "")
            wanted = kind in allowed if allowed is not None else kind not in DEFAULT_EXCLUDED_UPDATES
            if wanted:
                kept.append(queued)
        self._queue[:] = kept  # Telegram does not keep updates of types the bot did not ask for
        result: list[JSONDict] = []
        for queued in kept[:limit]:
            result.append(copy.deepcopy(queued.update))
            queued.redelivery = False  # delivered once: the next confirmation removes it
        return result

    # ---------------------------------------------------------------------------------------------
    # API methods (called with the lock held)
    # ---------------------------------------------------------------------------------------------

    def _true(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        return True

    def _get_me(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        me = dict(self.bot_user)
        me.update(
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
        return me

    def _set_webhook(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        if url and not url.startswith(("http://", "https://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if params.get("drop_pending_updates"):
            self._queue.clear()
        self._webhook = {
            "url": url,
            "secret_token": str(secret) if secret is not None else None,
            "allowed_updates": params.get("allowed_updates"),
            "max_connections": params.get("max_connections", 40),
            "has_custom_certificate": "certificate" in files,
        }
        return True

    def _delete_webhook(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        if params.get("drop_pending_updates"):
            self._queue.clear()
        self._webhook = {"url": ""}
        return True

    def _get_webhook_info(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        info: JSONDict = {
            "url": self._webhook.get("url", ""),
            "has_custom_certificate": bool(self._webhook.get("has_custom_certificate")),
            "pending_update_count": len(self._queue),
        }
        if info["url"]:
            info["max_connections"] = self._webhook.get("max_connections", 40)
            if self._webhook.get("allowed_updates"):
                info["allowed_updates"] = self._webhook["allowed_updates"]
        return info

    @staticmethod
    def _commands_key(params: JSONDict) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request('parameter "commands" is required')
        if len(commands) > 100:
            raise _bad_request("too many commands")
        for command in commands:
            if not isinstance(command, dict) or not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> list[JSONDict]:
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    # messages -------------------------------------------------------------------------------------

    def _render(self, text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSONDict]]:
        if parse_mode is None or parse_mode == "":
            return text, list(entities) if isinstance(entities, list) else []
        mode = str(parse_mode).lower()
        if mode == "html":
            try:
                return parse_html(text)
            except HtmlParseError as err:
                raise _bad_request(f"can't parse entities: {err}") from None
        if mode in ("markdown", "markdownv2"):
            return text, []  # not parsed by the fake
        raise _bad_request("unsupported parse_mode")

    def _render_text(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _bad_request("message text is empty")
        plain, entities = self._render(str(text), params.get("parse_mode"), params.get("entities"))
        if plain.strip() == "":
            raise _bad_request("message text is empty")
        if utf16_len(plain) > MAX_TEXT_LENGTH:  # Telegram counts UTF-16 code units of the parsed text
            raise _bad_request("message is too long")
        return plain, entities

    def _render_caption(self, params: JSONDict) -> tuple[str | None, list[JSONDict]]:
        caption = params.get("caption")
        if caption is None or caption == "":
            return None, []
        plain, entities = self._render(str(caption), params.get("parse_mode"), params.get("caption_entities"))
        if utf16_len(plain) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        return plain, entities

    def _check_markup(self, markup: Any) -> JSONDict | None:
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad_request("can't parse inline keyboard button: InlineKeyboardMarkup must be an Array")
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not str(button.get("text", "")):
                        raise _bad_request("can't parse inline keyboard button: Text must be non-empty")
                    if "callback_data" in button:
                        data = str(button["callback_data"]).encode("utf-8")
                        if not 1 <= len(data) <= MAX_CALLBACK_DATA_BYTES:
                            raise _bad_request("BUTTON_DATA_INVALID")
                    elif "url" in button:
                        if not str(button["url"]):
                            raise _bad_request("BUTTON_URL_INVALID")
                    elif not any(
                        k in button
                        for k in (
                            "web_app",
                            "login_url",
                            "switch_inline_query",
                            "switch_inline_query_current_chat",
                            "switch_inline_query_chosen_chat",
                            "copy_text",
                            "callback_game",
                            "pay",
                        )
                    ):
                        raise _bad_request(
                            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                        )
        return markup

    def _base_message(self, params: JSONDict) -> tuple[ChatId, JSONDict]:
        chat = self._chat(params["chat_id"])
        chat_id: ChatId = chat["id"]
        message: JSONDict = {
            "message_id": 0,
            "from": dict(self.bot_user),
            "chat": chat,
            "date": int(time.time()),
        }
        reply_to: Any = None
        allow_without = bool(params.get("allow_sending_without_reply"))
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id")
            allow_without = bool(reply_parameters.get("allow_sending_without_reply", allow_without))
        elif params.get("reply_to_message_id") is not None:
            reply_to = params["reply_to_message_id"]
        if reply_to is not None:
            replied = self._messages.get((chat_id, int(reply_to)))
            if replied is None and not allow_without:
                raise _bad_request("message to be replied not found")
            if replied is not None:
                replied = copy.deepcopy(replied)
                replied.pop("reply_to_message", None)
                message["reply_to_message"] = replied
        return chat_id, message

    def _finish_send(
        self,
        method: str,
        params: JSONDict,
        chat_id: ChatId,
        message: JSONDict,
        markup: JSONDict | None,
        text: str | None,
        plain: str | None,
    ) -> JSONDict:
        message["message_id"] = self._new_message_id(chat_id)
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = copy.deepcopy(markup)  # Telegram echoes inline keyboards only
        self._messages[(chat_id, message["message_id"])] = copy.deepcopy(message)
        self._sent.append(
            {
                "method": method,
                "chat_id": chat_id,
                "message_id": message["message_id"],
                "text": text,
                "plain_text": plain,
                "caption": params.get("caption"),
                "parse_mode": params.get("parse_mode"),
                "reply_markup": copy.deepcopy(markup),
                "poll": copy.deepcopy(message.get("poll")),
                "message": copy.deepcopy(message),
                "params": copy.deepcopy(params),
                "time": time.time(),
            }
        )
        return message

    def _send_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id, message = self._base_message(params)
        plain, entities = self._render_text(params)
        markup = self._check_markup(params.get("reply_markup"))
        message["text"] = plain
        if entities:
            message["entities"] = entities
        if isinstance(params.get("link_preview_options"), dict):
            message["link_preview_options"] = params["link_preview_options"]
        return self._finish_send("sendMessage", params, chat_id, message, markup, str(params["text"]), plain)

    def _file_param(self, name: str, params: JSONDict, files: dict[str, UploadedFile]) -> _StoredFile:
        upload = files.get(name)
        value = params.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        if upload is not None:
            folder = {"photo": "photos", "document": "documents"}.get(name, name)
            suffix = "." + upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else ""
            stored = self._store_file(upload.data, folder, suffix, upload.content_type or "application/octet-stream")
            return stored
        if not isinstance(value, str) or not value:
            raise _bad_request(f"there is no {name} in the request")
        if value in self._files:
            return self._files[value]
        if value.startswith(("http://", "https://")):
            return self._store_file(b"", name, "", "application/octet-stream")
        raise _bad_request("wrong file identifier/HTTP URL specified")

    def _send_photo(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id, message = self._base_message(params)
        stored = self._file_param("photo", params, files)
        caption, entities = self._render_caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        message["photo"] = [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": 90,
                "height": 90,
                "file_size": len(stored.data),
            },
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": 800,
                "height": 800,
                "file_size": len(stored.data),
            },
        ]
        if caption is not None:
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        return self._finish_send("sendPhoto", params, chat_id, message, markup, params.get("caption"), caption)

    def _send_document(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id, message = self._base_message(params)
        upload = files.get("document")
        stored = self._file_param("document", params, files)
        caption, entities = self._render_caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        document: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "mime_type": stored.mime_type,
        }
        if upload is not None and upload.filename:
            document["file_name"] = upload.filename
        message["document"] = document
        if caption is not None:
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        return self._finish_send("sendDocument", params, chat_id, message, markup, params.get("caption"), caption)

    def _send_poll(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id, message = self._base_message(params)
        question = str(params.get("question") or "")
        if not question.strip():
            raise _bad_request("poll question must be non-empty")
        if utf16_len(question) > 300:
            raise _bad_request("poll question length must not exceed 300")
        raw_options = params.get("options")
        if not isinstance(raw_options, list):
            raise _bad_request("can't parse options JSON object")
        texts: list[str] = []
        for option in raw_options:
            text = option.get("text") if isinstance(option, dict) else option
            if not isinstance(text, str) or not text.strip():
                raise _bad_request("poll options must be non-empty")
            if utf16_len(text) > 100:
                raise _bad_request("poll options length must not exceed 100")
            texts.append(text)
        low, high = self.poll_option_limits
        if len(texts) < low:
            raise _bad_request(f"poll must have at least {low} option{'s' if low != 1 else ''}")
        if len(texts) > high:
            raise _bad_request(f"poll can't have more than {high} options")
        poll_type = str(params.get("type") or "regular")
        if poll_type not in ("regular", "quiz"):
            raise _bad_request("wrong poll type specified")
        markup = self._check_markup(params.get("reply_markup"))
        poll_id = str(5_000_000_000_000_000_000 + next(self._ids))
        poll: JSONDict = {
            "id": poll_id,
            "question": question,
            "options": [{"text": t, "voter_count": 0, "persistent_id": str(i)} for i, t in enumerate(texts)],
            "total_voter_count": 0,
            "is_closed": bool(params.get("is_closed", False)),
            "is_anonymous": bool(params.get("is_anonymous", True)),
            "type": poll_type,
            "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
            "allows_revoting": bool(params.get("allows_revoting", True)),
            "members_only": False,
        }
        correct = params.get("correct_option_ids")
        if correct is None and params.get("correct_option_id") is not None:
            correct = [params["correct_option_id"]]
        if poll_type == "quiz":
            if not correct:
                raise _bad_request("quiz poll must have a correct option")
            poll["correct_option_ids"] = list(correct)
        if params.get("open_period") is not None:
            poll["open_period"] = params["open_period"]
        if params.get("close_date") is not None:
            poll["close_date"] = params["close_date"]
        message["poll"] = poll
        result = self._finish_send("sendPoll", params, chat_id, message, markup, question, question)
        self._polls[poll_id] = _Poll(poll=copy.deepcopy(poll), chat_id=chat_id, message_id=result["message_id"])
        return result

    def _stop_poll(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id = self._chat(params.get("chat_id", 0))["id"]
        message = self._messages.get((chat_id, int(params.get("message_id") or 0)))
        if message is None or "poll" not in message:
            raise _bad_request("message with poll to stop not found")
        state = self._polls.get(message["poll"]["id"])
        if state is None:
            raise _bad_request("message with poll to stop not found")
        if state.poll["is_closed"]:
            raise _bad_request("poll has already been closed")
        markup = self._check_markup(params.get("reply_markup"))
        state.poll["is_closed"] = True
        message["poll"] = copy.deepcopy(state.poll)
        if markup is not None:
            message["reply_markup"] = copy.deepcopy(markup)
        else:
            message.pop("reply_markup", None)
        return copy.deepcopy(state.poll)

    def _editable(self, params: JSONDict) -> tuple[ChatId, JSONDict]:
        if params.get("inline_message_id"):
            raise _bad_request("inline messages are not supported by the fake")
        if params.get("chat_id") is None:
            raise _bad_request("chat_id is empty")
        if params.get("message_id") is None:
            raise _bad_request("message identifier is not specified")
        chat_id = self._chat(params["chat_id"])["id"]
        message = self._messages.get((chat_id, int(params["message_id"])))
        if message is None:
            raise _bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad_request("message can't be edited")
        return chat_id, message

    @staticmethod
    def _not_modified() -> ApiError:
        return _bad_request(
            "message is not modified: specified new message content and reply markup are exactly the same as a "
            "current content and reply markup of the message"
        )

    def _edit_message_text(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        _chat_id, message = self._editable(params)
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        plain, entities = self._render_text(params)
        markup = self._check_markup(params.get("reply_markup"))
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        if (
            plain == message.get("text")
            and entities == message.get("entities", [])
            and new_markup == message.get("reply_markup")
        ):
            raise self._not_modified()
        message["text"] = plain
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        self._apply_markup(message, new_markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _edit_message_caption(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        _chat_id, message = self._editable(params)
        caption, entities = self._render_caption(params)
        markup = self._check_markup(params.get("reply_markup"))
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        if caption == message.get("caption") and new_markup == message.get("reply_markup"):
            raise self._not_modified()
        message.pop("caption", None)
        message.pop("caption_entities", None)
        if caption is not None:
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        self._apply_markup(message, new_markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _edit_message_reply_markup(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        _chat_id, message = self._editable(params)
        markup = self._check_markup(params.get("reply_markup"))
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        if new_markup == message.get("reply_markup"):
            raise self._not_modified()
        self._apply_markup(message, new_markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    @staticmethod
    def _apply_markup(message: JSONDict, markup: JSONDict | None) -> None:
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = copy.deepcopy(markup)

    def _delete_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._chat(params.get("chat_id", 0))["id"]
        key = (chat_id, int(params.get("message_id") or 0))
        if key not in self._messages:
            raise _bad_request("message to delete not found")
        del self._messages[key]
        return True

    def _answer_callback_query(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._callback_ids:
            raise _bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        self._callback_ids[query_id] = True
        return True

    def _send_chat_action(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        self._chat(params["chat_id"])
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _get_chat(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        if params.get("chat_id") is None:
            raise _bad_request("chat_id is empty")
        chat = self._chat(params["chat_id"])
        chat.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return chat

    def _source_message(self, params: JSONDict, what: str) -> JSONDict:
        if params.get("from_chat_id") is None:
            raise _bad_request("from_chat_id is empty")
        from_chat = self._chat(params["from_chat_id"])["id"]
        source = self._messages.get((from_chat, int(params.get("message_id") or 0)))
        if source is None:
            raise _bad_request(f"message to {what} not found")
        return source

    _CONTENT_KEYS = (
        "text",
        "entities",
        "caption",
        "caption_entities",
        "photo",
        "document",
        "voice",
        "sticker",
        "location",
        "poll",
        "link_preview_options",
    )

    def _copy_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        source = self._source_message(params, "copy")
        chat_id, message = self._base_message(params)
        for key in self._CONTENT_KEYS:
            if key in source:
                message[key] = copy.deepcopy(source[key])
        if "caption" in params:
            caption, entities = self._render_caption(params)
            message.pop("caption_entities", None)
            if caption is None:
                message.pop("caption", None)
            else:
                message["caption"] = caption
                if entities:
                    message["caption_entities"] = entities
        markup = self._check_markup(params.get("reply_markup"))
        result = self._finish_send(
            "copyMessage",
            params,
            chat_id,
            message,
            markup,
            message.get("text") or message.get("caption"),
            message.get("text") or message.get("caption"),
        )
        return {"message_id": result["message_id"]}

    def _forward_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        source = self._source_message(params, "forward")
        chat_id, message = self._base_message(params)
        for key in self._CONTENT_KEYS:
            if key in source:
                message[key] = copy.deepcopy(source[key])
        sender = source.get("from") or dict(self.bot_user)
        message["forward_origin"] = {"type": "user", "sender_user": sender, "date": source["date"]}
        text = message.get("text") or message.get("caption")
        return self._finish_send("forwardMessage", params, chat_id, message, None, text, text)

    def _get_file(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }


def _max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# --------------------------------------------------------------------------------------------------
# module helpers
# --------------------------------------------------------------------------------------------------


_SSL_CONTEXT: ssl.SSLContext | None = None


def fast_request(**kwargs: Any) -> telegram.request.HTTPXRequest:
    """A PTB ``HTTPXRequest`` for talking to the fake: plain HTTP on loopback.

    PTB's default client loads the CA bundle for every ``httpx`` client (~0.2 s each, two per Bot);
    this one shares an SSL context without certificates (never used over plain HTTP) and ignores
    proxy environment variables (``trust_env=False``), so loopback never goes through a proxy.
    kwargs go to ``HTTPXRequest``.
    """
    from telegram.request import HTTPXRequest

    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    httpx_kwargs = dict(kwargs.pop("httpx_kwargs", None) or {})
    httpx_kwargs.setdefault("verify", _SSL_CONTEXT)
    httpx_kwargs.setdefault("trust_env", False)
    return HTTPXRequest(httpx_kwargs=httpx_kwargs, **kwargs)


def start_fake_telegram(
    token: str | None = DEFAULT_TOKEN,
    *,
    bot_first_name: str = "Wijkbot",
    bot_username: str = "wijkbot_test_bot",
    strict_chats: bool = False,
    poll_option_limits: tuple[int, int] = (2, 10),
    first_update_id: int = 1,
) -> FakeTelegramServer:
    """Create and start a fake on 127.0.0.1 and a free port (for a fixture: ``with ... as tg: yield tg``).

    ``first_update_id``: where update ids start; tests that share one database across fakes give each fake
    its own range, as one real bot's update ids never repeat.
    """
    return FakeTelegramServer(
        token,
        first_update_id=first_update_id,
        bot_first_name=bot_first_name,
        bot_username=bot_username,
        strict_chats=strict_chats,
        poll_option_limits=poll_option_limits,
    ).start()


def _webhook_request(update: Mapping[str, Any], secret_token: str | None) -> tuple[bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if secret_token is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
    return json.dumps(dict(update), ensure_ascii=False).encode("utf-8"), headers


def post_update(
    url: str, update: Mapping[str, Any], *, secret_token: str | None = None, timeout: float = 5.0
) -> httpx.Response:
    """POST an update to a webhook URL as Telegram does (JSON; secret in X-Telegram-Bot-Api-Secret-Token)."""
    body, headers = _webhook_request(update, secret_token)
    with httpx.Client(trust_env=False, timeout=timeout) as client:
        return client.post(url, content=body, headers=headers)


async def post_update_async(
    url: str, update: Mapping[str, Any], *, secret_token: str | None = None, timeout: float = 5.0
) -> httpx.Response:
    """:func:`post_update` for async tests."""
    body, headers = _webhook_request(update, secret_token)
    async with httpx.AsyncClient(trust_env=False, timeout=timeout) as client:
        return await client.post(url, content=body, headers=headers)


__all__ = [
    "DEFAULT_TOKEN",
    "SEND_METHODS",
    "ApiError",
    "FakeTelegramServer",
    "HtmlParseError",
    "RecordedCall",
    "UploadedFile",
    "fast_request",
    "normalize_params",
    "parse_html",
    "post_update",
    "post_update_async",
    "start_fake_telegram",
    "utf16_len",
]
