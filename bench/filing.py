"""Part `filing`: every confirmed report becomes exactly one item, also when a turn outlasts the bot's patience.

Through the whole stack (the fake Bot API, the bot, Rasa, the action server), each resident reports a
defect, gives the postcode and confirms with "ja". Two rounds:
- `load`: `residents` residents at once, with the bot's own settings;
- `drill`: `drill_residents` residents, with a bot that waits only `DRILL_TIMEOUT_S` for Rasa. The moment
  their "ja" is sent, the action server is paused (SIGSTOP) for `DRILL_PAUSE_S`, longer than the bot waits,
  then resumed (SIGCONT): the turn that files the item outlasts the bot, which gives up and tries again.
Counted from the database and the fake Bot API, per resident: items filed (want exactly 1), staff
notifications of those items per staff member (want 1), and receipts received ("... melding (nummer N)",
want 1). The bot's own settings are restored afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.stack import Stack
from db import models
from wijkbot.postcodes import Status, resolve_postcode
from wijkbot.staff import add_staff

FIRST_RESIDENT = 640_000_000
DRILL_RESIDENT = 641_000_000
STAFF_TELEGRAM_ID = 642_000_001
POSTCODE = "4911 AB"  # Oosterhout, as in bench.common.SCRIPT
REPORT = "de lantaarnpaal bij de speeltuin is kapot"
RECEIPT = "melding (nummer"
DRILL_TIMEOUT_S = 3.0
DRILL_PAUSE_S = 8.0
SETTLE_S = 180.0


def add_area_staff(session: Session, stack: Stack) -> int:
    """A wijkmakelaar with Telegram for the area of POSTCODE (the notifications to count go to them)."""
    registry = stack.db_services.registry
    found = resolve_postcode(POSTCODE, registry)
    if found.status is not Status.UNIQUE:
        raise RuntimeError(f"{POSTCODE} is not in exactly one area of the municipality data")
    area = found.areas[0]
    existing = session.scalar(select(models.StaffMember).where(models.StaffMember.telegram_id == STAFF_TELEGRAM_ID))
    if existing is not None:
        return int(existing.id)
    member = add_staff(
        session,
        registry,
        name="Bench wijkmakelaar",
        role="wijkmakelaar",
        area_codes=[area.code],
        telegram_id=STAFF_TELEGRAM_ID,
    )
    return int(member.id)


def items_and_notices(session: Session, resident_ids: list[int]) -> tuple[Counter[int], Counter[tuple[int, int]]]:
    """Per resident (Telegram id): items filed; per (resident, staff chat): `new` notifications of those items."""
    rows = session.execute(
        select(models.Item.id, models.Resident.telegram_id)
        .join(models.Resident, models.Item.resident_id == models.Resident.id)
        .where(models.Resident.telegram_id.in_(resident_ids))
    ).all()
    items = Counter(int(telegram_id) for _, telegram_id in rows)
    owner = {int(item_id): int(telegram_id) for item_id, telegram_id in rows}
    notices: Counter[tuple[int, int]] = Counter()
    if owner:
        for purpose, chat in session.execute(
            select(models.OutboxMessage.purpose, models.OutboxMessage.recipient_chat_id).where(
                models.OutboxMessage.item_id.in_(list(owner))
            )
        ):
            parts = str(purpose).split(":")
            if len(parts) >= 3 and parts[0] == "item" and parts[2] == "new":
                notices[(owner[int(parts[1])], int(chat))] += 1
    return items, notices


def receipts(stack: Stack, chat_id: int) -> int:
    return sum(
        1
        for call in stack.fake.calls("sendMessage")
        if call.params.get("chat_id") == chat_id and call.status == 200 and RECEIPT in str(call.params.get("text"))
    )


async def report_and_confirm(stack: Stack, chat: int, *, before_confirm: Any = None) -> bool:
    """One resident's report: the defect, the postcode, then "ja" (after `before_confirm()` when given).
    True when the defect and the postcode were answered."""
    answered = True
    for line in (REPORT, POSTCODE):
        count = stack.seen.count(chat) + 1
        stack.fake.push_text(chat, line, first_name="Bewoner")
        answered &= await stack.wait_reply(chat, count) is not None
        await stack.settle(chat, timeout=60)
    if before_confirm is not None:
        await before_confirm()
    stack.fake.push_text(chat, "ja", first_name="Bewoner")
    return answered


async def until_receipts(stack: Stack, chats: list[int], timeout: float = SETTLE_S) -> bool:
    """Wait until every resident got a receipt (or `timeout`), then until nothing of theirs is left to do."""
    deadline = time.monotonic() + timeout
    while any(receipts(stack, chat) == 0 for chat in chats) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    return all(
        await asyncio.gather(*(stack.settle(chat, timeout=max(1.0, deadline - time.monotonic())) for chat in chats))
    )


def tally(
    chats: list[int], items: Counter[int], notices: Counter[tuple[int, int]], receipts_by_chat: dict[int, int]
) -> dict[str, int]:
    """The round's counts: what should be one per resident (items, receipts) or per staff member and item."""
    return {
        "residents": len(chats),
        "items": sum(items[chat] for chat in chats),
        "residents_without_item": sum(1 for chat in chats if items[chat] == 0),
        "duplicate_items": sum(max(0, items[chat] - 1) for chat in chats),
        "staff_notified": len({staff for _, staff in notices}),
        "notifications_twice": sum(max(0, count - 1) for count in notices.values()),
        "receipts": sum(receipts_by_chat.get(chat, 0) for chat in chats),
        "residents_without_receipt": sum(1 for chat in chats if receipts_by_chat.get(chat, 0) == 0),
        "receipts_twice": sum(max(0, receipts_by_chat.get(chat, 0) - 1) for chat in chats),
    }


