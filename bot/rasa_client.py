"""The Rasa REST channel as seen from the bot: one shared async HTTP client, created in post_init."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from wijkbot.settings import Settings


class RasaUnavailable(RuntimeError):
    """Rasa or its action server could not answer this turn; the message stays pending."""


@dataclass(frozen=True)
class RasaReply:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


class RasaClient:
    """Sends one resident turn to Rasa's REST webhook and returns its replies. With a token (RASA_TOKEN, the
    server's --auth-token) every request carries it as `?token=`, as Rasa's HTTP API requires."""

    def __init__(self, base_url: str, *, timeout: float = 15.0, token: str | None = None) -> None:
        params = {"token": token} if token else None
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, params=params)

    @classmethod
    def for_settings(cls, settings: Settings) -> RasaClient:
        """A client for RASA_URL with the run's timeout and token."""
        token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
        return cls(settings.rasa_url, timeout=settings.rasa_timeout_seconds, token=token)

    async def turn(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaReply]:
        """One turn; an error, a timeout or an empty answer raises RasaUnavailable."""
        try:
            response = await self._client.post(
                "/webhooks/rest/webhook", json={"sender": sender, "message": text, "metadata": metadata}
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        replies = [parse_reply(entry) for entry in body if isinstance(entry, dict)] if isinstance(body, list) else []
        replies = [r for r in replies if r.text or r.buttons]
        if not replies:
            # Rasa answers [] when the action server is down or an action failed: treat as unavailable.
            raise RasaUnavailable("Rasa answered nothing")
        return replies

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
