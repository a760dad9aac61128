"""The Rasa REST channel as seen from the bot: one shared async HTTP client, created in post_init."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from wijkbot.settings import Settings


class RasaUnavailable(RuntimeError):
    """Rasa could not be reached or did not answer in time; the message stays pending and is sent again."""


@dataclass(frozen=True)
class RasaReply:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


class RasaClient:
    """Sends one resident turn to Rasa's REST webhook and returns its replies. With a token (RASA_TOKEN, the
    server's --auth-token) every request carries it as `?token=`, as Rasa's HTTP API requires.

    Admission control: at most `max_in_flight` turns are at Rasa at once; the others wait here, first come
    first served (asyncio's semaphore wakes waiters in order), and their wait does not count against the
    timeout. Rasa then works on a few turns at full speed instead of on a pile of them that all time out.
    """

    def __init__(
        self, base_url: str, *, timeout: float = 15.0, token: str | None = None, max_in_flight: int = 8
    ) -> None:
        params = {"token": token} if token else None
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, params=params)
        self._slots = asyncio.Semaphore(max_in_flight)
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.peak_in_flight = 0  # the most turns at Rasa at once since start (for the bench and the tests)

    @classmethod
    def for_settings(cls, settings: Settings) -> RasaClient:
        """A client for RASA_URL with the run's timeout, token and admission limit."""
        token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
        return cls(
            settings.rasa_url,
            timeout=settings.rasa_timeout_seconds,
            token=token,
            max_in_flight=settings.rasa_max_in_flight,
        )

    async def turn(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaReply]:
        """One turn. An error or a timeout raises RasaUnavailable. An empty answer is an answer: Rasa handled
        the turn (and saved it) but had nothing to say, e.g. because an action failed; sending the turn again
        would make Rasa handle it a second time."""
        async with self._slots:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                response = await self._client.post(
                    "/webhooks/rest/webhook", json={"sender": sender, "message": text, "metadata": metadata}
                )
                response.raise_for_status()
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
            finally:
                self.in_flight -= 1
        replies = [parse_reply(entry) for entry in body if isinstance(entry, dict)] if isinstance(body, list) else []
        return [r for r in replies if r.text or r.buttons]

    async def answered_before(self, *, sender: str, update_id: int) -> list[RasaReply] | None:
        """What Rasa answered to this update when it handled it before (the bot had stopped waiting, and the
        turn was saved after all); None when Rasa's conversation has no turn with this update id. Raises
        RasaUnavailable when Rasa cannot be asked."""
        try:
            async with self._slots:
                response = await self._client.get(
                    f"/conversations/{sender}/tracker",
                    params={**self._client.params, "include_events": "AFTER_RESTART"},
                )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        events = body.get("events") if isinstance(body, dict) else None
        return replies_after_update(events if isinstance(events, list) else [], update_id)

    async def is_up(self) -> bool:
        try:
            response = await self._client.get("/status", timeout=3)
            return response.status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()


def parse_reply(entry: dict[str, Any]) -> RasaReply:
    buttons = [
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
        for b in entry.get("buttons") or []
        if isinstance(b, dict) and b.get("payload")
    ]
    return RasaReply(text=str(entry.get("text") or ""), buttons=buttons)


def replies_after_update(events: list[Any], update_id: int) -> list[RasaReply] | None:
    """The bot utterances that followed the user turn carrying this update id in its metadata, up to the
    next user turn; None when no user turn carries it."""
    start = None
    for index, event in enumerate(events):
        if isinstance(event, dict) and event.get("event") == "user":
            metadata = event.get("metadata")
            if isinstance(metadata, dict) and metadata.get("update_id") == update_id:
                start = index
    if start is None:
        return None
    replies: list[RasaReply] = []
    for event in events[start + 1 :]:
        if not isinstance(event, dict):
            continue
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            data = event.get("data")
            data = data if isinstance(data, dict) else {}
            reply = parse_reply({"text": event.get("text"), "buttons": data.get("buttons")})
            if reply.text or reply.buttons:
                replies.append(reply)
    return replies
