"""The terminal chat: the whole stack without Telegram. You play a resident; staff messages are shown too."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from typing import Any, TextIO

from bot.conversation import Conversation
from bot.rasa_client import RasaClient
from bot.sender import OutboxSender, Outgoing, RateLimiter
from db.session import in_thread
from wijkbot.inbound import record_update
from wijkbot.payloads import Poll, Text
from wijkbot.services import Services, open_services
from wijkbot.settings import Settings
from wijkbot.telegram_html import plain_text

TERMINAL_RESIDENT = 1  # the resident you play; staff are shown by their name


class TerminalTransport:
    """Prints what would be sent; remembers the last buttons so you can press one by its number."""

    def __init__(self, services: Services, out: TextIO = sys.stdout) -> None:
        self.services = services
        self.out = out
        self.buttons: list[dict[str, str]] = []
        self._ids = itertools.count(1)

    async def _staff_name(self, chat_id: int) -> str | None:
        from wijkbot.staff import find_staff_by_telegram_id

        member = await in_thread(self.services.sessions, lambda s: find_staff_by_telegram_id(s, telegram_id=chat_id))
        return f"{member.name} ({member.role})" if member else None

    async def send(self, message: Outgoing) -> int | None:
        payload = message.payload
        shown = payload.question if isinstance(payload, Poll) else getattr(payload, "text", "")
        text = plain_text(str(shown or ""))
        if message.chat_id == TERMINAL_RESIDENT:
            print(f"\nwijkbot> {text}", file=self.out)
            self.buttons = list(payload.rasa_buttons or []) if isinstance(payload, Text) else []
            for number, button in enumerate(self.buttons, start=1):
                print(f"   [{number}] {button['title']}", file=self.out)
        else:
            who = await self._staff_name(message.chat_id) or f"chat {message.chat_id}"
            print(f"\n  ── to staff: {who} ──\n  " + text.replace("\n", "\n  "), file=self.out)
        print("jij> ", end="", file=self.out, flush=True)
        return next(self._ids)


async def run_terminal_chat(settings: Settings, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    """Read lines as a resident's messages until /quit or end of input."""
    services = await asyncio.to_thread(open_services, settings)
    rasa = RasaClient.for_settings(settings)
    transport = TerminalTransport(services, out)
    sender = OutboxSender(
        services, transport, limiter=RateLimiter(per_second=None, per_chat_gap=0, group_gap=0), tick_seconds=1.0
    )
    # Turn-based: no background sender. After every turn everything due is shown before the next line is
    # read, so a number typed next always presses the buttons just shown.
    conversation = Conversation(services, rasa, lambda: None)
    update_ids = itertools.count(int(time.time() * 1000) * 1000)
    meta: dict[str, Any] = {
        "user_id": TERMINAL_RESIDENT,
        "chat_id": TERMINAL_RESIDENT,
        "first_name": "Terminal",
        "language_code": "nl",
    }
    try:
        await say(conversation, services, next(update_ids), "/greet", meta)
        await show_due(sender)
        while True:
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            text = line.strip()
            if text in ("/quit", "/exit"):
                break
            if not text:
                continue
            if text.isdigit() and 0 < int(text) <= len(transport.buttons):
                text = transport.buttons[int(text) - 1]["payload"]
            elif text.startswith("/"):
                print("wijkbot> Commando's zijn er in Telegram; typ hier gewoon je bericht.\njij> ", end="", file=out)
                continue
            await say(conversation, services, next(update_ids), text, meta)
            await show_due(sender)
    finally:
        await show_due(sender)  # what is still queued before leaving
        await rasa.aclose()
        services.close()


async def show_due(sender: OutboxSender) -> None:
    while await sender.send_due():
        pass


async def say(conversation: Conversation, services: Services, update_id: int, text: str, meta: dict[str, Any]) -> None:
    """Store the line like an inbound update, then take the turn."""

    await in_thread(
        services.sessions,
        lambda s: record_update(
            s, update_id=update_id, chat_id=TERMINAL_RESIDENT, kind="terminal", payload={"text": text}
        ),
    )
    await conversation.submit(
        update_id=update_id, chat_id=TERMINAL_RESIDENT, user_id=TERMINAL_RESIDENT, text=text, meta=meta
    )
