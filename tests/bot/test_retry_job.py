"""The job that retries waiting resident turns goes on past a chat that raises, and a turn that keeps raising
(a real error, not Rasa being away) is failed after a few tries, its resident and the inbox told (issue 16,
item 11). The job runs here on a hand-made runtime with an injected clock: no job queue, no sleeps."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import create_engine, select

from bot.conversation import Conversation
from bot.main import retry_waiting_turns
from bot.processor import ChatLocks
from bot.rasa_client import RasaReply
from bot.runtime import RUNTIME_KEY, Runtime
from bot.sender import OutboxSender
from db import models
from db.models import utcnow
from db.session import transaction
from tests.factories import make_staff
from wijkbot.inbound import record_update
from wijkbot.pending import MAX_ERRORS, OPERATOR_ALERT, RESIDENT_NOTICE
from wijkbot.services import Services


class BrokenOnKapot:
    """A Rasa that answers every turn but one: "kapot" raises a plain error (not RasaUnavailable)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def answered_before(self, *, sender: str, update_id: int) -> list[RasaReply] | None:
        return None  # this Rasa never saved a turn the bot gave up on

    async def turn(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaReply]:
        self.asked.append(text)
        if text == "kapot":
            raise ValueError("a bug in handling this turn")
        return [RasaReply(text=f"antwoord op {text}")]


def _turn(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    return {"update_id": update_id, "chat_id": chat_id, "kind": "rasa", "payload": {"text": text, "user_id": chat_id}}


async def test_the_retry_job_answers_other_chats_and_fails_a_turn_that_keeps_raising(services: Services) -> None:
    now = [utcnow()]
    rasa = BrokenOnKapot()
    conversation = Conversation(services, rasa, lambda: None, clock=lambda: now[0])  # type: ignore[arg-type]
    sender = OutboxSender(services, transport=None, clock=lambda: now[0])  # type: ignore[arg-type]  # never started
    tracker = create_engine("sqlite://")
    rt = Runtime(services, rasa, conversation, sender, ChatLocks(), tracker, clock=lambda: now[0])  # type: ignore[arg-type]
    context = SimpleNamespace(bot_data={RUNTIME_KEY: rt})
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082600"], role="inbox", telegram_id=980, name="Loket")
        for update_id, chat_id, text in ((8001, 981, "kapot"), (8002, 982, "hallo"), (8003, 981, "hallo daar")):
            record_update(session, **_turn(update_id, chat_id, text), now=now[0])

    def state() -> tuple[dict[int, str], dict[int, int], set[tuple[int, str]]]:
        with transaction(services.sessions) as session:
            rows = {r.update_id: r for r in session.scalars(select(models.InboundUpdate))}
            sent = {(r.recipient_chat_id, r.purpose) for r in session.scalars(select(models.OutboxMessage))}
            return (
                {u: r.status for u, r in rows.items()},
                {u: int(r.payload.get("errors", 0)) for u, r in rows.items()},
                sent,
            )

    await retry_waiting_turns(context)  # type: ignore[arg-type]
    statuses, errors, sent = state()
    assert statuses == {8001: "pending", 8002: "done", 8003: "pending"}  # the other chat is still answered
    assert errors[8001] == 1 and (982, "reply:8002:0") in sent
    for _ in range(MAX_ERRORS - 1):
        now[0] += timedelta(minutes=5)  # past the backoff
        await retry_waiting_turns(context)  # type: ignore[arg-type]
    statuses, errors, sent = state()
    assert statuses == {8001: "failed", 8002: "done", 8003: "done"}  # failed; the chat's next turn goes on
    assert rasa.asked.count("kapot") == MAX_ERRORS and (981, "reply:8003:0") in sent
    assert {(981, "unhandled:8001"), (980, "unhandled-alert:8001")} <= sent
    now[0] += timedelta(minutes=5)
    await retry_waiting_turns(context)  # type: ignore[arg-type]
    assert rasa.asked.count("kapot") == MAX_ERRORS  # never retried again
    with transaction(services.sessions) as session:
        texts = {r.purpose: r.payload["text"] for r in session.scalars(select(models.OutboxMessage))}
    assert texts["unhandled:8001"] == RESIDENT_NOTICE
    reason = f"{MAX_ERRORS} keer een fout"
    assert texts["unhandled-alert:8001"] == OPERATOR_ALERT.format(update_id=8001, kind="rasa", reason=reason)
