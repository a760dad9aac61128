"""What the fake Bot API records and answers: its constants, errors, recorded calls and small state records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSONDict = dict[str, Any]
ChatId = int | str

DEFAULT_TOKEN = "123456789:AAFakeTokenForWijkbotTests_0000000000"
"""A token with the shape of a real one; the number before the colon is the bot's user id."""

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
POLL_OPTION_LIMITS = (2, 10)
"""(min, max) number of poll options: the classic range, stricter than Bot API 9.6's 1..12."""

#: The methods the fake serves that send a message into a chat: they count for rate accounting and blocked
#: chats. A new message kind the bot sends (docs/howto.md, "Add a message kind") is served and listed here.
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendPoll"})

#: Update types a bot gets when it never chose (Telegram leaves these three out by default).
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


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


def bad_request(description: str) -> ApiError:
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
class Fault:
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
class QueuedUpdate:
    update: JSONDict
    redelivery: bool = False  # pushed again with an update_id that may already be confirmed


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str = "application/octet-stream"


@dataclass
class PollState:
    poll: JSONDict
    chat_id: ChatId
    message_id: int
    votes: dict[int, list[int]] = field(default_factory=dict)  # user id -> option ids


@dataclass
class RateLimits:
    per_chat_per_second: int | None = None
    overall_per_second: int | None = None
    group_per_minute: int | None = None
    retry_after: int = 1


@dataclass
class Outcome:
    status: int
    payload: JSONDict
    drop: bool = False


def file_fields(stored: StoredFile) -> JSONDict:
    """What every file object of the Bot API carries: its ids and size."""
    return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(stored.data)}
