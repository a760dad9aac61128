"""Updates for the bot: pushed by the tests as a user would send them, fetched by the bot with getUpdates (long
polling) or posted to its webhook; setWebhook and deleteWebhook."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from .html import utf16_len
from .records import (
    DEFAULT_EXCLUDED_UPDATES,
    ApiError,
    ChatId,
    JSONDict,
    QueuedUpdate,
    UploadedFile,
    bad_request,
    file_fields,
)
from .state import FakeState


class Updates(FakeState):
    """Pushing updates and serving getUpdates, setWebhook, deleteWebhook."""

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
        user, target = self._from_user(user_id, chat_id, first_name, language_code, username, last_name)
        return self._push_message(user, target, content, reply_to_message_id=reply_to_message_id)

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

    def push_voice(
        self, user_id: int, *, duration: int = 3, chat_id: ChatId | None = None, first_name: str = "Anna"
    ) -> JSONDict:
        stored = self._store_file(b"OggSfake-voice", "voice", ".oga", "audio/ogg")
        content = {"voice": {**file_fields(stored), "duration": duration, "mime_type": "audio/ogg"}}
        return self._push_message(*self._from_user(user_id, chat_id, first_name, "nl"), content)

    def push_sticker(
        self, user_id: int, *, emoji: str = "👍", chat_id: ChatId | None = None, first_name: str = "Anna"
    ) -> JSONDict:
        stored = self._store_file(b"RIFFfake-webp", "stickers", ".webp", "image/webp")
        content = {
            "sticker": {
                **file_fields(stored),
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
                "set_name": "FakeStickers",
            }
        }
        return self._push_message(*self._from_user(user_id, chat_id, first_name, "nl"), content)

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
        return self._push_message(*self._from_user(user_id, chat_id, first_name, "nl"), content)

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
        user, target = self._from_user(user_id, chat_id, first_name, language_code)
        now = int(time.time())
        with self._lock:
            original = self._messages.get((target, message_id))
            message: JSONDict = (
                copy.deepcopy(original)
                if original
                else {
                    "message_id": message_id,
                    "from": user,
                    "chat": self._chat(target),
                    "date": now - 60,
                }
            )
            message.pop("entities", None)
            message["text"] = text
            message["edit_date"] = now
            self._messages[(target, message_id)] = copy.deepcopy(message)
        return self.push_update({"edited_message": message})

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
        kept: list[QueuedUpdate] = []
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

    def _set_webhook(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if url and not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
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


def webhook_request(update: Mapping[str, Any], secret_token: str | None) -> tuple[bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if secret_token is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
    return json.dumps(dict(update), ensure_ascii=False).encode("utf-8"), headers


def post_update(
    url: str, update: Mapping[str, Any], *, secret_token: str | None = None, timeout: float = 5.0
) -> httpx.Response:
    """POST an update to a webhook URL as Telegram does (JSON; secret in X-Telegram-Bot-Api-Secret-Token)."""
    body, headers = webhook_request(update, secret_token)
    with httpx.Client(trust_env=False, timeout=timeout) as client:
        return client.post(url, content=body, headers=headers)


async def post_update_async(
    url: str, update: Mapping[str, Any], *, secret_token: str | None = None, timeout: float = 5.0
) -> httpx.Response:
    """:func:`post_update` for async tests."""
    body, headers = webhook_request(update, secret_token)
    async with httpx.AsyncClient(trust_env=False, timeout=timeout) as client:
        return await client.post(url, content=body, headers=headers)
