"""Answering button presses: after the work, best-effort.

Telegram accepts an answer to a callback query only for a short while. A press handled late (behind a slow
turn in the same chat, or after a restart) can no longer be answered ("query is too old"); that must never
skip or undo what the press asked for. So every handler does the work first and answers last, through here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery
from telegram.error import TelegramError

log = logging.getLogger(__name__)
CHANNEL_QUERY = "ch"  # the id of a press on the web chat or WhatsApp (wijkbot.channels): no Telegram to answer
# Set by the bot when it starts (bot/main.py): queue `text` as a message to the chat of a channel press.
channel_notice: Callable[[int, int, str], Awaitable[None]] | None = None


async def answer_quietly(query: CallbackQuery, text: str | None = None, *, show_alert: bool = False) -> bool:
    """Answer the press (stops the spinner, shows `text`); False when Telegram no longer takes the answer.
    A press on the web chat or WhatsApp has no spinner; its `text` reaches the resident as a message."""
    if query.id.startswith(CHANNEL_QUERY):
        if text and channel_notice is not None and query.from_user is not None:
            await channel_notice(query.from_user.id, int(query.id.removeprefix(CHANNEL_QUERY)), text)
        return True
    try:
        await query.answer(text, show_alert=show_alert)
    except TelegramError as exc:
        log.info("button press %s not answered (handled late?): %s", query.id, exc)
        return False
    return True
