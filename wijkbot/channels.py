"""Channels: a resident is a person on a channel (Telegram, the web chat, WhatsApp); docs/channels.md.

The rest of wijkbot knows every resident by one integer chat id, and every handler reads Telegram-shaped
updates. Telegram's own ids are kept as they are (user ids have at most 52 significant bits); a person on
another channel gets a chat id from CHANNEL_BASE (2**53) up, in `channel_address`, and what they send is
stored in the inbound log as the Telegram-shaped update it amounts to:

- a typed text is a private `message` (a leading /command gets its `bot_command` entity; an answer to a
  question that asked for typing (`Text.ask`) is a reply to that question, as Telegram's ForceReply makes it);
- a pressed button is a `callback_query` with the button's data, on the message that carried it;
- a chosen poll option (`pv:<poll id>:<index>`, or several `choices`) is a `poll_answer`; on WhatsApp, which
  lets one choose one row at a time, a poll with several answers adds each choice to the earlier ones;
- the poll template's button (`pv:<poll id>:open`, outside WhatsApp's 24-hour window) brings the poll itself.

Every update is stored once per platform message id (`external_id`): a webhook delivered twice, or a widget's
retried POST, is handled once. Outbox rows carry their channel (`outbox.enqueue` asks `channel_of`), and the
sender hands each row to its channel's transport.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import models
from wijkbot.payloads import Poll, Text, UnreadablePayload, from_json

TELEGRAM, WEB, WHATSAPP = "telegram", "web", "whatsapp"
CHANNELS = (TELEGRAM, WEB, WHATSAPP)
CHANNEL_BASE = 2**53  # above every Telegram user id (52 significant bits); groups are negative
WINDOW = timedelta(hours=24)  # WhatsApp's customer-service window after the resident's last message
DEFAULT_NAMES = {WEB: "Bezoeker", WHATSAPP: "WhatsApp-gebruiker"}
POLL_CHOICE = re.compile(r"^pv:([A-Za-z0-9_-]{1,60}):(\d{1,2}|open)$")
CHOICE_FOR = re.compile(r"^pv:([A-Za-z0-9_-]{1,60}):(\d{1,2})$")
MAX_TEXT = 4096


class BadInput(ValueError):
    """What a channel received cannot be a resident's message (the edge answers with a clear error)."""


def is_channel_chat(chat_id: int) -> bool:
    """Whether this chat id is a person on the web chat or WhatsApp (not Telegram)."""
    return chat_id >= CHANNEL_BASE


def channel_of(session: Session, chat_id: int) -> str:
    """The channel a chat is on; a channel chat whose address was erased reads as its old channel's "gone"."""
    return channels_of(session, [chat_id]).get(chat_id, TELEGRAM)


def channels_of(session: Session, chat_ids: Iterable[int]) -> dict[int, str]:
    """The channel of each chat id (one query for all the channel chats among them)."""
    wanted = {chat for chat in chat_ids if is_channel_chat(chat)}
    found: dict[int, str] = {chat: TELEGRAM for chat in chat_ids if not is_channel_chat(chat)}
    if wanted:
        rows = session.execute(
            select(models.ChannelAddress.chat_id, models.ChannelAddress.channel).where(
                models.ChannelAddress.chat_id.in_(wanted)
            )
        )
        found |= {int(chat): str(channel) for chat, channel in rows}
        found |= {chat: "gone" for chat in wanted if chat not in found}
    return found


def address_chat(
    session: Session, *, channel: str, address: str, name: str | None = None, now: datetime, wrote: bool = False
) -> int:
    """The chat id of this person on this channel, created on first use; their name is kept up to date.
    `wrote`: they just sent something (WhatsApp's 24-hour window opens now)."""
    if channel not in (WEB, WHATSAPP):
        raise BadInput(f"unknown channel {channel!r}")
    if not address or len(address) > 200:
        raise BadInput("an address must have 1 to 200 characters")
    query = select(models.ChannelAddress).where(
        models.ChannelAddress.channel == channel, models.ChannelAddress.address == address
    )
    for _ in range(5):
        row = session.scalars(query).first()
        if row is not None:
            if name and row.name != name[:200]:
                row.name = name[:200]
            if wrote:
                row.last_inbound_at = now
            return int(row.chat_id)
        highest = session.scalar(select(func.max(models.ChannelAddress.chat_id)))
        chat_id = max(int(highest or CHANNEL_BASE), CHANNEL_BASE) + 1
        try:
            with session.begin_nested():
                session.add(
                    models.ChannelAddress(
                        channel=channel,
                        address=address,
                        chat_id=chat_id,
                        name=(name or "")[:200] or None,
                        created_at=now,
                        last_inbound_at=now if wrote else None,
                    )
                )
        except IntegrityError:  # another request took this number, or added this very address: look again
            continue
        return chat_id
    raise RuntimeError("could not give a chat id to a new channel address")  # pragma: no cover - five races


def address_of(session: Session, chat_id: int) -> models.ChannelAddress | None:
    return session.scalars(select(models.ChannelAddress).where(models.ChannelAddress.chat_id == chat_id)).first()


