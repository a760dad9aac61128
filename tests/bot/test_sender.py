"""The outbox sender against the fake Bot API: limits, 429s, blocked chats, crashes, two senders."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.sender import OutboxSender, RateLimiter
from bot.telegram_transport import TelegramTransport
from db import models
from db.models import utcnow
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, fast_request, start_fake_telegram
from tests.factories import make_resident, make_staff
from wijkbot.delivery import MAYBE_DELIVERED_AFTER
from wijkbot.outbox import begin_send, claim_due, enqueue
from wijkbot.payloads import Edit, Payload, Text
from wijkbot.purposes import Purpose
from wijkbot.services import Services, open_services


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def transport(telegram: FakeTelegramServer) -> AsyncIterator[TelegramTransport]:
    bot = telegram.make_bot()
    async with bot:
        yield TelegramTransport(bot)


def queue(services: Services, chat_id: int, *texts: str, **kwargs: object) -> None:
    with transaction(services.sessions) as session:
        for number, text in enumerate(texts):
            enqueue(session, purpose=f"test:{chat_id}:{number}:{text[:20]}", chat_id=chat_id, text=text, **kwargs)  # type: ignore[arg-type]


# Clocks far from the machine's, on both sides: time that leaks in from the machine shows up at once.
BEHIND = datetime(2020, 3, 2, 10, 0, tzinfo=UTC)
AHEAD = datetime(2100, 3, 2, 10, 0, tzinfo=UTC)
CLOCKS = pytest.mark.parametrize("start", [BEHIND, AHEAD], ids=["clock_behind_the_machine", "clock_ahead_of_it"])


def rows(services: Services) -> list[models.OutboxMessage]:
    with transaction(services.sessions) as session:
        return list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))


async def test_a_queued_message_is_sent_once_and_marked_sent(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 42, "Hallo <b>Anna</b>")
    sender = OutboxSender(services, transport)
    assert await sender.send_due() == 1
    assert await sender.send_due() == 0
    sent = telegram.sent_messages(42)
    assert [m["text"] for m in sent] == ["Hallo <b>Anna</b>"] and sent[0]["parse_mode"] == "HTML"
    [row] = rows(services)
    assert row.status == "sent" and row.telegram_message_id == sent[0]["message_id"]


async def test_a_429_is_honoured_and_the_message_still_arrives_once(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    telegram.fail_next("sendMessage", status=429, retry_after=1)
    queue(services, 42, "eerste", "tweede")
    sender = OutboxSender(services, transport, tick_seconds=0.2)
    sender.start()
    await telegram.wait_for_messages_async(42, count=2, timeout=10)
    await sender.stop()
    attempts = telegram.send_times(42)
    assert len(attempts) == 3  # the refused one, then both
    assert attempts[1] - attempts[0] >= 0.95
    assert [m["text"] for m in telegram.sent_messages(42)] == ["eerste", "tweede"]  # order kept


@CLOCKS
async def test_a_chat_held_by_a_429_comes_due_again_retry_after_later_on_the_sender_s_clock(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer, start: datetime
) -> None:
    telegram.fail_next("sendMessage", status=429, retry_after=1)
    queue(services, 42, "eerste", "tweede", now=start)
    clock = [start]
    sender = OutboxSender(
        services, transport, limiter=RateLimiter(per_second=None, per_chat_gap=0), clock=lambda: clock[0]
    )
    assert await sender.send_due() == 2  # the first is refused; the chat waits, in order
    assert telegram.sent_messages(42) == []
    clock[0] = start + timedelta(milliseconds=900)
    assert await sender.send_due() == 0  # not before retry_after has passed
    clock[0] = start + timedelta(seconds=1)
    assert await sender.send_due() == 2
    assert [m["text"] for m in telegram.sent_messages(42)] == ["eerste", "tweede"]
    assert {r.status for r in rows(services)} == {"sent"}
    assert {r.sent_at for r in rows(services)} == {start + timedelta(seconds=1)}


@CLOCKS
async def test_a_transient_failure_backs_off_on_the_sender_s_clock(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer, start: datetime
) -> None:
    telegram.fail_next("sendMessage", status=500)
    queue(services, 42, "hallo", now=start)
    clock = [start]
    sender = OutboxSender(
        services, transport, limiter=RateLimiter(per_second=None, per_chat_gap=0), clock=lambda: clock[0]
    )
    assert await sender.send_due() == 1
    clock[0] = start + timedelta(milliseconds=1900)
    assert await sender.send_due() == 0  # the first backoff is 2 seconds
    clock[0] = start + timedelta(seconds=2)
    assert await sender.send_due() == 1
    assert [m["text"] for m in telegram.sent_messages(42)] == ["hallo"]
    [row] = rows(services)
    assert (row.status, row.attempts) == ("sent", 1)


class RecordingLimiter(RateLimiter):
    """The real limiter, noting each grant (chat, monotonic time). The limits are what the sender controls, so
    they are checked on the grants: the arrival times at the fake Bot API add the network's and the machine's
    jitter, which the limiter's 50 ms margins (WINDOW, per-chat windows of 0.95 s below) are not meant to absorb."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grants: list[tuple[int, float]] = []

    async def acquire(self, chat_id: int) -> None:
        await super().acquire(chat_id)
        self.grants.append((chat_id, time.monotonic()))

    def most_in(self, window: float, chat_id: int | None = None) -> int:
        times = sorted(t for chat, t in self.grants if chat_id is None or chat == chat_id)
        return max((sum(1 for u in times[i:] if u - t < window) for i, t in enumerate(times)), default=0)


