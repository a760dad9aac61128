"""sendMessage and editMessageText."""

from __future__ import annotations

import copy
import time

from .records import JSONDict, UploadedFile, bad_request
from .sending import Sending


class Messages(Sending):
    """Text messages: sent and edited."""

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

    def _edit_message_text(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        _chat_id, message = self._editable(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
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
