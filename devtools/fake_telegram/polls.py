"""sendPoll, stopPoll and the votes users cast (push_poll_answer)."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from .html import utf16_len
from .records import POLL_OPTION_LIMITS, JSONDict, PollState, UploadedFile, bad_request
from .sending import Sending


class Polls(Sending):
    """Polls: sent, stopped, voted in."""

    def _send_poll(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id, message = self._base_message(params)
        question = _question(params)
        texts = _option_texts(params)
        poll_type = str(params.get("type") or "regular")
        if poll_type not in ("regular", "quiz"):
            raise bad_request("wrong poll type specified")
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
        if poll_type == "quiz":
            if not params.get("correct_option_ids"):
                raise bad_request("quiz poll must have a correct option")
            poll["correct_option_ids"] = list(params["correct_option_ids"])
        poll.update({key: params[key] for key in ("open_period", "close_date") if params.get(key) is not None})
        message["poll"] = poll
        result = self._finish_send("sendPoll", params, chat_id, message, markup, question, question)
        self._polls[poll_id] = PollState(poll=copy.deepcopy(poll), chat_id=chat_id, message_id=result["message_id"])
        return result

    def _stop_poll(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id = self._chat(params.get("chat_id", 0))["id"]
        message = self._messages.get((chat_id, int(params.get("message_id") or 0)))
        if message is None or "poll" not in message:
            raise bad_request("message with poll to stop not found")
        state = self._polls.get(message["poll"]["id"])
        if state is None:
            raise bad_request("message with poll to stop not found")
        if state.poll["is_closed"]:
            raise bad_request("poll has already been closed")
        markup = self._check_markup(params.get("reply_markup"))
        state.poll["is_closed"] = True
        message["poll"] = copy.deepcopy(state.poll)
        if markup is not None:
            message["reply_markup"] = copy.deepcopy(markup)
        else:
            message.pop("reply_markup", None)
        return copy.deepcopy(state.poll)

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

    def _recount(self, state: PollState) -> None:
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


def _question(params: JSONDict) -> str:
    question = str(params.get("question") or "")
    if not question.strip():
        raise bad_request("poll question must be non-empty")
    if utf16_len(question) > 300:
        raise bad_request("poll question length must not exceed 300")
    return question


def _option_texts(params: JSONDict) -> list[str]:
    raw_options = params.get("options")
    if not isinstance(raw_options, list):
        raise bad_request("can't parse options JSON object")
    texts: list[str] = []
    for option in raw_options:
        text = option.get("text") if isinstance(option, dict) else option
        if not isinstance(text, str) or not text.strip():
            raise bad_request("poll options must be non-empty")
        if utf16_len(text) > 100:
            raise bad_request("poll options length must not exceed 100")
        texts.append(text)
    low, high = POLL_OPTION_LIMITS
    if len(texts) < low:
        raise bad_request(f"poll must have at least {low} option{'s' if low != 1 else ''}")
    if len(texts) > high:
        raise bad_request(f"poll can't have more than {high} options")
    return texts
