"""A resident's turn to Rasa: a slow turn is waited for (with one holding reply meanwhile), never sent twice;
an empty answer is an answer; every turn carries its Telegram update id for the actions (wijkbot.effects)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.conversation import EMPTY_REPLY, HOLDING_REPLY, Conversation
from bot.rasa_client import RasaReply, replies_after_update
from bot.sender import OutboxSender, RateLimiter
from bot.telegram_transport import TelegramTransport
from db import models
from db.models import utcnow
from db.session import transaction
from devtools.fake_telegram import start_fake_telegram
from wijkbot.inbound import mark_retry, record_update
from wijkbot.services import Services

CHAT = 9901


class SlowRasa:
    """Answers each turn only when the test releases it; records what it was asked, with the metadata."""

    def __init__(self, replies: list[RasaReply]) -> None:
        self.replies = replies
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.release = asyncio.Event()
        self.saved: dict[int, list[RasaReply]] = {}  # update id -> what Rasa answered and saved, unawaited

    async def answered_before(self, *, sender: str, update_id: int) -> list[RasaReply] | None:
        return self.saved.get(update_id)

    async def turn(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[RasaReply]:
        self.asked.append((text, metadata))
        await self.release.wait()
        return self.replies


def outbox(services: Services) -> list[tuple[str, str]]:
    with transaction(services.sessions) as session:
        rows = session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id))
        return [(row.purpose, row.payload["text"]) for row in rows]


def status(services: Services, update_id: int) -> str | None:
    with transaction(services.sessions) as session:
        row = session.get(models.InboundUpdate, update_id)
        return row.status if row is not None else None


async def until(condition: Any) -> None:
    for _ in range(500):
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_a_slow_turn_gets_one_holding_reply_and_is_answered_once_without_being_sent_again(
    services: Services,
) -> None:
    rasa = SlowRasa([RasaReply(text="Wat is je idee?")])
    conversation = Conversation(services, rasa, lambda: None, holding_after=0.01)  # type: ignore[arg-type]
    turn = asyncio.create_task(
        conversation.submit(update_id=5001, chat_id=CHAT, user_id=CHAT, text="ik heb een idee", meta={})
    )
    await until(lambda: outbox(services) == [("holding:5001", HOLDING_REPLY)])
    assert status(services, 5001) == "pending"  # still waiting for this very turn, not given up
    rasa.release.set()
    await turn
    assert outbox(services) == [("holding:5001", HOLDING_REPLY), ("reply:5001:0", "Wat is je idee?")]
    assert [text for text, _ in rasa.asked] == ["ik heb een idee"]
    assert status(services, 5001) == "done"


async def test_a_quick_turn_gets_no_holding_reply(services: Services) -> None:
    rasa = SlowRasa([RasaReply(text="Hoi!")])
    rasa.release.set()
    conversation = Conversation(services, rasa, lambda: None, holding_after=30)  # type: ignore[arg-type]
    await conversation.submit(update_id=5002, chat_id=CHAT, user_id=CHAT, text="hallo", meta={})
    assert outbox(services) == [("reply:5002:0", "Hoi!")]


async def test_an_empty_answer_is_an_answer_the_turn_is_done_and_the_resident_told(services: Services) -> None:
    rasa = SlowRasa([])
    rasa.release.set()
    conversation = Conversation(services, rasa, lambda: None)  # type: ignore[arg-type]
    await conversation.submit(update_id=5003, chat_id=CHAT, user_id=CHAT, text="ja, insturen", meta={})
    assert status(services, 5003) == "done"  # not retried: Rasa handled (and saved) the turn
    assert outbox(services) == [("reply:5003:0", EMPTY_REPLY)]
    assert len(rasa.asked) == 1


async def test_every_turn_carries_its_telegram_update_id_and_the_residents_telegram_details(
    services: Services,
) -> None:
    rasa = SlowRasa([RasaReply(text="Hoi!")])
    rasa.release.set()
    conversation = Conversation(services, rasa, lambda: None)  # type: ignore[arg-type]
    meta = {"first_name": "Anna", "language_code": "nl"}
    await conversation.submit(update_id=5004, chat_id=CHAT, user_id=CHAT, text="hallo", meta=meta)
    [(_, metadata)] = rasa.asked
    assert metadata == {"telegram": meta, "update_id": 5004}


async def test_a_retried_turn_rasa_already_answered_and_saved_is_not_sent_again(services: Services) -> None:
    """The bot stopped waiting, but Rasa finished the turn and saved it: its answer is taken from Rasa's
    conversation instead of sending "Ja, insturen" a second time into a conversation that moved on."""
    rasa = SlowRasa([RasaReply(text="Waarmee kan ik je helpen?")])
    rasa.release.set()
    rasa.saved = {5005: [RasaReply(text="Dank je wel voor je melding (nummer 12).")]}
    with transaction(services.sessions) as session:
        payload = {"text": "/affirm", "user_id": CHAT, "meta": {}, "button": True}
        record_update(session, update_id=5005, chat_id=CHAT, kind="rasa", payload=payload)
        mark_retry(session, update_id=5005)
    conversation = Conversation(services, rasa, lambda: None, clock=lambda: utcnow() + timedelta(minutes=5))  # type: ignore[arg-type]
    assert await conversation.drain(CHAT)
    assert rasa.asked == []
    assert outbox(services) == [("reply:5005:0", "Dank je wel voor je melding (nummer 12).")]
    assert status(services, 5005) == "done"


async def test_a_retried_turn_rasa_never_saved_is_sent_again(services: Services) -> None:
    rasa = SlowRasa([RasaReply(text="Dank je wel voor je melding (nummer 12).")])
    rasa.release.set()
    with transaction(services.sessions) as session:
        record_update(session, update_id=5006, chat_id=CHAT, kind="rasa", payload={"text": "/affirm", "user_id": CHAT})
        mark_retry(session, update_id=5006)
    conversation = Conversation(services, rasa, lambda: None, clock=lambda: utcnow() + timedelta(minutes=5))  # type: ignore[arg-type]
    assert await conversation.drain(CHAT)
    assert [text for text, _ in rasa.asked] == ["/affirm"]
    assert outbox(services) == [("reply:5006:0", "Dank je wel voor je melding (nummer 12).")]


def test_the_answer_to_an_update_is_the_bot_utterances_after_its_user_turn() -> None:
    events = [
        {"event": "user", "text": "4911AB", "metadata": {"update_id": 40}},
        {"event": "bot", "text": "Dit is je melding", "data": {"buttons": [{"title": "Ja", "payload": "/affirm"}]}},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "/affirm", "metadata": {"update_id": 41}},
        {"event": "slot", "name": "confirmed", "value": True},
        {"event": "bot", "text": "Dank je wel (nummer 12)."},
        {"event": "bot", "text": "Nog iets?", "data": {"buttons": None}},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "nee", "metadata": {"update_id": 42}},
        {"event": "bot", "text": "Tot ziens!"},
    ]
    assert replies_after_update(events, 41) == [
        RasaReply(text="Dank je wel (nummer 12)."),
        RasaReply(text="Nog iets?"),
    ]
    assert replies_after_update(events, 40) == [
        RasaReply(text="Dit is je melding", buttons=[{"title": "Ja", "payload": "/affirm"}])
    ]
    assert replies_after_update(events, 43) is None
    assert replies_after_update([{"event": "user", "metadata": {"update_id": 7}}], 7) == []


async def test_a_turn_s_replies_are_handed_to_the_sender_and_leave_without_its_loop(services: Services) -> None:
    rasa = SlowRasa([RasaReply(text="Hoi!"), RasaReply(text="Waarmee kan ik helpen?", buttons=[])])
    rasa.release.set()
    woken: list[bool] = []
    with start_fake_telegram() as telegram:
        async with telegram.make_bot() as bot:
            sender = OutboxSender(services, TelegramTransport(bot), limiter=RateLimiter(per_chat_gap=0))
            conversation = Conversation(services, rasa, lambda: woken.append(True), handoff=sender)  # type: ignore[arg-type]
            await conversation.submit(update_id=5201, chat_id=CHAT, user_id=CHAT, text="hallo", meta={})
            await sender.stop()  # never started: only what was handed over went out
            assert [m["text"] for m in telegram.sent_messages(CHAT)] == ["Hoi!\n\nWaarmee kan ik helpen?"]
    assert woken == []  # nothing was left for the loop
    assert status(services, 5201) == "done"
