"""The Rasa REST channel as seen from the bot: one shared async HTTP client, created in post_init."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from wijkbot.settings import Settings


class RasaUnavailable(RuntimeError):
    """Rasa could not be reached or did not answer in time; the message stays pending and is sent again."""


class RasaRefused(RuntimeError):
    """Rasa's API refused the bot's token: a configuration error, not an outage. Retrying cannot help, so the
    turn fails like any turn that raises (after 3 tries the resident and the inbox are told)."""


@dataclass(frozen=True)
class RasaReply:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Replica:
    """One Rasa server: its HTTP client and its own admission limit."""

    url: str
    client: httpx.AsyncClient
    slots: asyncio.Semaphore
    in_flight: int = 0


class RasaClient:
    """Sends one resident turn to Rasa's REST webhook and returns its replies. With a token (RASA_TOKEN, the
    server's --auth-token) every request carries it as `?token=`, as Rasa's HTTP API requires.

    Admission control: at most `max_in_flight` turns are at a Rasa server at once; the others wait here,
    first come first served (asyncio's semaphore wakes waiters in order), and their wait does not count
    against the timeout. Rasa then works on a few turns at full speed instead of on a pile of them that all
    time out. With several replicas (RASA_URLS; they share a PostgreSQL tracker store and a Redis lock store)
    each turn goes to the one with the fewest turns in flight; a replica that refuses the connection (down,
    restarting) is skipped for that turn, which is safe because the turn never reached it. The bot sends a
    resident's turns one at a time and in order, whichever replica answers them.
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        timeout: float = 15.0,
        token: str | None = None,
        max_in_flight: int = 8,
    ) -> None:
        params = {"token": token} if token else None
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("no Rasa server to talk to")
        self.replicas = [
            Replica(
                url.rstrip("/"),
                httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, params=params),
                asyncio.Semaphore(max_in_flight),
            )
            for url in urls
        ]
        self.peak_in_flight = 0  # the most turns at Rasa at once since start (for the bench and the tests)
        self._turns = 0

    @classmethod
    def for_settings(cls, settings: Settings) -> RasaClient:
        """A client for RASA_URLS (or RASA_URL) with the run's timeout, token and admission limit."""
        token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
        return cls(
            settings.rasa_replicas,
            timeout=settings.rasa_timeout_seconds,
            token=token,
            max_in_flight=settings.rasa_max_in_flight,
        )

    @property
    def in_flight(self) -> int:
        return sum(replica.in_flight for replica in self.replicas)

    def _in_order(self) -> list[Replica]:
        """The replicas to try for the next turn: fewest turns in flight first, ties taken in turn."""
        self._turns += 1
        count = len(self.replicas)
        rotated = [self.replicas[(self._turns + i) % count] for i in range(count)]
        return sorted(rotated, key=lambda replica: replica.in_flight)

    async def turn(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaReply]:
        """One turn. An error or a timeout raises RasaUnavailable. An empty answer is an answer: Rasa handled
        the turn (and saved it) but had nothing to say, e.g. because an action failed; sending the turn again
        would make Rasa handle it a second time."""
        refused: list[str] = []
        for replica in self._in_order():
            async with replica.slots:
                replica.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    response = await replica.client.post(
                        "/webhooks/rest/webhook", json={"sender": sender, "message": text, "metadata": metadata}
                    )
                    response.raise_for_status()
                    body = response.json()
                except httpx.ConnectError as exc:
                    refused.append(f"{replica.url}: {exc}")
                    continue  # the turn never reached this replica: another may take it
                except (httpx.HTTPError, ValueError) as exc:
                    raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
                finally:
                    replica.in_flight -= 1
            replies = [parse_reply(e) for e in body if isinstance(e, dict)] if isinstance(body, list) else []
            return [r for r in replies if r.text or r.buttons]
        raise RasaUnavailable("no Rasa server took the connection: " + "; ".join(refused))

    async def answered_before(self, *, sender: str, update_id: int) -> list[RasaReply] | None:
        """What Rasa answered to this update when it handled it before (the bot had stopped waiting, and the
        turn was saved after all); None when Rasa's conversation has no turn with this update id. Raises
        RasaUnavailable when Rasa cannot be asked. Replicas share their conversations: any one may answer."""
        replica = self._in_order()[0]
        try:
            async with replica.slots:
                # the client's token is merged into these params by httpx
                response = await replica.client.get(
                    f"/conversations/{sender}/tracker", params={"include_events": "AFTER_RESTART"}
                )
            if response.status_code in (401, 403):
                raise RasaRefused(
                    f"Rasa refused the bot's token ({response.status_code}) when asked for conversation {sender}: "
                    "RASA_TOKEN must be the token Rasa was started with (--auth-token)"
                )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        events = body.get("events") if isinstance(body, dict) else None
        return replies_after_update(events if isinstance(events, list) else [], update_id)

    async def aclose(self) -> None:
        for replica in self.replicas:
            await replica.client.aclose()


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
