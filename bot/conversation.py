"""A resident's turn: stored first, then to a staff thread or to Rasa, the replies into the outbox.

Used by the Telegram handlers, the retry job and the terminal chat alike. A slow turn is waited for (up to
RASA_TIMEOUT_SECONDS, longer than Rasa's own worst case); after HOLDING_REPLY_AFTER_SECONDS the resident gets
one short holding reply meanwhile. Only when Rasa cannot be reached or does not answer in time does the
message stay pending, to be answered in order by a later drain; such a resent turn carries the same update
id, so whatever Rasa's actions did the first time is not done again (wijkbot.effects).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from sqlalchemy.orm import Session

from bot.rasa_client import RasaClient, RasaReply, RasaUnavailable
from bot.sender import Outgoing
from db.models import InboundUpdate, Resident, utcnow
from db.session import in_thread
from wijkbot import purposes
from wijkbot.inbound import backing_off, mark_done, mark_retry, pending_updates, store_turn
from wijkbot.offers import offer_after_filing
from wijkbot.outbox import enqueue
from wijkbot.outreach import asks_question, track_open_question
from wijkbot.payloads import Payload, Text
from wijkbot.pending import record_turn_error
from wijkbot.purposes import Purpose
from wijkbot.residents import resident_seen
from wijkbot.services import Services
from wijkbot.staff_loop import open_thread_for, relay_resident_message
from wijkbot.telegram_html import sanitize_html, split_message

log = logging.getLogger(__name__)

HOLDING_REPLY = (
    "Even geduld: ik kan je bericht nu niet verwerken. Ik heb het bewaard en antwoord je zodra het weer kan."
)
EMPTY_REPLY = "Sorry, daar ging bij mij iets mis. Je bericht is wel aangekomen. Probeer het nog eens, of typ /help."
GIVE_UP_REPLY = (
    "Sorry, het lukt me nu niet om je bericht te verwerken. Het is bewaard. Probeer het later nog eens, "
    "of bel de gemeente."
)
MAX_ATTEMPTS = 40


@dataclass(frozen=True)
class OutgoingMessage:
    text: str
    buttons: list[dict[str, str]]


def messages_from_replies(replies: list[RasaReply]) -> list[OutgoingMessage]:
    """Join a turn's texts into as few Telegram messages as possible; buttons end a message."""
    messages: list[OutgoingMessage] = []
    texts: list[str] = []
    for reply in replies:
        if reply.text:
            texts.append(sanitize_html(reply.text))
        if reply.buttons:
            messages.append(OutgoingMessage("\n\n".join(texts) or "Kies:", reply.buttons))
            texts = []
    if texts:
        messages.append(OutgoingMessage("\n\n".join(texts), []))
    result: list[OutgoingMessage] = []
    for message in messages:
        parts = split_message(message.text)
        result.extend(OutgoingMessage(part, []) for part in parts[:-1])
        result.append(OutgoingMessage(parts[-1], message.buttons))
    return result


class Handoff(Protocol):
    """The sender's way to take a turn's replies at once (bot.sender.OutboxSender)."""

    def take(
        self,
        session: Session,
        *,
        chat_id: int,
        messages: Sequence[tuple[Purpose, Payload]],
        priority: int,
        now: datetime,
    ) -> list[Outgoing]: ...

    def hand(self, rows: list[Outgoing]) -> None: ...


Turn = tuple[int, dict[str, Any], int]  # update id, payload, attempts


def _waiting_turns(session: Session, chat_id: int) -> list[Turn]:
    """(update id, payload, attempts) of this chat's resident turns still to answer, oldest first."""
    return _turns(pending_updates(session, chat_id=chat_id))


def _turns(pending: list[InboundUpdate]) -> list[Turn]:
    return [(r.update_id, dict(r.payload), r.attempts) for r in pending if r.kind == "rasa"]


