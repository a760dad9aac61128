"""What the tests read and steer: recorded calls and sent messages, waiting for them, injected faults and rate
limits."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable

from .records import SEND_METHODS, ApiError, ChatId, Fault, JSONDict, RateLimits, RecordedCall, bad_request
from .state import FakeState


class Recording(FakeState):
    """Recordings, waits, faults and rate limits."""

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
            self._rate_limits = RateLimits()
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

    async def wait_for_text_async(
        self, chat_id: ChatId, contains: str, *, since: int = 0, timeout: float = 5.0
    ) -> JSONDict:
        """Wait for a message to ``chat_id`` whose plain text contains ``contains``, among those sent after the
        first ``since``; return the first such. Other messages (notices the sender delivers meanwhile) may come
        before or after it: counting them would race."""

        def found() -> JSONDict | None:
            return next((m for m in self._sent_to(chat_id)[since:] if contains in (m.get("plain_text") or "")), None)

        await self.wait_for_async(
            lambda: found() is not None,
            timeout,
            f"expected a message to chat {chat_id} containing {contains!r} within {timeout} s; got "
            f"{[m.get('text') for m in self._sent_to(chat_id)[since:]]}; calls: {self._summary()}",
        )
        message = found()
        assert message is not None
        return message

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

    def send_times(self, chat_id: ChatId | None = None) -> list[float]:
        """``time.monotonic()`` of every attempted send (any outcome), optionally for one chat."""
        with self._lock:
            return [
                c.monotonic
                for c in self._calls
                if c.method in SEND_METHODS and (chat_id is None or c.chat_id == chat_id)
            ]

    def set_rate_limits(
        self,
        per_chat_per_second: int | None = None,
        overall_per_second: int | None = None,
        group_per_minute: int | None = None,
        retry_after: int = 1,
    ) -> None:
        """Answer 429 (with ``retry_after``) to sends beyond these limits; None switches one off."""
        with self._lock:
            self._rate_limits = RateLimits(per_chat_per_second, overall_per_second, group_per_minute, retry_after)

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
            self._faults.append(Fault(method.lower(), "error", times, status, description, parameters, chat_id=chat_id))

    def drop_next(
        self, method: str, times: int = 1, *, after_send: bool = False, chat_id: ChatId | None = None
    ) -> None:
        """Close the connection without answering the next ``times`` calls of ``method``.

        ``after_send=True``: the call takes effect (the message is sent and recorded) and only the
        answer is lost, the case where a sender cannot know whether Telegram delivered.
        """
        with self._lock:
            self._faults.append(Fault(method.lower(), "drop_after" if after_send else "drop", times, chat_id=chat_id))

    def delay_next(self, method: str, seconds: float, times: int = 1, *, chat_id: ChatId | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds`` (for client timeouts)."""
        with self._lock:
            self._faults.append(Fault(method.lower(), "delay", times, delay=seconds, chat_id=chat_id))

    def block_chat(self, chat_id: ChatId) -> None:
        """Sends to this chat answer 403 (blocked by the user / kicked from the group)."""
        with self._lock:
            self._blocked.add(chat_id)

    def _take_fault(self, call: RecordedCall) -> Fault | None:
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
            raise bad_request("chat_id is empty")
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
