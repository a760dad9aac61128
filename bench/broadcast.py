"""Part 3, broadcast: a poll to 10,000 subscribers of one area, sent by the real sender in the running bot.

The poll is made and broadcast with the polls module's own API (wijkbot.polls.create_poll, broadcast_poll:
a ballot and two outbox rows per subscriber, an invitation text and the Telegram poll). Measured:
- time to enqueue: create + broadcast, in one transaction, committed;
- the achieved send rate under the configured limit, over a window from the first send, against the limit;
- the sender's raw rate with the limits off (overall and per chat): the bot is stopped after the window (its
  sender finishes the batch in hand, as on Ctrl-C) and started again with an unlimited sender, which resumes
  the broadcast: what the code itself can do, which shows that the limit, not the code, bounds a broadcast;
- duplicates: Telegram messages beyond one invitation and one poll per subscriber (must be 0).
Per-chat pacing applies in the limited window (each subscriber's poll follows its invitation a second later,
which at 30 messages a second overall costs nothing), and is switched off with the overall limit for the raw rate.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from bench.common import cpu_ms_per, cpu_seconds, ratio
from bench.stack import Stack
from db import models
from db.models import utcnow
from devtools.fake_telegram import SEND_METHODS
from wijkbot.outreach import Policy
from wijkbot.polls import broadcast_poll, create_poll

FIRST_ID = 900_000_000


def add_subscribers(session: Session, *, area_code: str, count: int) -> None:
    now = utcnow()
    rows = [
        {
            "telegram_id": FIRST_ID + number,
            "first_name": "Bewoner",
            "language": "nl",
            "area_code": area_code,
            "outreach_opt_in": True,
            "consent_at": now,
            "consent_via": "bench",
            "blocked": False,
            "created_at": now,
            "last_seen_at": now,
        }
        for number in range(count)
    ]
    for start in range(0, len(rows), 5000):
        session.execute(insert(models.Resident), rows[start : start + 5000])


def outbox_states(session: Session, poll_id: int) -> dict[str, int]:
    rows = session.execute(
        select(models.OutboxMessage.status, func.count())
        .where(models.OutboxMessage.purpose.in_((f"poll:{poll_id}", f"poll:{poll_id}:intro")))
        .group_by(models.OutboxMessage.status)
    )
    return {str(status): int(count) for status, count in rows}


async def measure(
    stack: Stack, *, subscribers: int = 10_000, limited_seconds: float = 20.0, raw_cap_seconds: float = 420.0
) -> dict[str, Any]:
    services = stack.db_services
    registry, settings = services.registry, stack.settings
    area = registry.areas[0]
    limit = stack.limits.per_second
    await stack.seen.stop()  # read the fake's record a few times a second here, not every few milliseconds
    stack.seen.reset()

    started = time.monotonic()
    await stack.db(lambda s: add_subscribers(s, area_code=area.code, count=subscribers))
    setup_seconds = time.monotonic() - started

    def enqueue(session: Session) -> tuple[int, int]:
        now = utcnow()
        poll = create_poll(
            session,
            registry,
            question="Wil je een extra speelplek in de buurt?",
            options=["Ja", "Nee", "Weet ik niet"],
            area_codes=[area.code],
            via="bench",
            default_duration=timedelta(days=settings.poll_default_days),
            now=now,
        )
        ballots = broadcast_poll(session, registry, poll=poll, policy=Policy.from_settings(settings), now=now)
        return poll.id, ballots

    started = time.monotonic()
    poll_id, ballots = await stack.db(enqueue)
    enqueue_seconds = time.monotonic() - started
    expected = await stack.db(lambda s: sum(outbox_states(s, poll_id).values()))

    def sends() -> list[float]:
        stack.seen.poll()
        return sorted(t for times in stack.seen.arrivals.values() for t in times)

    # The bot's sender finds the rows at its next tick (another process wrote them: nothing wakes it).
    deadline = time.monotonic() + 60
    while not sends() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    first = sends()[0] if sends() else time.monotonic()
    await asyncio.sleep(max(0.0, first + limited_seconds - time.monotonic()))
    switched = time.monotonic()
    limited = [t for t in sends() if first <= t < switched]
    limited_rate = len(limited) / (switched - first)
    busiest_second = _max_in_window(limited, 1.0)

    # The limits off: stop the bot (its sender finishes the batch in hand, like Ctrl-C) and start it again
    # with a sender without an overall rate or per-chat gap; it resumes the broadcast where it was.
    await stack.stop_bot()
    handed_over = len(sends())
    await stack.start_bot(unlimited=True)
    raw_cpu_before = cpu_seconds(stack.bot_pid)
    deadline = time.monotonic() + raw_cap_seconds
    while len(sends()) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    await asyncio.sleep(0.5)
    raw_cpu_after = cpu_seconds(stack.bot_pid)
    everything = sends()
    raw = everything[handed_over:]
    raw_rate = (len(raw) - 1) / (raw[-1] - raw[0]) if len(raw) > 1 and raw[-1] > raw[0] else None

    per_message: Counter[tuple[int, str]] = Counter()
    for call in stack.fake.calls():
        if call.method in SEND_METHODS and call.status == 200 and isinstance(call.chat_id, int):
            per_message[(call.chat_id, call.method)] += 1
    duplicates = sum(count - 1 for count in per_message.values() if count > 1)
    states = await stack.db(lambda s: outbox_states(s, poll_id))
    await stack.stop_bot()  # back to the bot as configured
    await stack.start_bot()
    stack.seen.start()
    return {
        "subscribers": subscribers,
        "area": area.code,
        "ballots": ballots,
        "messages": expected,
        "setup_seconds (opted-in residents, not part of the figure)": round(setup_seconds, 2),
        "enqueue_seconds": round(enqueue_seconds, 2),
        "limit_per_s": limit,
        "limited": {
            "window_s": round(switched - first, 1),
            "sent": len(limited),
            "rate_per_s": round(limited_rate, 2),
            "busiest_second": busiest_second,
        },
        "achieved_over_limit": ratio(limited_rate, limit),
        "raw": {
            "sent": len(raw),
            "seconds": round(raw[-1] - raw[0], 1) if len(raw) > 1 else None,
            "rate_per_s": round(raw_rate, 1) if raw_rate else None,
            "bot_cpu_ms_per_message": cpu_ms_per(raw_cpu_before, raw_cpu_after, len(raw)),
            "how": "the bot restarted with a sender without overall rate or per-chat gap (bench/bot_process.py)",
        },
        "raw_over_limit": ratio(raw_rate, limit),
        "delivered": len(everything),
        "finished": len(everything) >= expected,
        "duplicates": duplicates,
        "outbox": states,
    }


def _max_in_window(times: list[float], window: float) -> int:
    best = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
