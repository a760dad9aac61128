"""Part 2, throughput: 50 residents talking at once, each answering as soon as its replies are in.

Straight to Rasa first (50 concurrent REST clients), then the same 50 × N turns through the whole stack with
other residents. Per-chat pacing *is* part of the whole-stack figure: a resident's reply may leave at most
one second after the previous message to that chat, as Telegram demands (with 50 residents that caps the
stack at 50 turns/s, above what one Rasa serves here). Lost and answered-twice turns are counted from the
database (inbound_update status, outbox rows), the fake Bot API's record, and Rasa's tracker store.

Telegram's limits could also cap the whole stack: 30 messages a second for the whole bot, and Rasa serves
more turns than that since ADR 0009. To tell the two apart, the same turns run a third time, with yet other
residents, through a bot whose sender has no limits (as the broadcast part's raw rate does): what the bot
itself carries. The bot is then started again with its own limits.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import bindparam, text

from bench.common import SCRIPT, cpu_ms_per, cpu_seconds, ratio
from bench.latency import create_residents
from bench.stack import Stack, accounting, count_turn_outcomes, sent_rows_by_chat, telegram_messages

BOT_IDS = 630_000_000
REST_IDS = 631_000_000
UNLIMITED_IDS = 632_000_000


def rasa_user_turns(stack: Stack, sender_ids: list[int]) -> dict[int, int]:
    """User messages Rasa stored per sender (its SQL tracker store): each turn must be there exactly once."""
    query = text(
        "SELECT sender_id, count(*) FROM events WHERE type_name = 'user' AND sender_id IN :ids GROUP BY sender_id"
    ).bindparams(bindparam("ids", expanding=True))
    with stack.tracker_engine.connect() as connection:
        rows = connection.execute(query, {"ids": [str(i) for i in sender_ids]}).all()
    return {int(sender): int(count) for sender, count in rows}


async def measure(stack: Stack, *, residents: int = 50, script: tuple[str, ...] = SCRIPT[:6]) -> dict[str, Any]:
    rest_ids = [REST_IDS + i for i in range(residents)]
    bot_ids = [BOT_IDS + i for i in range(residents)]
    await stack.db(lambda s: create_residents(s, rest_ids))
    stack.seen.reset()
    turns = residents * len(script)

    # --- straight to Rasa ---------------------------------------------------------------------------
    expected: dict[int, list[int]] = {}
    rest_failed = 0

    async def rest_resident(index: int) -> None:
        nonlocal rest_failed
        counts = expected.setdefault(index, [])
        for line in script:
            _seconds, replies = await stack.rasa.turn(rest_ids[index], line)
            rest_failed += replies is None or not replies
            counts.append(max(1, telegram_messages(replies)))

    started = time.monotonic()
    await asyncio.gather(*(rest_resident(i) for i in range(residents)))
    rest_elapsed = time.monotonic() - started

    # --- through the whole stack, within Telegram's limits ------------------------------------------------
    limited = await bot_round(stack, bot_ids, script, expected)

    # --- the same, through a bot whose sender has no limits ---------------------------------------------
    unlimited_ids = [UNLIMITED_IDS + i for i in range(residents)]
    await stack.stop_bot()
    await stack.start_bot(unlimited=True)
    try:
        unlimited = await bot_round(stack, unlimited_ids, script, expected)
    finally:
        await stack.stop_bot()
        await stack.start_bot()
    rest_rate = turns / rest_elapsed if rest_elapsed else None
    return {
        "residents": residents,
        "turns_per_resident": len(script),
        "turns": turns,
        "whole_stack": limited,
        "whole_stack_without_telegram_limits": unlimited,
        "rasa_rest": {"seconds": round(rest_elapsed, 2), "turns_per_s": _r(rest_rate), "failed": rest_failed},
        "ratio": ratio(limited["turns_per_s"], rest_rate),
        "ratio_without_telegram_limits": ratio(unlimited["turns_per_s"], rest_rate),
        "per_chat_pacing": "included: at most one message a second per chat and 30 a second in all, as Telegram "
        "requires; whole_stack_without_telegram_limits: neither",
    }


async def bot_round(
    stack: Stack, bot_ids: list[int], script: tuple[str, ...], expected: dict[int, list[int]]
) -> dict[str, Any]:
    """These residents' turns through the running bot at once; what arrived, how fast, and what went wrong."""
    update_ids: list[int] = []
    unanswered = 0
    last_arrival = 0.0

    async def bot_resident(index: int) -> None:
        nonlocal unanswered, last_arrival
        chat = bot_ids[index]
        count = stack.seen.count(chat)
        for step, line in enumerate(script):
            count += expected[index][step]  # the resident reads all replies of its turn, then answers
            update = stack.fake.push_text(chat, line, first_name="Bewoner")
            update_ids.append(int(update["update_id"]))
            arrived = await stack.wait_reply(chat, count)
            if arrived is None:
                unanswered += 1
                count = stack.seen.count(chat)
                continue
            last_arrival = max(last_arrival, arrived)

    bot_cpu_before = cpu_seconds(stack.bot_pid)
    started = time.monotonic()
    await asyncio.gather(*(bot_resident(i) for i in range(len(bot_ids))))
    bot_elapsed = (last_arrival or time.monotonic()) - started

    bot_cpu = cpu_ms_per(bot_cpu_before, cpu_seconds(stack.bot_pid), len(update_ids))
    settled = all(await asyncio.gather(*(stack.settle(chat, timeout=60) for chat in bot_ids)))
    stack.seen.poll()
    accounts = await stack.db(lambda s: accounting(s, update_ids=update_ids, chat_ids=bot_ids))
    rows = await stack.db(lambda s: sent_rows_by_chat(s, bot_ids))
    outcome = count_turn_outcomes(
        pushed=len(update_ids),
        accounts=accounts,
        delivered_by_chat={chat: stack.seen.count(chat) for chat in bot_ids},
        sent_rows_by_chat=rows,
    )
    rasa_turns = await asyncio.to_thread(rasa_user_turns, stack, bot_ids)
    per_resident = len(script)
    outcome["rasa_turns_missing"] = sum(max(0, per_resident - rasa_turns.get(chat, 0)) for chat in bot_ids)
    outcome["rasa_turns_twice"] = sum(max(0, rasa_turns.get(chat, 0) - per_resident) for chat in bot_ids)
    bot_rate = len(bot_ids) * per_resident / bot_elapsed if bot_elapsed > 0 else None
    return {
        "seconds": round(bot_elapsed, 2),
        "turns_per_s": _r(bot_rate),
        "unanswered_within_timeout": unanswered,
        "settled": settled,
        "holding_replies": accounts.get("outbox_purpose_holding", 0),
        "bot_cpu_ms_per_turn": bot_cpu,
        **outcome,
        "database": accounts,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