class Conversation:
    """Turns for residents; `wake` tells the outbox sender that something is ready to go, and `handoff` (when
    given) lets the sender claim a turn's replies in the transaction that stores them and send them at once."""

    def __init__(
        self,
        services: Services,
        rasa: RasaClient,
        wake: Callable[[], None],
        *,
        clock: Callable[[], datetime] = utcnow,
        holding_after: float | None = None,
        handoff: Handoff | None = None,
    ) -> None:
        self.services = services
        self.rasa = rasa
        self.wake = wake
        self.handoff = handoff
        self.clock = clock
        self.holding_after = (
            holding_after if holding_after is not None else services.settings.holding_reply_after_seconds
        )
        # updates stored as resident turns by `submit`: the handlers' end (finish_update) has nothing to mark
        self.stored_turns: set[int] = set()

    async def _db(self, work: Callable[[Session], Any]) -> Any:
        return await in_thread(self.services.sessions, work)

    async def submit(self, *, update_id: int, chat_id: int, user_id: int, text: str, meta: dict[str, Any]) -> None:
        """Mark a stored update as a resident turn and answer it (and any older waiting ones) in order.

        The caller holds this chat's lock. When an older turn of this chat waits for Rasa and its next try
        is not due yet, this one only joins the queue: the chat keeps its backoff, the retry job answers
        both in order. When this turn is the only one waiting (the usual case), the same transaction also
        looks for a staff thread to relay it to.
        """
        now = self.clock()

        def store(session: Session) -> tuple[list[Turn], bool]:
            """The turn stored and, unless an older one backs off, the chat's waiting turns (and whether this
            one was relayed to a thread already): one transaction."""
            store_turn(session, update_id=update_id, chat_id=chat_id, user_id=user_id, text=text, meta=meta)
            pending = pending_updates(session, chat_id=chat_id)
            if backing_off(pending, before=update_id, now=now):
                return [], False
            rows = _turns(pending)
            if [row[0] for row in rows] != [update_id]:
                return rows, False
            if self._relay_if_thread(session, update_id=update_id, chat_id=chat_id, payload=rows[0][1], now=now):
                return [], True
            return rows, False

        rows, relayed = await self._db(store)
        self.stored_turns.add(update_id)
        if relayed:
            self.wake()
        elif rows:
            await self._answer_in_order(chat_id, rows, thread_checked=update_id)

    def took(self, update_id: int) -> bool:
        """Whether `submit` stored this update as a resident turn (asked once, by the handlers' end)."""
        if update_id in self.stored_turns:
            self.stored_turns.discard(update_id)
            return True
        return False

    async def drain(self, chat_id: int) -> bool:
        """Answer this chat's waiting turns, oldest first. Hold the chat lock. False when Rasa is away (the
        turn waits with backoff and a holding reply). A turn that raises anything else stops this chat's
        round too (its later turns wait behind it, in order) and counts an error: after `MAX_ERRORS` it is
        failed, the resident told and the inbox alerted (wijkbot.pending.record_turn_error)."""
        return await self._answer_in_order(chat_id, await self._db(lambda s: _waiting_turns(s, chat_id)))

    async def _answer_in_order(self, chat_id: int, rows: list[Turn], *, thread_checked: int | None = None) -> bool:
        """Answer the turns in order; `thread_checked`: the update whose staff thread was looked for already."""
        for update_id, payload, attempts in rows:
            try:
                await self._answer(
                    update_id=update_id,
                    chat_id=chat_id,
                    payload=payload,
                    retry=attempts > 0,
                    thread_checked=update_id == thread_checked,
                )
            except RasaUnavailable as exc:
                log.warning("Rasa unavailable for update %s (attempt %s): %s", update_id, attempts + 1, exc)
                await self._db(partial(self._hold, chat_id=chat_id, update_id=update_id, attempts=attempts))
                self.wake()
                return False
            except Exception as exc:
                log.exception("resident turn %s of chat %s raised", update_id, chat_id)
                error = f"{type(exc).__name__}: {exc}"
                failed = await self._db(partial(record_turn_error, update_id=update_id, error=error, now=self.clock()))
                self.wake()
                if not failed:
                    return True  # this chat waits for its next try; other chats go on
        return True

    async def _wait_for_rasa(
        self, turn: Coroutine[Any, Any, list[RasaReply]], *, chat_id: int, update_id: int
    ) -> list[RasaReply]:
        """Wait for the turn; when it takes longer than `holding_after`, queue the holding reply and keep
        waiting (the turn is not abandoned, so Rasa does it once)."""
        task = asyncio.ensure_future(turn)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.holding_after)
            if not done:
                now = self.clock()
                await self._db(
                    lambda s: enqueue(
                        s,
                        purpose=purposes.holding_reply(update_id),
                        chat_id=chat_id,
                        text=HOLDING_REPLY,
                        priority=10,
                        now=now,
                    )
                )
                self.wake()
            return await task
        finally:
            if not task.done():
                task.cancel()

    def _hold(self, session: Session, *, chat_id: int, update_id: int, attempts: int) -> None:
        now = self.clock()
        if attempts + 1 >= MAX_ATTEMPTS:
            mark_done(session, update_id=update_id, status="failed", now=now)
            enqueue(
                session, purpose=purposes.give_up(update_id), chat_id=chat_id, text=GIVE_UP_REPLY, priority=10, now=now
            )
            return
        mark_retry(session, update_id=update_id, now=now)
        # One holding reply per waiting streak: the oldest waiting update names the streak.
        oldest = pending_updates(session, chat_id=chat_id)[0].update_id
        enqueue(
            session, purpose=purposes.holding_reply(oldest), chat_id=chat_id, text=HOLDING_REPLY, priority=10, now=now
        )

    def _relay_if_thread(
        self, session: Session, *, update_id: int, chat_id: int, payload: dict[str, Any], now: datetime
    ) -> bool:
        """The resident (created on their first turn, before Rasa's actions look for them); a typed turn while
        one of their items has an open staff thread goes to that thread instead of Rasa (True: done)."""
        meta = dict(payload.get("meta") or {})
        user_id = int(payload.get("user_id") or chat_id)
        resident_id = resident_seen(
            session, telegram_id=user_id, first_name=meta.get("first_name"), language=meta.get("language_code"), now=now
        )
        item = open_thread_for(session, resident_id=resident_id, now=now)
        if item is None or payload.get("button"):
            return False
        resident = session.get_one(Resident, resident_id)
        text = str(payload.get("text") or "")
        outcome = relay_resident_message(
            session, self.services.registry, item=item, resident=resident, text=text, update_id=update_id, now=now
        )
        enqueue(session, purpose=purposes.relayed(update_id), chat_id=chat_id, text=outcome.message, now=now)
        mark_done(session, update_id=update_id, now=now)
        return True

    async def _answer(
        self,
        *,
        update_id: int,
        chat_id: int,
        payload: dict[str, Any],
        retry: bool = False,
        thread_checked: bool = False,
    ) -> None:
        meta = dict(payload.get("meta") or {})
        user_id = int(payload.get("user_id") or chat_id)
        text = str(payload.get("text") or "")
        now = self.clock()
        relay = partial(self._relay_if_thread, update_id=update_id, chat_id=chat_id, payload=payload, now=now)
        if not thread_checked and await self._db(relay):
            self.wake()
            return
        # A retried turn may have been handled and saved by Rasa after the bot stopped waiting: then its
        # answer is in Rasa's conversation, and sending the turn again would make Rasa handle it twice.
        # (RASA_TIMEOUT_SECONDS is longer than Rasa's worst case, so by the retry that first run has ended.)
        replies = await self.rasa.answered_before(sender=str(user_id), update_id=update_id) if retry else None
        if replies is None:
            # the update id makes a turn Rasa runs twice act once (wijkbot.effects)
            replies = await self._wait_for_rasa(
                self.rasa.turn(sender=str(user_id), text=text, metadata={"telegram": meta, "update_id": update_id}),
                chat_id=chat_id,
                update_id=update_id,
            )
        if not replies:
            log.warning("Rasa answered update %s of chat %s with nothing (an action failed?)", update_id, chat_id)
        messages = messages_from_replies(replies) or [OutgoingMessage(EMPTY_REPLY, [])]
        now = self.clock()

        replies_out = [
            (purposes.rasa_reply(update_id, index), Text(text=message.text, rasa_buttons=message.buttons or None))
            for index, message in enumerate(messages)
        ]

        def store_replies(session: Session) -> tuple[list[Outgoing], bool]:
            """The replies queued (claimed for the sender when it takes them) and the turn done; then what
            follows them: the open question remembered, an offer behind a receipt (True: one was queued)."""
            mark_done(session, update_id=update_id, now=now)
            if self.handoff is not None:
                claimed = self.handoff.take(session, chat_id=chat_id, messages=replies_out, priority=10, now=now)
            else:
                claimed = []
                for purpose, message in replies_out:
                    enqueue(session, purpose=purpose, chat_id=chat_id, message=message, priority=10, now=now)
            # remembered so that a form left half-way gets one nudge later (wijkbot.outreach)
            asked = bool(messages) and asks_question(messages[-1].text)
            track_open_question(session, chat_id=chat_id, asked=asked, now=now)
            offered = offer_after_filing(
                session, self.services.registry, telegram_id=user_id, update_id=update_id, now=now
            )
            return claimed, offered

        claimed, offered = await self._db(store_replies)
        if claimed and self.handoff is not None:
            self.handoff.hand(claimed)  # the replies leave now, not after the sender's next claim
        if offered or not claimed:
            self.wake()  # an offer goes behind the handed replies (the chat's sends are one at a time)