@dataclass(frozen=True)
class Recipient:
    """Where a WhatsApp row goes, and whether the resident's 24-hour window is open now."""

    wa_id: str
    window_open: bool


def whatsapp_recipient(session: Session, chat_id: int, *, now: datetime) -> Recipient | None:
    """The WhatsApp number of this chat and whether a free-form message may be sent (None: not a WhatsApp chat)."""
    row = address_of(session, chat_id)
    if row is None or row.channel != WHATSAPP:
        return None
    opened = row.last_inbound_at is not None and now - row.last_inbound_at < WINDOW
    return Recipient(row.address, opened)


def forget_address(session: Session, *, chat_id: int) -> int:
    """Erase the person's address on their channel (their phone number, their web session): /vergeetmij."""
    result = session.execute(delete(models.ChannelAddress).where(models.ChannelAddress.chat_id == chat_id))
    return int(getattr(result, "rowcount", 0) or 0)


# --- inbound: what a person sent, as the update the handlers read -----------------------------------------


def receive(
    session: Session,
    *,
    channel: str,
    chat_id: int,
    external_id: str,
    text: str | None = None,
    button: str | None = None,
    choices: list[str] | None = None,
    name: str | None = None,
    reply_to: str | None = None,
    now: datetime,
) -> dict[str, Any] | None:
    """Store what a person sent as a Telegram-shaped update in the inbound log and return it, for the bot's
    handlers; None when there is nothing to hand over: the same `external_id` was received before, or it was
    the poll template's button, answered here by sending the poll itself. `reply_to` is the platform's id of
    the message the person answered (WhatsApp's context), to find the message a button was on."""
    _check(external_id, text, button, choices)
    if session.scalar(
        select(models.InboundUpdate.update_id).where(
            models.InboundUpdate.channel == channel, models.InboundUpdate.external_id == external_id
        )
    ):
        return None
    session.execute(
        update(models.ChannelAddress).where(models.ChannelAddress.chat_id == chat_id).values(last_inbound_at=now)
    )
    person = _person(session, chat_id, channel, name)
    opened = _open_poll(button)
    for _ in range(5):
        update_id = _next_update_id(session)
        if opened is not None:
            payload: dict[str, Any] = {"update_id": update_id}
        elif text is not None:
            payload = _message(session, update_id, chat_id, person, text, now)
        elif button is not None and not CHOICE_FOR.match(button):
            payload = _callback(session, update_id, chat_id, person, button, reply_to, now)
        else:
            payload = _poll_answer(session, update_id, person, [button] if button else list(choices or []), channel)
        try:
            with session.begin_nested():
                session.add(
                    models.InboundUpdate(
                        update_id=update_id,
                        chat_id=chat_id,
                        kind=_kind(payload),
                        payload=payload,
                        status="done" if opened is not None else "pending",
                        attempts=0,
                        received_at=now,
                        processed_at=now if opened is not None else None,
                        channel=channel,
                        external_id=external_id,
                    )
                )
        except IntegrityError:
            if session.scalar(
                select(models.InboundUpdate.update_id).where(
                    models.InboundUpdate.channel == channel, models.InboundUpdate.external_id == external_id
                )
            ):
                return None  # the same message, received at the same moment by another request
            continue  # another message took this update id
        if opened is not None:
            _send_poll_again(session, chat_id=chat_id, poll_id=opened, update_id=update_id, now=now)
            return None
        return payload
    raise RuntimeError("could not store a channel message")  # pragma: no cover - five races


def _check(external_id: str, text: str | None, button: str | None, choices: list[str] | None) -> None:
    if len([value for value in (text, button, choices) if value is not None]) != 1:
        raise BadInput("send one of a text, a button or choices")
    if text is not None and (not text.strip() or len(text) > MAX_TEXT):
        raise BadInput(f"a message must have 1 to {MAX_TEXT} characters")
    if button is not None and (not button or len(button) > 256):
        raise BadInput("a button value must have 1 to 256 characters")
    if choices is not None and (not choices or len(choices) > 10 or not all(CHOICE_FOR.match(c) for c in choices)):
        raise BadInput("choices must be 1 to 10 poll options")
    if not external_id or len(external_id) > 200:
        raise BadInput("a message id must have 1 to 200 characters")


def _next_update_id(session: Session) -> int:
    highest = session.scalar(
        select(func.max(models.InboundUpdate.update_id)).where(models.InboundUpdate.update_id > CHANNEL_BASE)
    )
    return max(int(highest or CHANNEL_BASE), CHANNEL_BASE) + 1


def _person(session: Session, chat_id: int, channel: str, name: str | None) -> dict[str, Any]:
    known = session.scalar(select(models.ChannelAddress.name).where(models.ChannelAddress.chat_id == chat_id))
    first = (name or known or DEFAULT_NAMES.get(channel, "Bewoner"))[:64]
    return {"id": chat_id, "is_bot": False, "first_name": first, "language_code": "nl"}


def _chat(person: dict[str, Any]) -> dict[str, Any]:
    return {"id": person["id"], "type": "private", "first_name": person["first_name"]}


