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
