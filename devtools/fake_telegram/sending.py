"""What every send and edit shares: rendering text and captions, checking keyboards, replies and recording."""

from __future__ import annotations

import copy
import time
from typing import Any

from .html import HtmlParseError, parse_html, utf16_len
from .records import (
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    ApiError,
    ChatId,
    JSONDict,
    bad_request,
)
from .state import FakeState


class Sending(FakeState):
    """Helpers for the methods that send or edit a message (messages, polls, files)."""

    def _render(self, text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSONDict]]:
        if parse_mode is None or parse_mode == "":
            return text, list(entities) if isinstance(entities, list) else []
        mode = str(parse_mode).lower()
        if mode == "html":
            try:
                return parse_html(text)
            except HtmlParseError as err:
                raise bad_request(f"can't parse entities: {err}") from None
        if mode in ("markdown", "markdownv2"):
            return text, []  # not parsed by the fake
        raise bad_request("unsupported parse_mode")

    def _render_text(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise bad_request("message text is empty")
        plain, entities = self._render(str(text), params.get("parse_mode"), params.get("entities"))
        if plain.strip() == "":
            raise bad_request("message text is empty")
        if utf16_len(plain) > MAX_TEXT_LENGTH:  # Telegram counts UTF-16 code units of the parsed text
            raise bad_request("message is too long")
        return plain, entities

    def _render_caption(self, params: JSONDict) -> tuple[str | None, list[JSONDict]]:
        caption = params.get("caption")
        if caption is None or caption == "":
            return None, []
        plain, entities = self._render(str(caption), params.get("parse_mode"), params.get("caption_entities"))
        if utf16_len(plain) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        return plain, entities

    def _check_markup(self, markup: Any) -> JSONDict | None:
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardMarkup must be an Array")
            for row in rows:
                for button in row:
                    _check_button(button)
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
        allow_without = False
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id")
            allow_without = bool(reply_parameters.get("allow_sending_without_reply", False))
        if reply_to is not None:
            replied = self._messages.get((chat_id, int(reply_to)))
            if replied is None and not allow_without:
                raise bad_request("message to be replied not found")
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

    def _editable(self, params: JSONDict) -> tuple[ChatId, JSONDict]:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not supported by the fake")
        if params.get("chat_id") is None:
            raise bad_request("chat_id is empty")
        if params.get("message_id") is None:
            raise bad_request("message identifier is not specified")
        chat_id = self._chat(params["chat_id"])["id"]
        message = self._messages.get((chat_id, int(params["message_id"])))
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise bad_request("message can't be edited")
        return chat_id, message

    @staticmethod
    def _not_modified() -> ApiError:
        return bad_request(
            "message is not modified: specified new message content and reply markup are exactly the same as a "
            "current content and reply markup of the message"
        )

    @staticmethod
    def _apply_markup(message: JSONDict, markup: JSONDict | None) -> None:
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = copy.deepcopy(markup)


_OTHER_BUTTON_KINDS = (
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _check_button(button: Any) -> None:
    """An inline keyboard button as Telegram checks it: text, and callback data of 1-64 bytes or another kind."""
    if not isinstance(button, dict) or not str(button.get("text", "")):
        raise bad_request("can't parse inline keyboard button: Text must be non-empty")
    if "callback_data" in button:
        data = str(button["callback_data"]).encode("utf-8")
        if not 1 <= len(data) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    elif "url" in button:
        if not str(button["url"]):
            raise bad_request("BUTTON_URL_INVALID")
    elif not any(kind in button for kind in _OTHER_BUTTON_KINDS):
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
