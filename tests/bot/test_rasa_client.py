"""The bot's Rasa client against the session's real Rasa server, whose HTTP API is behind a token."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.rasa_client import RasaClient, RasaRefused
from tests.stack import Stack, answers_status, telegram_metadata
from wijkbot.settings import Settings

pytestmark = pytest.mark.rasa


def test_rasa_refuses_its_http_api_without_the_token(stack: Stack) -> None:
    assert httpx.get(f"{stack.rasa_url}/status", timeout=10).status_code == 401
    assert httpx.get(f"{stack.rasa_url}/status", params={"token": "wrong"}, timeout=10).status_code == 401
    assert httpx.get(f"{stack.rasa_url}/status", params={"token": stack.rasa_token}, timeout=10).status_code == 200


async def test_the_client_sends_the_token_from_the_settings(stack: Stack) -> None:
    settings = Settings(_env_file=None, rasa_url=stack.rasa_url, rasa_token=stack.rasa_token)  # type: ignore[call-arg]
    with_token, without = RasaClient.for_settings(settings), RasaClient(stack.rasa_url)
    try:
        assert await answers_status(with_token) is True
        assert await answers_status(without) is False
    finally:
        await with_token.aclose()
        await without.aclose()


async def test_reading_a_conversation_back_with_a_wrong_token_is_a_refusal_not_an_outage(stack: Stack) -> None:
    """Before a retry the bot reads the conversation back (API behind the token); the turns themselves go
    through the REST channel, which takes no token. A wrong RASA_TOKEN must not pass for "Rasa is away",
    which would retry the turn for hours."""
    right = RasaClient(stack.rasa_url, token=stack.rasa_token)
    wrong = RasaClient(stack.rasa_url, token="not-the-token")
    try:
        assert await right.answered_before(sender="rasa-client-token-check", update_id=1) is None
        with pytest.raises(RasaRefused, match="RASA_TOKEN"):
            await wrong.answered_before(sender="rasa-client-token-check", update_id=1)
    finally:
        await right.aclose()
        await wrong.aclose()


async def test_at_most_max_in_flight_turns_reach_rasa_at_once_and_every_turn_is_answered(stack: Stack) -> None:
    client = RasaClient(stack.rasa_url, timeout=120, token=stack.rasa_token, max_in_flight=2)
    try:
        answers = await asyncio.gather(
            *(
                client.turn(sender=sender, text="hallo", metadata=telegram_metadata(sender))
                for sender in (str(661_000_000 + n) for n in range(12))
            )
        )
    finally:
        await client.aclose()
    assert all(answer and answer[0].text for answer in answers)
    assert client.peak_in_flight == 2 and client.in_flight == 0