def _kind(payload: dict[str, Any]) -> str:
    if "callback_query" in payload:
        return "callback"
    if "poll_answer" in payload:
        return "poll_answer"
    message = payload.get("message")
    if isinstance(message, dict):
        return "command" if str(message.get("text", "")).startswith("/") else "text"
    return "other"


def _message(
    session: Session, update_id: int, chat_id: int, person: dict[str, Any], text: str, now: datetime
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": update_id - CHANNEL_BASE,
        "date": int(now.timestamp()),
        "chat": _chat(person),
        "from": person,
        "text": text,
    }
    command = re.match(r"^/[A-Za-z0-9_]{1,32}", text)
    if command:
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command[0])}]
    asked = _last_sent(session, chat_id, limit=1)
    if asked and isinstance(asked[0][1], Text) and asked[0][1].ask and not command:
        row, payload = asked[0]
        message["reply_to_message"] = {
            "message_id": row.telegram_message_id or row.id,
            "date": int(now.timestamp()),
            "chat": _chat(person),
            "text": payload.text[:200],
        }
    return {"update_id": update_id, "message": message}


def _callback(
    session: Session,
    update_id: int,
    chat_id: int,
    person: dict[str, Any],
    data: str,
    reply_to: str | None,
    now: datetime,
) -> dict[str, Any]:
    message_id = _message_with_button(session, chat_id, data, reply_to)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"ch{update_id}",
            "from": person,
            "chat_instance": f"ch{chat_id}",
            "data": data,
            "message": {"message_id": message_id, "date": int(now.timestamp()), "chat": _chat(person), "text": ""},
        },
    }


def _message_with_button(session: Session, chat_id: int, data: str, reply_to: str | None) -> int:
    """The message id (as the handlers know it) of the message this button was on: the one WhatsApp names, a
    Rasa button's own row, else the latest message to this chat that had this button."""
    if reply_to:
        row = session.scalars(
            select(models.OutboxMessage).where(
                models.OutboxMessage.channel_message_id == reply_to, models.OutboxMessage.recipient_chat_id == chat_id
            )
        ).first()
        if row is not None:
            return int(row.telegram_message_id or row.id)
    rasa = re.match(r"^rb:(\d+):\d+$", data)
    if rasa:
        return int(rasa[1])
    for row, payload in _last_sent(session, chat_id, limit=30):
        buttons = getattr(payload, "buttons", None) or []
        if any(b.get("callback_data") == data for line in buttons for b in line):
            return int(row.telegram_message_id or row.id)
    return 0


def _last_sent(session: Session, chat_id: int, *, limit: int) -> list[tuple[models.OutboxMessage, Any]]:
    rows = session.scalars(
        select(models.OutboxMessage)
        .where(models.OutboxMessage.recipient_chat_id == chat_id, models.OutboxMessage.status == "sent")
        .order_by(models.OutboxMessage.id.desc())
        .limit(limit)
    )
    found = []
    for row in rows:
        try:
            found.append((row, from_json(row.method, row.payload)))
        except UnreadablePayload:
            continue
    return found


def _poll_answer(
    session: Session, update_id: int, person: dict[str, Any], values: list[str], channel: str
) -> dict[str, Any]:
    matches = [CHOICE_FOR.match(value) for value in values]
    polls = {m[1] for m in matches if m}
    if len(polls) != 1:
        raise BadInput("choices must belong to one poll")
    poll_id = polls.pop()
    options = sorted({int(m[2]) for m in matches if m})
    if channel == WHATSAPP:  # one row at a time: a poll with several answers adds this one to the earlier ones
        ballot = session.scalars(select(models.PollBallot).where(models.PollBallot.telegram_poll_id == poll_id)).first()
        if ballot is not None and ballot.option_ids:
            multiple = session.scalar(select(models.Poll.allows_multiple).where(models.Poll.id == ballot.poll_id))
            if multiple:
                options = sorted(set(options) | set(ballot.option_ids))
    return {"update_id": update_id, "poll_answer": {"poll_id": poll_id, "user": person, "option_ids": options}}


def _open_poll(button: str | None) -> str | None:
    match = POLL_CHOICE.match(button or "")
    return match[1] if match and match[2] == "open" else None


def _send_poll_again(session: Session, *, chat_id: int, poll_id: str, update_id: int, now: datetime) -> None:
    """The poll template's button: send the resident the poll itself, now that their window is open."""
    from wijkbot.outbox import enqueue
    from wijkbot.purposes import poll_reopened

    ballot = session.scalars(
        select(models.PollBallot).where(
            models.PollBallot.telegram_poll_id == poll_id, models.PollBallot.chat_id == chat_id
        )
    ).first()
    if ballot is None:
        enqueue(
            session,
            purpose=poll_reopened(update_id),
            chat_id=chat_id,
            message=Text(text="Deze peiling is gesloten. Dank je wel voor je interesse!"),
            priority=10,
            now=now,
        )
        return
    for _row, payload in _last_sent(session, chat_id, limit=200):
        if isinstance(payload, Poll) and payload.ballot is not None and payload.ballot.poll_id == ballot.poll_id:
            enqueue(session, purpose=poll_reopened(update_id), chat_id=chat_id, message=payload, priority=10, now=now)
            return