async def test_one_chat_gets_at_most_one_message_a_second(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 42, "a", "b", "c")
    queue(services, 43, "x")
    limiter = RecordingLimiter()
    sender = OutboxSender(services, transport, tick_seconds=0.2, limiter=limiter)
    sender.start()
    await telegram.wait_for_messages_async(42, count=3, timeout=10)
    await sender.stop()
    assert limiter.most_in(0.95, chat_id=42) == 1
    order = [chat for chat, _ in limiter.grants]
    assert order.index(43) < [i for i, chat in enumerate(order) if chat == 42][1]  # other chats are not held up


async def test_the_overall_rate_stays_under_the_limit(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 0, *[])
    with transaction(services.sessions) as session:
        for chat in range(1000, 1090):
            enqueue(session, purpose="burst", chat_id=chat, text="hoi")
    limiter = RecordingLimiter(per_second=30)
    sender = OutboxSender(services, transport, limiter=limiter)
    while await sender.send_due():
        pass
    assert len(telegram.sent_messages()) == 90
    assert len(limiter.grants) == 90 and limiter.most_in(1.0) <= 30


async def test_a_resident_who_blocked_the_bot_is_marked_and_not_retried(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    with transaction(services.sessions) as session:
        resident = make_resident(session, telegram_id=555)
    telegram.block_chat(555)
    queue(services, 555, "hallo")
    await OutboxSender(services, transport).send_due()
    [row] = rows(services)
    assert row.status == "failed" and "blocked" in (row.error or "")
    with transaction(services.sessions) as session:
        assert session.get(models.Resident, resident.id).blocked  # type: ignore[union-attr]


async def test_html_that_telegram_refuses_is_sent_as_plain_text(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 42, "kapot <b>vet")
    await OutboxSender(services, transport).send_due()
    assert [m["text"] for m in telegram.sent_messages(42)] == ["kapot vet"]


async def test_a_crashed_sender_s_claimed_rows_are_sent_once_by_the_next(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 42, "al verstuurd", "nog niet")
    with transaction(services.sessions) as session:
        first, second = claim_due(session, worker="dead", limit=2)
        first.status, first.sent_at = "sent", utcnow()  # it got this far before it died
        second.claimed_at = utcnow() - timedelta(minutes=10)
    sender = OutboxSender(services, transport, tick_seconds=0.2)
    assert await sender.send_due() == 1
    assert [m["text"] for m in telegram.sent_messages(42)] == ["nog niet"]
    assert [r.status for r in rows(services)] == ["sent", "sent"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_senders_on_postgresql_never_send_the_same_row(
    services: Services, telegram: FakeTelegramServer, database_url: str
) -> None:
    with transaction(services.sessions) as session:
        for number in range(300):
            enqueue(session, purpose=f"poll:{number}", chat_id=2000 + number, text=f"bericht {number}")
    other = open_services(services.settings, prepare_database=False)
    bot_a, bot_b = telegram.make_bot(), telegram.make_bot()
    async with bot_a, bot_b:
        senders = [
            OutboxSender(s, TelegramTransport(b), batch=25, limiter=RateLimiter(per_second=None))
            for s, b in ((services, bot_a), (other, bot_b))
        ]

        async def drain(sender: OutboxSender) -> int:
            total = 0
            while handled := await sender.send_due():
                total += handled
            return total

        counts = await asyncio.gather(*(drain(s) for s in senders))
    other.close()
    texts = [m["text"] for m in telegram.sent_messages()]
    assert len(texts) == 300 and len(set(texts)) == 300
    assert all(c > 0 for c in counts), counts  # both really took part


NO_LIMITS = {"per_second": None, "per_chat_gap": 0}


def staff_and_inbox(services: Services, *, staff_chat: int, inbox_chat: int) -> int:
    with transaction(services.sessions) as session:
        sanne = make_staff(session, services.registry, areas=["WK082611"], name="Sanne", telegram_id=staff_chat)
        make_staff(session, services.registry, areas=["WK082611"], role="inbox", name="Loket", telegram_id=inbox_chat)
        return sanne.id


async def test_a_staff_notification_that_timed_out_after_it_went_out_is_not_sent_again_and_the_inbox_is_told(
    services: Services, telegram: FakeTelegramServer
) -> None:
    staff_id = staff_and_inbox(services, staff_chat=3001, inbox_chat=3002)
    with transaction(services.sessions) as session:
        enqueue(session, purpose=f"item:1:new:{staff_id}", chat_id=3001, text="Nieuw idee in Den Hout", now=BEHIND)
    telegram.delay_next("sendMessage", 1.0, chat_id=3001)  # Telegram takes it, the answer comes too late
    bot = telegram.make_bot(request=fast_request(read_timeout=0.2))
    async with bot:
        clock = [BEHIND]
        sender = OutboxSender(
            services, TelegramTransport(bot), limiter=RateLimiter(**NO_LIMITS), clock=lambda: clock[0]
        )
        assert await sender.send_due() == 1
        await telegram.wait_for_messages_async(3001, count=1, timeout=5)
        clock[0] = BEHIND + timedelta(days=1)
        while await sender.send_due():
            pass
    assert len(telegram.sent_messages(3001)) == 1  # arrived once, not sent again
    statuses = {r.purpose: r.status for r in rows(services)}
    assert statuses[f"item:1:new:{staff_id}"] == "uncertain"
    [alert] = telegram.sent_messages(3002)
    assert "Sanne" in alert["text"]


async def test_a_reply_to_a_resident_whose_answer_was_lost_is_sent_again_only_after_the_maybe_delivered_delay(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    with transaction(services.sessions) as session:
        enqueue(session, purpose="reply:1:0", chat_id=3101, text="Je idee is doorgestuurd", now=BEHIND)
    telegram.drop_next("sendMessage", after_send=True)
    clock = [BEHIND]
    sender = OutboxSender(services, transport, limiter=RateLimiter(**NO_LIMITS), clock=lambda: clock[0])
    assert await sender.send_due() == 1
    assert len(telegram.sent_messages(3101)) == 1
    clock[0] = BEHIND + timedelta(seconds=30)
    assert await sender.send_due() == 0  # not the usual 2-second retry
    clock[0] = BEHIND + MAYBE_DELIVERED_AFTER
    assert await sender.send_due() == 1
    assert len(telegram.sent_messages(3101)) == 2
    [row] = rows(services)
    assert row.status == "sent" and row.uncertain_at == BEHIND


async def test_a_message_held_back_by_a_429_keeps_its_place_before_the_chat_s_rows_outside_its_batch(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 3261, "een", "twee", "drie", now=BEHIND)
    telegram.fail_next("sendMessage", status=429, retry_after=1, chat_id=3261)
    clock = [BEHIND]
    sender = OutboxSender(services, transport, batch=2, limiter=RateLimiter(**NO_LIMITS), clock=lambda: clock[0])
    assert await sender.send_due() == 2  # "een" is told to wait, "twee" (same batch) waits behind it
    assert await sender.send_due() == 0  # and so does "drie", queued behind them but not in that batch
    clock[0] += timedelta(seconds=2)
    while await sender.send_due():
        pass
    assert [m["text"] for m in telegram.sent_messages(3261)] == ["een", "twee", "drie"]


async def test_a_row_taken_over_by_another_sender_is_not_sent_by_the_first(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 3201, "één keer", now=BEHIND)
    slow_clock, other_clock = [BEHIND], [BEHIND + timedelta(minutes=3)]
    slow = OutboxSender(services, transport, limiter=RateLimiter(**NO_LIMITS), clock=lambda: slow_clock[0])
    other = OutboxSender(services, transport, limiter=RateLimiter(**NO_LIMITS), clock=lambda: other_clock[0])
    claimed = await slow.claim()  # then the slow sender is held up (a long retry_after) past the reclaim age
    assert await other.send_due() == 1
    slow_clock[0] = other_clock[0]
    assert await slow.send(claimed) == 1
    assert [m["text"] for m in telegram.sent_messages(3201)] == ["één keer"]
    [row] = rows(services)
    assert row.status == "sent" and row.claimed_by == other.worker


async def test_a_message_a_stopped_sender_had_started_is_not_sent_again_at_once(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    with transaction(services.sessions) as session:
        enqueue(session, purpose="reply:2:0", chat_id=3301, text="Dank je wel", now=BEHIND)
        enqueue(
            session,
            purpose="item:2:withdrawn:edit:1",
            chat_id=3302,
            message=Edit(message_id=1, text="ingetrokken"),
            now=BEHIND,
        )
        for row in claim_due(session, worker="dead", now=BEHIND):
            begin_send(session, row_id=row.id, token=row.claim_token or "", now=BEHIND)  # then it stopped
    clock = [BEHIND + timedelta(minutes=3)]
    sender = OutboxSender(services, transport, limiter=RateLimiter(**NO_LIMITS), clock=lambda: clock[0])
    assert await sender.send_due() == 2
    assert telegram.sent_messages(3301) == []  # may have arrived: not again right away
    assert len(telegram.calls("editMessageText")) == 1  # an edit is safe to repeat
    clock[0] += MAYBE_DELIVERED_AFTER
    assert await sender.send_due() == 1
    assert [m["text"] for m in telegram.sent_messages(3301)] == ["Dank je wel"]


async def test_a_staff_member_who_blocked_the_bot_is_reported_to_the_inbox_once(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    staff_id = staff_and_inbox(services, staff_chat=3401, inbox_chat=3402)
    telegram.block_chat(3401)
    with transaction(services.sessions) as session:
        for item in (1, 2, 3):
            enqueue(session, purpose=f"item:{item}:new:{staff_id}", chat_id=3401, text="Nieuw", now=BEHIND)
    sender = OutboxSender(services, transport, limiter=RateLimiter(**NO_LIMITS), clock=lambda: BEHIND)
    while await sender.send_due():
        pass
    [alert] = telegram.sent_messages(3402)
    assert "Sanne" in alert["text"] and "geblokkeerd" in alert["text"]
    assert sorted(r.status for r in rows(services)) == ["failed", "failed", "failed", "sent"]


async def test_the_sender_runs_its_claim_filters_and_delivery_hooks_and_fails_an_unreadable_row(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 5101, "eerste", "tweede")
    with transaction(services.sessions) as session:
        session.add(
            models.OutboxMessage(
                purpose="broken", recipient_chat_id=5102, method="sendSticker", payload={}, created_at=utcnow()
            )
        )
    sender = OutboxSender(services, transport)
    seen: list[str] = []
    sender.claim_filters.append(lambda session, claimed, now: [r for r in claimed if r.payload.get("text") != "tweede"])
    sender.delivery_hooks.append(
        lambda session, message, delivery: seen.append(f"{message.METHOD}:{delivery.message_id}")
    )
    assert await sender.send_due() == 1
    [sent] = telegram.sent_messages(5101)
    assert sent["text"] == "eerste" and seen == [f"sendMessage:{sent['message_id']}"]
    statuses = {r.purpose.split(":")[-1]: r.status for r in rows(services)}
    assert statuses == {"eerste": "sent", "tweede": "sending", "broken": "failed"}


async def test_a_chat_s_due_rows_claimed_with_its_replies_are_sent_at_once_without_the_loop(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 42, "eerste", "tweede")
    queue(services, 43, "voor een ander")
    sender = OutboxSender(services, transport, limiter=RateLimiter(per_second=None, per_chat_gap=0))
    with transaction(services.sessions) as session:
        claimed = sender.claim_chat(session, chat_id=42)
    assert [(m.chat_id, m.payload.text) for m in claimed] == [(42, "eerste"), (42, "tweede")]  # type: ignore[attr-defined]
    assert [m.begun for m in claimed] == [True, False]  # the first one's start is written with the claim
    assert {r.recipient_chat_id: r.status for r in rows(services)} == {42: "sending", 43: "pending"}
    sender.hand(claimed)
    await sender.stop()  # waits for what was handed over
    assert [m["text"] for m in telegram.sent_messages(42)] == ["eerste", "tweede"]
    assert telegram.sent_messages(43) == []  # not this chat's: left for the loop
    assert [(r.recipient_chat_id, r.status) for r in rows(services)] == [(42, "sent"), (42, "sent"), (43, "pending")]


async def test_nothing_of_a_chat_is_claimed_with_its_replies_while_another_claim_holds_one_of_its_rows(
    services: Services, transport: TelegramTransport
) -> None:
    queue(services, 42, "wordt verstuurd")
    with transaction(services.sessions) as session:
        assert len(claim_due(session, worker="other-sender", now=utcnow())) == 1
    queue(services, 42, "antwoord")
    sender = OutboxSender(services, transport)
    with transaction(services.sessions) as session:
        assert sender.claim_chat(session, chat_id=42) == []
    assert [(r.payload["text"], r.status) for r in rows(services)] == [
        ("wordt verstuurd", "sending"),
        ("antwoord", "pending"),
    ]


async def test_a_stopped_sender_claims_no_replies(services: Services, transport: TelegramTransport) -> None:
    queue(services, 42, "antwoord")
    sender = OutboxSender(services, transport)
    await sender.stop()
    with transaction(services.sessions) as session:
        assert sender.claim_chat(session, chat_id=42) == []
    assert [r.status for r in rows(services)] == ["pending"]


async def test_a_row_the_loop_claims_while_a_handed_send_of_its_chat_runs_goes_after_it(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 42, "een", "twee")
    sender = OutboxSender(services, transport, limiter=RateLimiter(per_second=None, per_chat_gap=0.3))
    with transaction(services.sessions) as session:
        claimed = sender.claim_chat(session, chat_id=42)
    sender.hand(claimed)  # "twee" waits for the chat's gap
    await telegram.wait_for_messages_async(42, count=1, timeout=10)
    queue(services, 42, "drie")
    sender.start()  # the loop claims "drie" while "twee" is still on its way
    await telegram.wait_for_messages_async(42, count=3, timeout=10)
    await sender.stop()
    assert [m["text"] for m in telegram.sent_messages(42)] == ["een", "twee", "drie"]


def replies(*texts: str) -> list[tuple[Purpose, Payload]]:
    return [(Purpose(f"reply:7:{i}"), Text(text=text)) for i, text in enumerate(texts)]


async def test_a_turn_s_replies_are_taken_claimed_and_sent_at_once(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    sender = OutboxSender(services, transport, limiter=RateLimiter(per_second=None, per_chat_gap=0))
    with transaction(services.sessions) as session:
        taken = sender.take(session, chat_id=42, messages=replies("een", "twee"), priority=10, now=utcnow())
    assert [(m.payload.text, m.begun, m.token != "") for m in taken] == [  # type: ignore[attr-defined]
        ("een", True, True),
        ("twee", False, True),
    ]
    sender.hand(taken)
    await sender.stop()
    assert [m["text"] for m in telegram.sent_messages(42)] == ["een", "twee"]
    assert [r.status for r in rows(services)] == ["sent", "sent"]


async def test_replies_behind_a_due_message_of_their_chat_are_taken_after_it(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    queue(services, 42, "eerder")
    sender = OutboxSender(services, transport, limiter=RateLimiter(per_second=None, per_chat_gap=0))
    with transaction(services.sessions) as session:
        taken = sender.take(session, chat_id=42, messages=replies("antwoord"), priority=0, now=utcnow())
    assert [m.payload.text for m in taken] == ["eerder", "antwoord"]  # type: ignore[attr-defined]
    sender.hand(taken)
    await sender.stop()
    assert [m["text"] for m in telegram.sent_messages(42)] == ["eerder", "antwoord"]


async def test_replies_while_another_claim_sends_to_their_chat_are_queued_for_the_loop(
    services: Services, transport: TelegramTransport
) -> None:
    queue(services, 42, "wordt verstuurd")
    with transaction(services.sessions) as session:
        assert len(claim_due(session, worker="other-sender", now=utcnow())) == 1
    sender = OutboxSender(services, transport)
    with transaction(services.sessions) as session:
        assert sender.take(session, chat_id=42, messages=replies("antwoord"), priority=10, now=utcnow()) == []
    assert [(r.payload["text"], r.status) for r in rows(services)] == [
        ("wordt verstuurd", "sending"),
        ("antwoord", "pending"),
    ]


async def test_a_stopped_sender_takes_replies_only_into_the_queue(
    services: Services, transport: TelegramTransport
) -> None:
    sender = OutboxSender(services, transport)
    await sender.stop()
    with transaction(services.sessions) as session:
        assert sender.take(session, chat_id=42, messages=replies("antwoord"), priority=10, now=utcnow()) == []
    assert [(r.status, r.claimed_by) for r in rows(services)] == [("pending", None)]
