"""A plain python-telegram-bot → Rasa forwarder, in its own process: the floor the whole stack is measured against.

DESIGN.md measured such a forwarder, with no database at all, at 1.21× Rasa's own turn; the latency part runs
this one in the same run as the whole stack and Rasa's REST webhook, so the three figures share the machine's
noise. It is what the bot would be without durability: long polling (`run_polling`) with `concurrent_updates`
(residents are answered in parallel), one handler for private text that POSTs the text to Rasa's REST webhook
over one shared `httpx.AsyncClient`, and sends the answer back with `send_message` (HTML), the texts of one
turn joined into messages by the bot's own rule (`bot.conversation.messages_from_replies`), so both paths send
the same number of messages. No database, no outbox, no rate limiter, no retry: a failed turn is logged and
left unanswered (the bench counts it).

Rasa gets the same metadata the bot sends (`telegram`: ids, first name, language; no update id), so its
actions do the same work on every path. Buttons go out as an inline keyboard with short callback data
(``b:<index>``, as short as the bot's own); presses are not handled, the bench never presses.

Settings come from the environment: TELEGRAM_BOT_TOKEN, TELEGRAM_BASE_URL (the fake Bot API), RASA_URL and
RASA_TOKEN (empty when Rasa's API has no token). SIGTERM or Ctrl-C stops it (run_polling's own stop signals).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import httpx
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.conversation import OutgoingMessage, messages_from_replies
from bot.rasa_client import parse_reply

log = logging.getLogger("bench.forwarder")
CLIENT = "rasa_client"  # bot_data key of the shared httpx client
RASA_TIMEOUT = 90.0  # as the bench's own REST client: a slow turn is waited for, never resent


@dataclass(frozen=True)
class ForwarderSettings:
    telegram_token: str
    telegram_base_url: str
    rasa_url: str
    rasa_token: str | None

    @classmethod
    def from_environment(cls) -> ForwarderSettings:
        """The four settings, by the names the bot reads (wijkbot.settings)."""
        return cls(
            telegram_token=os.environ["TELEGRAM_BOT_TOKEN"],
            telegram_base_url=os.environ.get("TELEGRAM_BASE_URL") or "https://api.telegram.org/bot",
            rasa_url=os.environ.get("RASA_URL") or "http://127.0.0.1:5005",
            rasa_token=os.environ.get("RASA_TOKEN") or None,
        )


def rasa_payload(update: Update, text: str) -> dict[str, Any]:
    """The REST webhook's body: the sender is the Telegram user id, with the metadata the bot sends."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    meta = {"user_id": user.id, "chat_id": chat.id, "first_name": user.first_name, "language_code": user.language_code}
    return {"sender": str(user.id), "message": text, "metadata": {"telegram": meta}}


def telegram_messages(body: Any) -> list[OutgoingMessage]:
    """Rasa's answer as the Telegram messages the bot would make of it (texts joined, buttons end a message)."""
    replies = [parse_reply(entry) for entry in body if isinstance(entry, dict)] if isinstance(body, list) else []
    return messages_from_replies([reply for reply in replies if reply.text or reply.buttons])


def keyboard(message: OutgoingMessage) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b["title"][:64] or "…", callback_data=f"b:{i}")] for i, b in enumerate(message.buttons)]
    )


async def forward(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One turn: the text to Rasa, Rasa's answer back to the chat, message by message."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or message.text is None or update.effective_user is None:
        return
    client: httpx.AsyncClient = context.bot_data[CLIENT]
    response = await client.post("/webhooks/rest/webhook", json=rasa_payload(update, message.text))
    response.raise_for_status()
    for outgoing in telegram_messages(response.json()):
        await context.bot.send_message(
            chat.id, outgoing.text, parse_mode=ParseMode.HTML, reply_markup=keyboard(outgoing)
        )


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("a turn failed: %r", context.error)


def build(settings: ForwarderSettings) -> Application[Any, Any, Any, Any, Any, Any]:
    """The application: the shared Rasa client lives from post_init to post_shutdown."""

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        application.bot_data[CLIENT] = httpx.AsyncClient(
            base_url=settings.rasa_url.rstrip("/"),
            params={"token": settings.rasa_token} if settings.rasa_token else None,
            timeout=RASA_TIMEOUT,
            trust_env=False,
        )

    async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        client = application.bot_data.pop(CLIENT, None)
        if client is not None:
            await client.aclose()

    application = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_base_url)
        .concurrent_updates(True)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.TEXT, forward))
    application.add_error_handler(log_error)
    return application


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build(ForwarderSettings.from_environment()).run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
