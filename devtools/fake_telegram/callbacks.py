"""Inline buttons: a user's press (push_callback) and the bot's answerCallbackQuery."""

from __future__ import annotations

import copy
import time

from .records import MAX_CALLBACK_ANSWER_LENGTH, ChatId, JSONDict, UploadedFile, bad_request
from .state import FakeState


class Callbacks(FakeState):
    """Button presses and their answers."""

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
        user, target = self._from_user(user_id, chat_id, first_name, language_code)
        with self._lock:
            message = copy.deepcopy(self._messages.get((target, message_id)))
            if message is None:
                message = {
                    "message_id": message_id,
                    "from": dict(self.bot_user),
                    "chat": self._chat(target),
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

    def _answer_callback_query(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._callback_ids:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        self._callback_ids[query_id] = True
        return True
