"""Part 1, turn latency: one turn at a time, through the whole stack and straight to Rasa, interleaved.

Each path has its own residents, all running the same script; the two paths take turns (the order flips
every round), so both see the same machine noise. Rasa answers the same text in the same dialogue state
on both paths. Per-chat pacing (Telegram's one message a second per chat, which the sender keeps) is kept
*out* of this figure: a resident's next turn waits until its previous replies have left and a second has
passed, and the figure is the time until the first reply reaches the fake Bot API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.common import SCRIPT, cpu_ms_per, cpu_seconds, ratio, summary_ms
from bench.stack import FIRST_NAME, Stack, accounting, telegram_messages
from db import models
from wijkbot.residents import get_or_create_resident

BOT_IDS = 620_000_000
REST_IDS = 621_000_000


def create_residents(session: Session, ids: list[int]) -> None:
    """Residents for the REST path, as the bot creates them before it asks Rasa: the actions then see the
    same database state on both paths."""
    for telegram_id in ids:
        get_or_create_resident(session, telegram_id=telegram_id, first_name=FIRST_NAME, language="nl")


def stages(session: Session, *, update_id: int) -> tuple[datetime | None, datetime | None]:
    """When the bot stored the update, and when it queued the turn's first reply."""
    inbound = session.get(models.InboundUpdate, update_id)
    queued = session.scalar(
        select(models.OutboxMessage.created_at).where(models.OutboxMessage.purpose == f"reply:{update_id}:0")
    )
    return (inbound.received_at if inbound else None), queued


async def measure(stack: Stack, *, residents: int = 8, script: tuple[str, ...] = SCRIPT) -> dict[str, Any]:
    bot_ids = [BOT_IDS + i for i in range(residents)]
    rest_ids = [REST_IDS + i for i in range(residents)]
    await stack.db(lambda s: create_residents(s, rest_ids))
    stack.seen.reset()  # nothing is in flight between parts: start the fake's record afresh
    gap = stack.limits.per_chat_gap + 0.05
    rest_times: list[float] = []
    bot_times: list[float] = []
    rest_failed = bot_unanswered = multi_message_turns = 0
    breakdown: dict[str, list[float]] = {"delivery": [], "handling": [], "sending": []}
    transcript: list[dict[str, str]] = []
    bot_cpu_before = cpu_seconds(stack.bot_pid)
    for step, text in enumerate(script):
        for resident in range(residents):
            for path in ("rest", "bot") if (step + resident) % 2 == 0 else ("bot", "rest"):
                if path == "rest":
                    seconds, replies = await stack.rasa.turn(rest_ids[resident], text)
                    if resident == 0:
                        answer = " / ".join(str(r.get("text") or "")[:90] for r in replies or [])
                        transcript.append({"resident": text, "assistant": answer})
                    if replies:
                        rest_times.append(seconds)
                        multi_message_turns += telegram_messages(replies) > 1
                    else:
                        rest_failed += 1
                    continue
                chat = bot_ids[resident]
                await stack.seen.quiet(chat, gap)
                pushed_at = datetime.now(UTC)
                answered, update_id = await stack.bot_turn(chat, text)
                if answered is None:
                    bot_unanswered += 1
                    continue
                bot_times.append(answered)
                await stack.settle(chat)
                stored, queued = await stack.db(partial(stages, update_id=update_id))
                if stored is not None and queued is not None:
                    first_reply_at = pushed_at.timestamp() + answered  # wall clock of the reply's arrival
                    breakdown["delivery"].append(stored.timestamp() - pushed_at.timestamp())
                    breakdown["handling"].append(queued.timestamp() - stored.timestamp())
                    breakdown["sending"].append(first_reply_at - queued.timestamp())
    bot_cpu = cpu_ms_per(bot_cpu_before, cpu_seconds(stack.bot_pid), len(bot_times))
    accounts = await stack.db(lambda s: accounting(s, update_ids=[], chat_ids=bot_ids))
    rest = summary_ms(rest_times)
    bot = summary_ms(bot_times)
    return {
        "turns_per_path": residents * len(script),
        "residents_per_path": residents,
        "script": list(script),
        "whole_stack": {
            **bot,
            "unanswered": bot_unanswered,
            "holding_replies": accounts.get("outbox_purpose_holding", 0),
            "bot_cpu_ms_per_turn": bot_cpu,
        },
        "rasa_rest": {**rest, "failed": rest_failed},
        "ratio_p50": ratio(bot["p50_ms"], rest["p50_ms"]),
        "ratio_p95": ratio(bot["p95_ms"], rest["p95_ms"]),
        "added_p50_ms": round(bot["p50_ms"] - rest["p50_ms"], 1) if bot["p50_ms"] and rest["p50_ms"] else None,
        "whole_stack_stages_median_ms": {
            "telegram_to_stored": _median_ms(breakdown["delivery"]),
            "stored_to_reply_queued (incl. Rasa and actions)": _median_ms(breakdown["handling"]),
            "reply_queued_to_arrived": _median_ms(breakdown["sending"]),
        },
        "turns_with_more_than_one_message": multi_message_turns,
        "per_chat_pacing": "excluded: a resident's next turn waits until its replies left and 1 s passed",
        "transcript_of_one_resident (REST)": transcript,
    }


def _median_ms(values: list[float]) -> float | None:
    return round(median(values) * 1000, 1) if values else None
