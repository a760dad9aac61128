"""What the handlers share: services, the Rasa client, the conversation core and the sender."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from telegram.ext import ContextTypes

from bot.conversation import Conversation
from bot.processor import ChatLocks
from bot.rasa_client import RasaClient
from bot.sender import OutboxSender
from db.models import utcnow
from db.session import in_thread
from wijkbot.outbox import enqueue
from wijkbot.payloads import Buttons
from wijkbot.purposes import Purpose
from wijkbot.services import Services

T = TypeVar("T")
RUNTIME_KEY = "wijkbot"


@dataclass
class Runtime:
    services: Services
    rasa: RasaClient
    conversation: Conversation
    sender: OutboxSender
    locks: ChatLocks
    tracker: Engine
    clock: Callable[[], datetime] = utcnow  # the one clock: jobs, the sender and the poll wizard all read it

    async def db(self, work: Callable[[Session], T]) -> T:
        """Run one transaction in a worker thread, so the event loop never waits on the database."""
        return await in_thread(self.services.sessions, work)

    async def say(
        self,
        chat_id: int,
        purpose: Purpose,
        text: str,
        buttons: Buttons | None = None,
        extra: Callable[[Session], Any] | None = None,
    ) -> None:
        """Queue one message (after `extra`, in the same transaction) and wake the sender."""

        now = self.clock()

        def work(session: Session) -> None:
            if extra is not None:
                extra(session)
            enqueue(session, purpose=purpose, chat_id=chat_id, text=text, buttons=buttons, priority=10, now=now)

        await self.db(work)
        self.sender.wake()


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    value = context.bot_data[RUNTIME_KEY]
    assert isinstance(value, Runtime)
    return value
