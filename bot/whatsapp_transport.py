"""Turning outbox rows into Cloud API calls, and Meta's errors into the sender's kinds (docs/whatsapp.md).

Inside the resident's 24-hour window a row goes out as `wijkbot.whatsapp.render` gives it (several messages in
order: the Delivery carries the last one's wamid); outside it as the template `template_for` gives, or it waits
(`Deferred`) until the resident writes again. Files are uploaded to /media first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from bot.sender import Blocked, Deferred, Outgoing, Rejected, RetryLater, Transient, Uncertain
from wijkbot.channels import WAITS_FOR_WINDOW, Recipient
from wijkbot.payloads import Delivery, Payload, Poll, StopPoll
from wijkbot.settings import Settings
from wijkbot.whatsapp import POLL_KINDS, Unrenderable, media_file, render, template_for

# httpx errors raised before any byte of the request left: Meta cannot have seen it
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
DEFAULT_RETRY_AFTER = 1.0  # Meta gives no Retry-After for its throughput limits: one second, then again
PAIR_LIMIT_PAUSE = 6.0  # Meta's pair rate limit: about one message every 6 seconds to one resident
WINDOW_CLOSED_PAUSE = 3600.0  # a message without a template waits this long for the resident to write

RETRY_CODES = frozenset({4, 80007, 130429})
PAIR_LIMIT_CODE = 131056
WINDOW_CODE = 131047
BLOCKED_CODES = frozenset({131026, 131021, 133010})
REJECTED_CODES = frozenset({100, 131008, 131009, 131051, 135000})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})
TOKEN_CODE = 190


RecipientLookup = Callable[[int], Awaitable[Recipient | None]]


def make_client(settings: Settings, **kwargs: Any) -> httpx.AsyncClient:
    """The client for WHATSAPP_BASE_URL with WHATSAPP_TOKEN as bearer token (kwargs go to httpx)."""
    if settings.whatsapp_token is None:
        raise ValueError("WHATSAPP_TOKEN is not set")
    headers = {"Authorization": f"Bearer {settings.whatsapp_token.get_secret_value()}"}
    kwargs.setdefault("timeout", httpx.Timeout(20.0, connect=5.0))
    return httpx.AsyncClient(base_url=settings.whatsapp_base_url.rstrip("/") + "/", headers=headers, **kwargs)


def parse_retry_after(headers: Mapping[str, str]) -> float:
    """Seconds from a Retry-After header (seconds only); DEFAULT_RETRY_AFTER when Meta gives none."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return seconds if 0 < seconds <= 3600 else DEFAULT_RETRY_AFTER


def classify(status: int, code: int | None, message: str, headers: Mapping[str, str]) -> Exception:
    """The sender's exception for Meta's error answer (HTTP status, error code)."""
    text = f"WhatsApp {status} ({code}): {message}"
    if code == TOKEN_CODE or status == 401:
        return Rejected(f"{text}: WHATSAPP_TOKEN is wrong or has expired")
    if code == PAIR_LIMIT_CODE:
        return Deferred(PAIR_LIMIT_PAUSE, f"{text}: too many messages to this resident in a short time", hold_chat=True)
    if status == 429 or code in RETRY_CODES:
        return RetryLater(parse_retry_after(headers))
    if code == WINDOW_CODE:
        return Deferred(WINDOW_CLOSED_PAUSE, f"{text}: {WAITS_FOR_WINDOW}")
    if code in BLOCKED_CODES:
        return Blocked(text)
    if code in TRANSIENT_CODES or status >= 500:
        return Transient(text)
    if code is not None and (code in REJECTED_CODES or 132000 <= code < 133000):
        return Rejected(text)
    return Rejected(text) if 400 <= status < 500 else Transient(text)


def _introduces_poll(payload: Payload) -> bool:
    outreach = getattr(payload, "outreach", None)
    return not isinstance(payload, Poll) and outreach is not None and outreach.kind in POLL_KINDS


