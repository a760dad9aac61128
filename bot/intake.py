"""Update intake: every update is in the inbound log before Telegram is told it arrived.

PTB's Updater (polling) and its webhook handler both hand each update to `update_queue.put` and only
then acknowledge it: polling moves its offset past an update after `put` returned, and the webhook
answers Telegram when its handler (which awaits `put`) ends. `StoringUpdateQueue.put` stores the update
first, so an update that waits in memory (behind its chat, or because the process is stopping) is never
lost: after a crash, `redispatch_pending` hands it to the same handlers again. An update stored before is
not queued a second time (Telegram's redelivery; or the stored copy is handed back on start).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.ext import Application

from bot.runtime import Runtime
from wijkbot.pending import fail_unhandled, take_for_redispatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    """What storing an update found."""

    new: bool  # False: it was stored before (Telegram delivered it again)
    resident_text: bool = False  # a private text whose sender is no staff member (looked up while storing)


StoreUpdate = Callable[[Update], Awaitable[Stored]]
KEEP_KNOWN = 10_000  # texts whose sender was looked up at intake, kept until their handler asks (a safety cap)


class StoringUpdateQueue(asyncio.Queue[object]):
    """The application's update queue; `store` (set once the database is open) runs before queueing."""

    def __init__(self, *, max_store_delay: float = 30.0) -> None:
        super().__init__()
        self.store: StoreUpdate | None = None
        self.max_store_delay = max_store_delay
        self._admitted: set[int] = set()  # queued here as stored and pending: the handlers need not look again
        self._residents: OrderedDict[int, None] = OrderedDict()  # texts from senders who are not staff

    async def put(self, item: object) -> None:
        if isinstance(item, Update) and self.store is not None:
            stored = await self._store(item)
            if not stored.new:
                log.info("update %s was delivered again; it is stored and handled once", item.update_id)
                return
            self._admitted.add(item.update_id)
            if stored.resident_text:
                self._residents[item.update_id] = None
                while len(self._residents) > KEEP_KNOWN:
                    self._residents.popitem(last=False)
        await super().put(item)

    async def put_stored(self, update: Update) -> None:
        """Queue an update that is in the inbound log already (handed back on start)."""
        self._admitted.add(update.update_id)
        await super().put(update)

    def from_resident(self, update_id: int) -> bool:
        """Whether the intake found, in the transaction that stored this text, that its sender is no staff
        member (asked once, by the staff handler: then it need not look again). False: not known."""
        if update_id not in self._residents:
            return False
        del self._residents[update_id]
        return True

    def admitted(self, update_id: int) -> bool:
        """Whether this update came through this queue newly stored (asked once, by the first handler)."""
        if update_id in self._admitted:
            self._admitted.discard(update_id)
            return True
        return False

    async def _store(self, update: Update) -> Stored:
        """Store, retrying while the database is away: until it is stored, Telegram is not acknowledged."""
        assert self.store is not None
        delay = 0.25
        while True:
            try:
                return await self.store(update)
            except SQLAlchemyError:
                log.exception("could not store update %s; trying again in %.1f s", update.update_id, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_store_delay)


async def redispatch_pending(application: Application[Any, Any, Any, Any, Any, Any], rt: Runtime) -> int:
    """On start: hand every stored, unhandled update (not a waiting Rasa turn) to the handlers again, oldest
    first; one that cannot be read back, or came back too often, is failed and reported. Returns the number
    queued."""
    queue = application.update_queue
    assert isinstance(queue, StoringUpdateQueue)
    now = rt.clock()
    taken = await rt.db(lambda s: take_for_redispatch(s, now=now))
    queued = 0
    for item in taken:
        try:
            update = Update.de_json(item.payload, application.bot)
            if update is None or update.update_id != item.update_id:
                raise ValueError("not the stored update")
        except Exception as exc:  # a stored payload that no longer reads as an update
            log.error("stored update %s cannot be handled again: %s", item.update_id, exc)
            await rt.db(partial(fail_unhandled, update_id=item.update_id, reason="onleesbaar", now=now))
            continue
        log.info("handing stored update %s (%s) to the handlers again", item.update_id, item.kind)
        await queue.put_stored(update)
        queued += 1
    rt.sender.wake()
    return queued
