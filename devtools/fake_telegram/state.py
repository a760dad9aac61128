"""The fake's state and what every area shares: users, chats, stored messages and files, the update queue."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from .records import (
    DEFAULT_TOKEN,
    ChatId,
    Fault,
    JSONDict,
    PollState,
    QueuedUpdate,
    RateLimits,
    RecordedCall,
    StoredFile,
    bad_request,
)


class FakeState:
    """The in-memory state behind the fake Bot API; the areas (messages, polls, callbacks, commands, files,
    updates, recording) are mixins over it, put together in `devtools.fake_telegram.server`.

    Thread-safe: the HTTP side runs on its own loop thread; every helper takes ``self._lock``.
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
    ) -> None:
        """Create (not start) the server.

        ``token``: the only token accepted (others get 401 Unauthorized); ``None`` accepts any. Any chat id is
        a chat (positive: private, negative: group).
        """
        self.token = token
        self.host = host
        self._requested_port = port
        self.port = 0
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
        self._faults: list[Fault] = []
        self._blocked: set[ChatId] = set()
        self._rate_limits = RateLimits()

        self._queue: list[QueuedUpdate] = []
        self._next_update = first_update_id
        self._last_update_id = first_update_id - 1
        self._allowed_updates: list[str] | None = None
        self._webhook: JSONDict = {"url": ""}

        self._users: dict[int, JSONDict] = {}
        self._chats: dict[ChatId, JSONDict] = {}
        self._messages: dict[tuple[ChatId, int], JSONDict] = {}
        self._next_message_id: dict[ChatId, int] = {}
        self._polls: dict[str, PollState] = {}
        self._callback_ids: dict[str, bool] = {}  # id -> answered
        self._files: dict[str, StoredFile] = {}
        self._ids = itertools.count(1)

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._updates_event: asyncio.Event | None = None
        self._poll_generation = 0
        self._active_polls = 0
        self._stopping = False

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
            self._queue.append(QueuedUpdate(upd, redelivery))
            self._cond.notify_all()
        self._notify_loop()
        return copy.deepcopy(upd)

    def _push_message(
        self, user: JSONDict, target: ChatId, content: JSONDict, *, reply_to_message_id: int | None = None
    ) -> JSONDict:
        """A message from `user` (see _from_user) in chat `target`, holding `content`, queued as an update."""
        with self._lock:
            if target not in self._chats:
                self._chats[target] = self._chat(target)
            message: JSONDict = {
                "message_id": self._new_message_id(target),
                "from": user,
                "chat": self._chat(target),
                "date": int(time.time()),
            }
            if reply_to_message_id is not None:
                replied = self._messages.get((target, reply_to_message_id))
                if replied is None:
                    replied = {
                        "message_id": reply_to_message_id,
                        "from": dict(self.bot_user),
                        "chat": self._chat(target),
                        "date": int(time.time()) - 60,
                        "text": "…",
                    }
                replied = copy.deepcopy(replied)
                replied.pop("reply_to_message", None)
                message["reply_to_message"] = replied
            message.update(copy.deepcopy(content))
            self._messages[(target, message["message_id"])] = copy.deepcopy(message)
        return self.push_update({"message": message})

    def _from_user(
        self,
        user_id: int,
        chat_id: ChatId | None,
        first_name: str,
        language_code: str,
        username: str | None = None,
        last_name: str | None = None,
    ) -> tuple[JSONDict, ChatId]:
        """The user (remembered) and the chat of their update: their private chat unless `chat_id`."""
        user = self._remember_user(user_id, first_name, language_code, username, last_name)
        return user, chat_id if chat_id is not None else user_id

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

    def _chat(self, chat_id: ChatId) -> JSONDict:
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if isinstance(chat_id, str):
            for chat in self._chats.values():
                if chat.get("username") and f"@{chat['username']}".lower() == chat_id.lower():
                    return dict(chat)
            raise bad_request("chat not found")
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

    def _store_file(self, data: bytes, folder: str, suffix: str, mime_type: str) -> StoredFile:
        with self._lock:
            number = next(self._ids)
            stored = StoredFile(
                file_id=f"AgAC{uuid.uuid4().hex}{number}",
                file_unique_id=f"AQAD{number:08d}",
                file_path=f"{folder}/file_{number}{suffix}",
                data=data,
                mime_type=mime_type,
            )
            self._files[stored.file_id] = stored
            return stored

    def _notify_loop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_pollers)

    def _wake_pollers(self) -> None:  # on the server loop
        if self._updates_event is not None:
            self._updates_event.set()
            self._updates_event = asyncio.Event()