class WhatsAppTransport:
    """Sends outbox rows through the Cloud API, for chats the lookup knows as WhatsApp chats."""

    def __init__(
        self, client: httpx.AsyncClient, recipient: RecipientLookup, settings: Settings, *, phone_number_id: str = ""
    ) -> None:
        self.client = client
        self.recipient = recipient
        self.settings = settings
        self.phone_number_id = phone_number_id or settings.whatsapp_phone_number_id
        if not self.phone_number_id:
            raise ValueError("WHATSAPP_PHONE_NUMBER_ID is not set")

    async def send(self, message: Outgoing) -> Delivery:
        payload = message.payload
        if isinstance(payload, StopPoll):  # a WhatsApp "poll" is a message with buttons: nothing to close
            return Delivery(message.id)
        recipient = await self.recipient(message.chat_id)
        if recipient is None:
            raise Rejected(f"chat {message.chat_id} is not a WhatsApp chat")
        poll_id = f"wa{message.id}" if isinstance(payload, Poll) else None
        if recipient.window_open:
            objects = await self._in_window(message, poll_id)
        elif _introduces_poll(payload) and self.settings.whatsapp_template_poll:
            # the poll's own row goes out as the poll template, with the question: one template, not two
            return Delivery(message.id)
        else:
            template = template_for(payload, self.settings, poll_id=poll_id)
            if template is None:
                raise Deferred(WINDOW_CLOSED_PAUSE, f"{message.method} has no template: {WAITS_FOR_WINDOW}")
            objects = [template]
        wamid: str | None = None
        for part, item in enumerate(objects):
            try:
                wamid = await self._post_message(recipient.wa_id, item)
            except (Transient, RetryLater, Deferred, Rejected, Blocked) as exc:
                if part == 0:
                    raise
                # the first parts went out: sending the row again would repeat them
                raise Uncertain(f"part {part + 1} of {len(objects)} was not sent: {exc}") from exc
        return Delivery(message.id, poll_id=poll_id, channel_message_id=wamid)

    async def _in_window(self, message: Outgoing, poll_id: str | None) -> list[dict[str, Any]]:
        upload = media_file(message.payload)
        media_id = await self._upload(upload.data, upload.filename, upload.mime_type) if upload else None
        try:
            return render(message.payload, row_id=message.id, poll_id=poll_id, media_id=media_id)
        except Unrenderable as exc:
            raise Rejected(str(exc)) from exc

    async def _post_message(self, wa_id: str, item: dict[str, Any]) -> str:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id, **item}
        try:
            response = await self.client.post(f"{self.phone_number_id}/messages", json=body)
        except NOT_SENT as exc:
            raise Transient(f"WhatsApp not reached: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise Uncertain(f"WhatsApp's answer was lost: {exc!r}") from exc
        answer = self._answer(response)
        try:
            return str(answer["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise Uncertain(f"WhatsApp answered {response.status_code} without a message id") from exc

    async def _upload(self, data: bytes, filename: str, mime_type: str) -> str:
        """Upload a file to /media (nothing is sent to the resident yet: any network error is Transient)."""
        try:
            response = await self.client.post(
                f"{self.phone_number_id}/media",
                data={"messaging_product": "whatsapp", "type": mime_type},
                files={"file": (filename, data, mime_type)},
            )
        except httpx.HTTPError as exc:
            raise Transient(f"WhatsApp media upload failed: {exc!r}") from exc
        answer = self._answer(response)
        if not isinstance(answer.get("id"), str):
            raise Transient(f"WhatsApp answered {response.status_code} to an upload without a media id")
        return str(answer["id"])

    @staticmethod
    def _answer(response: httpx.Response) -> dict[str, Any]:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code == 200 and isinstance(answer, dict):
            return answer
        error = answer.get("error") if isinstance(answer, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        text = str(error.get("message", "")) if isinstance(error, dict) else response.text[:200]
        raise classify(response.status_code, code if isinstance(code, int) else None, text, response.headers)
