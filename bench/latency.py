"""Part 1, turn latency: one turn at a time, through the whole stack, through a plain forwarder and straight to
Rasa, interleaved.

Each path has its own residents, all running the same script; the three paths take turns (the order rotates
every round), so all see the same machine noise. Rasa answers the same text in the same dialogue state on
every path. The forwarder (bench/forwarder_process.py: python-telegram-bot → Rasa, no database) is the floor
for the whole stack: what any Telegram front door adds to Rasa's own turn. Per-chat pacing (Telegram's one
message a second per chat, which the sender keeps) is kept *out* of this figure: a resident's next turn waits
until its previous replies have left and a second has passed, and the figure is the time until the first reply
reaches the fake Bot API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.common import SCRIPT, cpu_ms_per, cpu_seconds, ratio, summary_ms
from bench.forwarder import Forwarder
from bench.stack import FIRST_NAME, Stack, accounting, telegram_messages
from db import models
from wijkbot.residents import get_or_create_resident

BOT_IDS = 620_000_000
REST_IDS = 621_000_000
FORWARDER_IDS = 622_000_000
PATHS = ("rest", "bot", "forwarder")


def create_residents(session: Session, ids: list[int]) -> None:
    """Residents for the REST and forwarder paths, as the bot creates them before it asks Rasa: the actions
    then see the same database state on every path."""
    for telegram_id in ids:
        get_or_create_resident(session, telegram_id=telegram_id, first_name=FIRST_NAME, language="nl")


def stages(session: Session, *, update_id: int) -> tuple[datetime | None, datetime | None]:
    """When the bot stored the update, and when it queued the turn's first reply."""
    inbound = session.get(models.InboundUpdate, update_id)
    queued = session.scalar(
        select(models.OutboxMessage.created_at).where(models.OutboxMessage.purpose == f"reply:{update_id}:0")
    )
    return (inbound.received_at if inbound else None), queued


@dataclass
class Tally:
    """What the three paths measured, turn by turn."""

    rest: list[float] = field(default_factory=list)
    bot: list[float] = field(default_factory=list)
    forwarder: list[float] = field(default_factory=list)
    rest_failed: int = 0
    bot_unanswered: int = 0
    forwarder_unanswered: int = 0
    multi_message_turns: int = 0
    breakdown: dict[str, list[float]] = field(default_factory=lambda: {"delivery": [], "handling": [], "sending": []})
    transcript: list[dict[str, str]] = field(default_factory=list)


def path_order(step: int, resident: int) -> tuple[str, ...]:
    """The three paths in an order that rotates every round, so each takes each place as often."""
    shift = (step + resident) % len(PATHS)
    return PATHS[shift:] + PATHS[:shift]


async def rest_turn(stack: Stack, tally: Tally, user_id: int, text: str, *, record: bool) -> None:
    seconds, replies = await stack.rasa.turn(user_id, text)
    if record:
        answer = " / ".join(str(r.get("text") or "")[:90] for r in replies or [])
        tally.transcript.append({"resident": text, "assistant": answer})
    if replies:
        tally.rest.append(seconds)
        tally.multi_message_turns += telegram_messages(replies) > 1
    else:
        tally.rest_failed += 1


async def bot_turn(stack: Stack, tally: Tally, chat: int, text: str, gap: float) -> None:
    await stack.seen.quiet(chat, gap)
    pushed_at = datetime.now(UTC)
    answered, update_id = await stack.bot_turn(chat, text)
    if answered is None:
        tally.bot_unanswered += 1
        return
    tally.bot.append(answered)
    await stack.settle(chat)
    stored, queued = await stack.db(partial(stages, update_id=update_id))
    if stored is not None and queued is not None:
        first_reply_at = pushed_at.timestamp() + answered  # wall clock of the reply's arrival
        tally.breakdown["delivery"].append(stored.timestamp() - pushed_at.timestamp())
        tally.breakdown["handling"].append(queued.timestamp() - stored.timestamp())
        tally.breakdown["sending"].append(first_reply_at - queued.timestamp())


async def forwarder_turn(forwarder: Forwarder, tally: Tally, chat: int, text: str, gap: float) -> None:
    """The bot path's pacing rule: the chat's next turn waits until a second passed since its last message."""
    await forwarder.seen.quiet(chat, gap)
    answered = await forwarder.turn(chat, text)
    if answered is None:
        tally.forwarder_unanswered += 1
    else:
        tally.forwarder.append(answered)


