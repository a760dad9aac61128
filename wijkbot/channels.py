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

from sqlalchemy import delete, select, update
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
# the error of a row that waits until the resident writes on WhatsApp again (bot/whatsapp_transport.py)
WAITS_FOR_WINDOW = "waits for the resident's 24-hour window"


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
        chat_id = next_number(session, "chat")
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
        except IntegrityError:  # another request added this very address at the same moment: look again
            continue
        return chat_id
    raise RuntimeError("could not give a chat id to a new channel address")  # pragma: no cover - five races


def next_number(session: Session, counter: str) -> int:
    """The next number of this counter ("chat", "update", "web"), never given before; the counter's row lock
    orders concurrent transactions, so the numbers follow the order in which they commit."""
    bump = (
        update(models.ChannelCounter)
        .where(models.ChannelCounter.name == counter)
        .values(value=models.ChannelCounter.value + 1)
        .returning(models.ChannelCounter.value)
    )
    value = session.execute(bump).scalar_one_or_none()
    if value is None:  # a database made by create_all (the migration seeds the counters)
        first = 1 if counter == "web" else CHANNEL_BASE + 1
        session.add(models.ChannelCounter(name=counter, value=first))
        session.flush()
        return first
    return int(value)


def number_web_message(session: Session, *, row_id: int) -> None:
    """A web chat row whose send is being recorded gets its place in the widget's order (`channel_seq`)."""
    session.execute(
        update(models.OutboxMessage)
        .where(models.OutboxMessage.id == row_id, models.OutboxMessage.channel == WEB)
        .values(channel_seq=next_number(session, "web"))
    )


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
    at: datetime | None = None,
    now: datetime,
) -> dict[str, Any] | None:
    """Store what a person sent as a Telegram-shaped update in the inbound log and return it, for the bot's
    handlers; None when there is nothing to hand over: the same `external_id` was received before, or it was
    the poll template's button, answered here by sending the poll itself. `reply_to` is the platform's id of
    the message the person answered (WhatsApp's context), to find the message a button was on; `at` when they
    sent it (WhatsApp's timestamp: a webhook Meta delivers late must not open the window late)."""
    _check(external_id, text, button, choices)
    if session.scalar(
        select(models.InboundUpdate.update_id).where(
            models.InboundUpdate.channel == channel, models.InboundUpdate.external_id == external_id
        )
    ):
        return None
    wrote(session, chat_id=chat_id, at=min(at or now, now), now=now)
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


def wrote(session: Session, *, chat_id: int, at: datetime, now: datetime) -> None:
    """The person wrote at `at`: their WhatsApp window runs from then (the later of what is known), and the
    rows that waited for it are due now."""
    row = address_of(session, chat_id)
    if row is None:
        return
    if row.last_inbound_at is None or row.last_inbound_at < at:
        row.last_inbound_at = at
    if row.channel == WHATSAPP and now - at < WINDOW:
        session.execute(
            update(models.OutboxMessage)
            .where(
                models.OutboxMessage.recipient_chat_id == chat_id,
                models.OutboxMessage.status == "pending",
                models.OutboxMessage.not_before > now,
                models.OutboxMessage.error.contains(WAITS_FOR_WINDOW),
            )
            .values(not_before=now)
        )


def window_closed(session: Session, *, channel_message_id: str, now: datetime) -> bool:
    """Meta refused a free-form message after all (a failed status, 131047: the window had closed): the row
    goes back to the queue, to go out as a template or when the resident writes again. False: no such row."""
    row = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.channel_message_id == channel_message_id)
    ).first()
    if row is None:
        return False
    address = address_of(session, row.recipient_chat_id)
    if address is not None and address.last_inbound_at is not None and address.last_inbound_at > now - WINDOW:
        address.last_inbound_at = now - WINDOW  # Meta knows better: it is closed
    row.status, row.not_before, row.channel_message_id = "pending", now, None
    row.error, row.claim_token, row.send_started_at = f"WhatsApp 131047: {WAITS_FOR_WINDOW}", None, None
    return True


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
    return next_number(session, "update")


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
    ballot = _ballot_for(session, poll_id, chat_id=int(person["id"]))
    if ballot is not None and ballot.telegram_poll_id:
        poll_id = ballot.telegram_poll_id  # an earlier copy of the poll (sent again): the same ballot
    # WhatsApp lets one choose one row at a time: a poll with several answers adds this one to the earlier ones
    if channel == WHATSAPP and ballot is not None and ballot.option_ids:
        multiple = session.scalar(select(models.Poll.allows_multiple).where(models.Poll.id == ballot.poll_id))
        if multiple:
            options = sorted(set(options) | set(ballot.option_ids))
    answer = {
        "poll_id": poll_id,
        "user": person,
        "option_ids": options,
        "option_persistent_ids": [str(i) for i in options],
    }
    return {"update_id": update_id, "poll_answer": answer}


def _ballot_for(session: Session, poll_id: str, *, chat_id: int) -> models.PollBallot | None:
    """This chat's ballot of a poll id a channel knows: the poll's own (`poll<id>`, the invitation's template),
    the ballot's current message (`wa<row>`, `web<row>`), or an earlier message of the same ballot."""
    mine = select(models.PollBallot).where(models.PollBallot.chat_id == chat_id)
    if re.fullmatch(r"poll\d{1,12}", poll_id):
        return session.scalars(mine.where(models.PollBallot.poll_id == int(poll_id[4:]))).first()
    found = session.scalars(mine.where(models.PollBallot.telegram_poll_id == poll_id)).first()
    row_id = re.fullmatch(r"(?:wa|web)(\d{1,18})", poll_id)
    if found is not None or row_id is None:
        return found
    row = session.get(models.OutboxMessage, int(row_id[1]))
    if row is None or row.recipient_chat_id != chat_id or row.method != "sendPoll":
        return None
    ballot = row.payload.get("ballot")
    if not isinstance(ballot, dict):
        return None
    return session.get(models.PollBallot, (int(ballot["poll_id"]), int(ballot["resident_id"])))


def _open_poll(button: str | None) -> str | None:
    match = POLL_CHOICE.match(button or "")
    return match[1] if match and match[2] == "open" else None


def _send_poll_again(session: Session, *, chat_id: int, poll_id: str, update_id: int, now: datetime) -> None:
    """The poll template's button: send the resident the poll itself, now that their window is open."""
    from wijkbot.outbox import enqueue
    from wijkbot.purposes import poll_reopened

    ballot = _ballot_for(session, poll_id, chat_id=chat_id)
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
