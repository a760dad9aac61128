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