async def measure(stack: Stack, *, residents: int = 8, script: tuple[str, ...] = SCRIPT) -> dict[str, Any]:
    bot_ids = [BOT_IDS + i for i in range(residents)]
    rest_ids = [REST_IDS + i for i in range(residents)]
    forwarder_ids = [FORWARDER_IDS + i for i in range(residents)]
    await stack.db(lambda s: create_residents(s, rest_ids + forwarder_ids))
    stack.seen.reset()  # nothing is in flight between parts: start the fake's record afresh
    gap = stack.limits.per_chat_gap + 0.05
    tally = Tally()
    token = stack.settings.rasa_token
    forwarder = await Forwarder.start(stack.settings.rasa_url, token.get_secret_value() if token else None)
    try:
        bot_cpu_before = cpu_seconds(stack.bot_pid)
        forwarder_cpu_before = cpu_seconds(forwarder.pid)
        for step, text in enumerate(script):
            for resident in range(residents):
                for path in path_order(step, resident):
                    if path == "rest":
                        await rest_turn(stack, tally, rest_ids[resident], text, record=resident == 0)
                    elif path == "bot":
                        await bot_turn(stack, tally, bot_ids[resident], text, gap)
                    else:
                        await forwarder_turn(forwarder, tally, forwarder_ids[resident], text, gap)
        bot_cpu = cpu_ms_per(bot_cpu_before, cpu_seconds(stack.bot_pid), len(tally.bot))
        forwarder_cpu = cpu_ms_per(forwarder_cpu_before, cpu_seconds(forwarder.pid), len(tally.forwarder))
    finally:
        await forwarder.stop()
    accounts = await stack.db(lambda s: accounting(s, update_ids=[], chat_ids=bot_ids))
    return report(
        tally,
        residents=residents,
        script=script,
        holding_replies=accounts.get("outbox_purpose_holding", 0),
        bot_cpu=bot_cpu,
        forwarder_cpu=forwarder_cpu,
    )


def report(
    tally: Tally,
    *,
    residents: int,
    script: tuple[str, ...],
    holding_replies: int,
    bot_cpu: float | None,
    forwarder_cpu: float | None,
) -> dict[str, Any]:
    """The part's result: the three paths' summaries and their ratios."""
    rest = summary_ms(tally.rest)
    bot = summary_ms(tally.bot)
    forwarder = summary_ms(tally.forwarder)
    return {
        "turns_per_path": residents * len(script),
        "residents_per_path": residents,
        "script": list(script),
        "whole_stack": {
            **bot,
            "unanswered": tally.bot_unanswered,
            "holding_replies": holding_replies,
            "bot_cpu_ms_per_turn": bot_cpu,
        },
        "rasa_rest": {**rest, "failed": tally.rest_failed},
        "forwarder": {
            **forwarder,
            "unanswered": tally.forwarder_unanswered,
            "forwarder_cpu_ms_per_turn": forwarder_cpu,
        },
        "ratio_p50": ratio(bot["p50_ms"], rest["p50_ms"]),
        "ratio_p95": ratio(bot["p95_ms"], rest["p95_ms"]),
        "ratio_p50_forwarder_vs_rest": ratio(forwarder["p50_ms"], rest["p50_ms"]),
        "ratio_p50_whole_stack_vs_forwarder": ratio(bot["p50_ms"], forwarder["p50_ms"]),
        "added_p50_ms": round(bot["p50_ms"] - rest["p50_ms"], 1) if bot["p50_ms"] and rest["p50_ms"] else None,
        "whole_stack_stages_median_ms": {
            "telegram_to_stored": _median_ms(tally.breakdown["delivery"]),
            "stored_to_reply_queued (incl. Rasa and actions)": _median_ms(tally.breakdown["handling"]),
            "reply_queued_to_arrived": _median_ms(tally.breakdown["sending"]),
        },
        "turns_with_more_than_one_message": tally.multi_message_turns,
        "per_chat_pacing": "excluded: a resident's next turn waits until its replies left and 1 s passed",
        "transcript_of_one_resident (REST)": tally.transcript,
    }


def _median_ms(values: list[float]) -> float | None:
    return round(median(values) * 1000, 1) if values else None
