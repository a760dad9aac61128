"""One resident's updates in order, different residents in parallel."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update, User

from bot.processor import PerChatUpdateProcessor


def _update(update_id: int, chat_id: int) -> Update:
    user = User(id=chat_id, first_name="A", is_bot=False)
    chat = Chat(id=chat_id, type="private")
    return Update(update_id, message=Message(update_id, date=None, chat=chat, from_user=user, text="x"))  # type: ignore[arg-type]


async def test_one_chat_in_order_other_chats_in_parallel() -> None:
    processor = PerChatUpdateProcessor(16)
    log: list[tuple[str, int, int]] = []
    running: set[int] = set()
    overlap: list[bool] = []

    async def handle(update_id: int, chat_id: int, delay: float) -> None:
        overlap.append(chat_id in running)
        running.add(chat_id)
        log.append(("start", chat_id, update_id))
        await asyncio.sleep(delay)
        log.append(("end", chat_id, update_id))
        running.discard(chat_id)

    jobs = []
    for update_id, (chat_id, delay) in enumerate([(1, 0.2), (1, 0.0), (2, 0.0), (1, 0.05), (2, 0.1)]):
        jobs.append(
            asyncio.create_task(
                processor.process_update(_update(update_id, chat_id), handle(update_id, chat_id, delay))
            )
        )
        await asyncio.sleep(0)
    await asyncio.gather(*jobs)
    assert not any(overlap)  # never two of one chat at once
    chat_one = [u for kind, chat, u in log if chat == 1 and kind == "start"]
    assert chat_one == [0, 1, 3]  # arrival order kept
    first_end_of_chat_one = log.index(("end", 1, 0))
    assert log.index(("end", 2, 2)) < first_end_of_chat_one  # chat 2 did not wait for chat 1


async def test_a_chat_with_a_long_backlog_does_not_hold_the_slots_of_other_chats() -> None:
    """Chat A: 100 updates behind a handler that waits; chat B's one update is handled meanwhile."""
    processor = PerChatUpdateProcessor(4)
    release_a = asyncio.Event()
    handled_a: list[int] = []
    handled_b = asyncio.Event()

    async def handle_a(update_id: int) -> None:
        if update_id == 0:
            await release_a.wait()
        handled_a.append(update_id)

    async def handle_b() -> None:
        handled_b.set()

    backlog = [
        asyncio.create_task(processor.process_update(_update(update_id, 1), handle_a(update_id)))
        for update_id in range(100)
    ]
    other = asyncio.create_task(processor.process_update(_update(100, 2), handle_b()))
    await asyncio.wait_for(handled_b.wait(), timeout=10)  # a guard only: B must not need A's release
    assert not release_a.is_set() and handled_a == []
    assert processor.current_concurrent_updates <= 1  # only A's head holds a slot
    release_a.set()
    await asyncio.gather(*backlog, other)
    assert handled_a == list(range(100))


async def test_the_number_of_running_updates_stays_within_the_slots() -> None:
    processor = PerChatUpdateProcessor(2)
    gate = asyncio.Event()
    peak = 0
    started: list[int] = []

    async def handle(chat_id: int) -> None:
        nonlocal peak
        started.append(chat_id)
        peak = max(peak, processor.current_concurrent_updates)
        await gate.wait()

    jobs = [asyncio.create_task(processor.process_update(_update(i, 10 + i), handle(10 + i))) for i in range(5)]
    while len(started) < 2:
        await asyncio.sleep(0)
    for _ in range(20):  # give the others every chance to start (they must not)
        await asyncio.sleep(0)
    assert len(started) == 2 and peak == 2
    gate.set()
    await asyncio.gather(*jobs)
    assert sorted(started) == [10, 11, 12, 13, 14] and peak == 2