async def load_round(stack: Stack, residents: int) -> dict[str, Any]:
    chats = [FIRST_RESIDENT + i for i in range(residents)]
    started = time.monotonic()
    await asyncio.gather(*(report_and_confirm(stack, chat) for chat in chats))
    settled = await until_receipts(stack, chats)
    stack.seen.poll()
    items, notices = await stack.db(lambda s: items_and_notices(s, chats))
    return {
        "seconds": round(time.monotonic() - started, 1),
        "settled": settled,
        **tally(chats, items, notices, {chat: receipts(stack, chat) for chat in chats}),
    }


async def drill_round(stack: Stack, residents: int) -> dict[str, Any]:
    chats = [DRILL_RESIDENT + i for i in range(residents)]
    actions_pid = stack.actions_pid
    assert actions_pid is not None, "the action server is not running"
    ready = 0
    all_ready = asyncio.Event()
    paused = asyncio.Event()

    async def pause_when_all_ready() -> None:
        """Every resident has been asked to confirm: pause the action server, then send all the "ja"s."""
        nonlocal ready
        ready += 1
        if ready == residents:
            all_ready.set()
        await all_ready.wait()
        if not paused.is_set():
            os.killpg(actions_pid, signal.SIGSTOP)
            paused.set()

    original = stack.settings
    await stack.stop_bot()
    stack.settings = original.model_copy(
        update={"rasa_timeout_seconds": DRILL_TIMEOUT_S, "holding_reply_after_seconds": 1.0}
    )
    try:
        await stack.start_bot()
        started = time.monotonic()
        await asyncio.gather(*(report_and_confirm(stack, chat, before_confirm=pause_when_all_ready) for chat in chats))
        await asyncio.sleep(DRILL_PAUSE_S)  # the pause itself: the bot gives up on every "ja" meanwhile
    finally:
        if paused.is_set():
            os.killpg(actions_pid, signal.SIGCONT)
    settled = await until_receipts(stack, chats)
    stack.seen.poll()
    items, notices = await stack.db(lambda s: items_and_notices(s, chats))
    holding = await stack.db(lambda s: holding_replies(s, chats))
    retried = await stack.db(lambda s: retried_turns(s, chats))
    await stack.stop_bot()
    stack.settings = original
    await stack.start_bot()
    return {
        "bot_timeout_s": DRILL_TIMEOUT_S,
        "action_server_paused_s": DRILL_PAUSE_S,
        "seconds": round(time.monotonic() - started, 1),
        "settled": settled,
        "holding_replies": holding,
        "turns_retried": retried,
        **tally(chats, items, notices, {chat: receipts(stack, chat) for chat in chats}),
    }


def retried_turns(session: Session, chats: list[int]) -> int:
    """Turns of these chats the bot had to send to Rasa more than once (it gave up waiting at least once)."""
    return len(
        session.execute(
            select(models.InboundUpdate.update_id).where(
                models.InboundUpdate.chat_id.in_(chats), models.InboundUpdate.attempts > 0
            )
        ).all()
    )


def holding_replies(session: Session, chats: list[int]) -> int:
    return len(
        session.execute(
            select(models.OutboxMessage.id).where(
                models.OutboxMessage.recipient_chat_id.in_(chats), models.OutboxMessage.purpose.startswith("holding:")
            )
        ).all()
    )


async def measure(stack: Stack, *, residents: int = 20, drill_residents: int = 5) -> dict[str, Any]:
    await stack.db(lambda s: add_area_staff(s, stack))
    load = await load_round(stack, residents)
    drill = await drill_round(stack, drill_residents)
    return {
        "load": load,
        "drill": drill,
        "duplicate_items": load["duplicate_items"] + drill["duplicate_items"],
        "notifications_twice": load["notifications_twice"] + drill["notifications_twice"],
        "receipts_twice": load["receipts_twice"] + drill["receipts_twice"],
        "residents_without_item": load["residents_without_item"] + drill["residents_without_item"],
    }
