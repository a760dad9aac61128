"""Part 6, long-lived residents: a chat that already holds hundreds of earlier turns answers as fast as a new one.

A Telegram chat never ends; Rasa's per-turn cost grows with the length of the current *session*
(DESIGN.md), and a session ends after `session_expiration_time` (domain/core.yml) without a message. The
history is built fast, straight through Rasa's REST webhook, one script run (one visit) at a time; after
each visit its events in the bench's own tracker store are moved back in time beyond the expiry, as if the
resident came back another day. So the resident arrives with ~300 earlier turns in ~38 earlier sessions, and
the bot's database holds their earlier turns and replies too. Then the long-lived resident and a new one take
turns through the whole stack (per-chat pacing kept out, as in part 1) and their p50s are compared.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from bench.common import SCRIPT, ratio, summary_ms
from bench.latency import create_residents
from bench.stack import Stack
from db import models
from db.models import utcnow

LONG_ID = 640_000_001
NEW_ID = 640_000_002
HISTORY_UPDATE_IDS = 2_000_000_000


def age_tracker(stack: Stack, sender_id: int, seconds: float) -> int:
    """Move one sender's events back in time (the column and the event's own JSON timestamp)."""
    query = text(
        "UPDATE events SET timestamp = timestamp - :d, "
        "data = json_set(data, '$.timestamp', json_extract(data, '$.timestamp') - :d) WHERE sender_id = :s"
    )
    with stack.tracker_engine.begin() as connection:
        return int(connection.execute(query, {"d": seconds, "s": str(sender_id)}).rowcount or 0)


def tracker_counts(stack: Stack, sender_id: int) -> dict[str, int]:
    query = text("SELECT type_name, count(*) FROM events WHERE sender_id = :s GROUP BY type_name")
    with stack.tracker_engine.connect() as connection:
        rows = connection.execute(query, {"s": str(sender_id)}).all()
    counts = {str(kind): int(count) for kind, count in rows}
    return {"events": sum(counts.values()), "user": counts.get("user", 0), "sessions": counts.get("session_started", 0)}


def bot_history(session: Session, *, chat_id: int, turns: int, texts: tuple[str, ...]) -> None:
    """The bot's own record of those earlier turns: stored updates and sent replies, in the past."""
    start = utcnow() - timedelta(days=90)
    inbound, outbox = [], []
    for number in range(turns):
        at = start + timedelta(hours=number)
        update_id = HISTORY_UPDATE_IDS + number
        inbound.append(
            {
                "update_id": update_id,
                "chat_id": chat_id,
                "kind": "rasa",
                "payload": {"text": texts[number % len(texts)], "user_id": chat_id, "meta": {}},
                "status": "done",
                "attempts": 0,
                "received_at": at,
                "processed_at": at,
            }
        )
        outbox.append(
            {
                "purpose": f"reply:{update_id}:0",
                "recipient_chat_id": chat_id,
                "method": "sendMessage",
                "payload": {"text": "(earlier reply)", "parse_mode": "HTML"},
                "status": "sent",
                "priority": 10,
                "attempts": 0,
                "not_before": at,
                "created_at": at,
                "sent_at": at,
            }
        )
    session.execute(insert(models.InboundUpdate), inbound)
    session.execute(insert(models.OutboxMessage), outbox)


async def measure(
    stack: Stack, *, history_turns: int = 300, measured_turns: int = 30, script: tuple[str, ...] = SCRIPT
) -> dict[str, Any]:
    await stack.db(lambda s: create_residents(s, [LONG_ID]))
    stack.seen.reset()
    expiry_s = 2 * 3600.0  # beyond session_expiration_time (60 min in domain/core.yml)
    visits = max(1, round(history_turns / len(script)))
    built = failed = 0
    started = time.monotonic()
    for _visit in range(visits):
        for line in script:
            _seconds, replies = await stack.rasa.turn(LONG_ID, line)
            built += 1
            failed += not replies
        await asyncio.to_thread(age_tracker, stack, LONG_ID, expiry_s)
    build_seconds = time.monotonic() - started
    await stack.db(lambda s: bot_history(s, chat_id=LONG_ID, turns=built, texts=script))
    before = await asyncio.to_thread(tracker_counts, stack, LONG_ID)

    gap = stack.limits.per_chat_gap + 0.05
    times: dict[int, list[float]] = {LONG_ID: [], NEW_ID: []}
    unanswered = 0
    for step in range(measured_turns):
        line = script[step % len(script)]
        for chat in (LONG_ID, NEW_ID) if step % 2 == 0 else (NEW_ID, LONG_ID):
            await stack.seen.quiet(chat, gap)
            answered, _update_id = await stack.bot_turn(chat, line)
            if answered is None:
                unanswered += 1
                continue
            times[chat].append(answered)
            await stack.settle(chat)
    long_summary, new_summary = summary_ms(times[LONG_ID]), summary_ms(times[NEW_ID])
    return {
        "history": {
            "turns": built,
            "visits (sessions)": visits,
            "failed": failed,
            "build_seconds": round(build_seconds, 1),
            "rasa_tracker_before": before,
            "how": "straight REST; after each visit its events are moved back 2 h (session expiry is 60 min)",
        },
        "measured_turns_each": measured_turns,
        "long_lived": {**long_summary, "first_turn_ms": round(times[LONG_ID][0] * 1000, 1) if times[LONG_ID] else None},
        "new_resident": new_summary,
        "ratio_p50": ratio(long_summary["p50_ms"], new_summary["p50_ms"]),
        "unanswered": unanswered,
        "per_chat_pacing": "excluded, as in turn latency",
    }
