"""Turning outbox rows into Bot API calls, and Telegram's errors into the sender's five kinds."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

import httpx
from telegram import Bot, ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.sender import Blocked, Outgoing, Rejected, RetryLater, Transient, Uncertain
from wijkbot.payloads import Delivery, Document, Edit, Photo, Poll, StopPoll, Text
from wijkbot.telegram_html import plain_text

RASA_BUTTON_PREFIX = "rb"
# httpx errors raised before any byte of the request left: Telegram cannot have seen it
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _client_closed(cause: BaseException) -> bool:
    """PTB's HTTP client was shut down before the call (the bot is stopping): nothing left."""
    return isinstance(cause, RuntimeError) and "not initialized" in str(cause)


def rasa_button_data(row_id: int, index: int) -> str:
    """Short callback data for a Rasa button; the payload itself stays in the database."""
    return f"{RASA_BUTTON_PREFIX}:{row_id}:{index}"


def keyboard(message: Outgoing) -> InlineKeyboardMarkup | None:
    payload = message.payload
    buttons = payload.buttons if isinstance(payload, Text | Edit) else None
    if buttons:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(b["text"], callback_data=b["callback_data"]) for b in row] for row in buttons]
        )
    rasa_buttons = payload.rasa_buttons if isinstance(payload, Text) else None
    if rasa_buttons:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(b["title"][:64] or "…", callback_data=rasa_button_data(message.id, i))]
                for i, b in enumerate(rasa_buttons)
            ]
        )
    return None


def _seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramTransport:
    """Sends outbox rows with python-telegram-bot."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: Outgoing) -> int | Delivery | None:
        try:
            return await self._call(message, html=True)
        except BadRequest as exc:
            if "parse entities" in str(exc).lower() or "can't parse" in str(exc).lower():
                try:
                    return await self._call(message, html=False)
                except TelegramError as again:
                    raise self._classify(again) from again
            raise self._classify(exc) from exc
        except TelegramError as exc:
            raise self._classify(exc) from exc

    @staticmethod
    def _classify(exc: TelegramError) -> Exception:
        if isinstance(exc, RetryAfter):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PTB 22 warns that retry_after will become a timedelta
                return RetryLater(_seconds(exc.retry_after))
        if isinstance(exc, Forbidden):
            return Blocked(str(exc))
        if isinstance(exc, BadRequest):
            if "chat not found" in str(exc).lower():
                return Blocked(str(exc))
            return Rejected(str(exc))
        if isinstance(exc, NetworkError):  # TimedOut is one too
            cause = exc.__cause__
            if cause is None or isinstance(cause, NOT_SENT) or _client_closed(cause):
                return Transient(str(exc))  # Telegram answered with an error (5xx), or nothing was sent
            return Uncertain(f"{exc} ({type(cause).__name__})")  # sent, and the answer was lost
        return Transient(str(exc))

    async def _call(self, message: Outgoing, *, html: bool) -> int | Delivery | None:
        """One Bot API call for the row's message type (wijkbot.payloads)."""
        payload = message.payload
        if isinstance(payload, Text):
            return await self._send_text(message.chat_id, payload, keyboard(message), html=html)
        if isinstance(payload, Photo):
            return await self._send_photo(message.chat_id, payload, html=html)
        if isinstance(payload, Poll):
            return await self._send_poll(message.chat_id, payload)
        if isinstance(payload, Document):
            return await self._send_document(message.chat_id, payload)
        if isinstance(payload, Edit):
            await self._edit(message.chat_id, payload, keyboard(message), html=html)
        else:
            await self._stop_poll(message.chat_id, payload)
        return None

    async def _send_text(self, chat_id: int, text: Text, markup: InlineKeyboardMarkup | None, *, html: bool) -> int:
        asked = ForceReply(input_field_placeholder=text.ask[:64]) if text.ask and markup is None else None
        sent = await self.bot.send_message(
            chat_id=chat_id,
            text=text.text if html else plain_text(text.text),
            parse_mode=ParseMode.HTML if html else None,
            reply_markup=asked or markup,
            disable_web_page_preview=True,
        )
        return sent.message_id

    async def _send_photo(self, chat_id: int, photo: Photo, *, html: bool) -> Delivery:
        file: Any = photo.photo
        if photo.upload is not None:  # a stored file not uploaded before (wijkbot.media)
            file = InputFile(photo.upload.data, filename=photo.upload.filename or "image.png")
        if file is None:
            raise Rejected("sendPhoto without a photo")
        caption = photo.caption
        sent = await self.bot.send_photo(
            chat_id=chat_id,
            photo=file,
            caption=caption if html or caption is None else plain_text(caption),
            parse_mode=ParseMode.HTML if html else None,
        )
        return Delivery(sent.message_id, file_id=sent.photo[-1].file_id if sent.photo else None)

    async def _send_poll(self, chat_id: int, poll: Poll) -> Delivery:
        sent = await self.bot.send_poll(
            chat_id=chat_id,
            question=poll.question,
            options=poll.options,
            is_anonymous=False,  # answers must reach the bot; residents are told only totals are shown
            allows_multiple_answers=poll.allows_multiple_answers,
        )
        return Delivery(sent.message_id, poll_id=sent.poll.id if sent.poll else None)

    async def _send_document(self, chat_id: int, document: Document) -> int:
        file = InputFile(document.document_text.encode("utf-8"), filename=document.filename)
        sent = await self.bot.send_document(chat_id=chat_id, document=file, caption=document.caption)
        return sent.message_id

    async def _edit(self, chat_id: int, edit: Edit, markup: InlineKeyboardMarkup | None, *, html: bool) -> None:
        try:
            await self.bot.edit_message_text(
                chat_id=chat_id,
                message_id=edit.message_id,
                text=edit.text if html else plain_text(edit.text),
                parse_mode=ParseMode.HTML if html else None,
                reply_markup=markup,
            )
        except BadRequest as exc:
            gone = ("message is not modified", "message to edit not found", "message can't be edited")
            if not any(reason in str(exc).lower() for reason in gone):
                raise

    async def _stop_poll(self, chat_id: int, stop: StopPoll) -> None:
        try:
            await self.bot.stop_poll(chat_id=chat_id, message_id=stop.message_id)
        except BadRequest as exc:
            if "already been closed" not in str(exc).lower():
                raise
