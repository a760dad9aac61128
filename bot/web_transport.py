"""Sending to the web chat (docs/webchat.md): the widget fetches what was sent, so "sending" a row is letting the
sender mark it sent and waking the long polls of its chat (wijkbot.webchat.Notifier).

The long polls run on the web app's event loop in another thread and read the database: they are woken once
when the row is handed over and once more after the transaction that marks it sent has committed
(`after_delivery`, a delivery hook of the sender), so a poll never misses a row it looked for too early.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy.orm import Session

from bot.sender import Outgoing
from wijkbot.payloads import Delivery, Payload, Poll, Text
from wijkbot.webchat import NOTIFIER, Notifier, poll_id


class WebTransport:
    """The sender's transport for rows of channel "web"."""

    KEEP = 1000  # handed-over rows whose send was not recorded (a lost claim) are forgotten after this many

    def __init__(self, notifier: Notifier = NOTIFIER) -> None:
        self.notifier = notifier
        self._lock = threading.Lock()
        self._handed: OrderedDict[int, tuple[Payload, int]] = OrderedDict()  # id(payload): (payload, chat)

    async def send(self, message: Outgoing) -> Delivery:
        """The row's message id is its row id (an Edit or StopPoll names it); a poll's id is "web<row id>"."""
        with self._lock:
            self._handed[id(message.payload)] = (message.payload, message.chat_id)
            while len(self._handed) > self.KEEP:
                self._handed.popitem(last=False)
        if isinstance(message.payload, Text) and message.payload.ephemeral:
            self.notifier.farewell(message.chat_id, message.payload.text)  # its row and the address go now
        self.notifier.wake(message.chat_id)
        return Delivery(message.id, poll_id=poll_id(message.id) if isinstance(message.payload, Poll) else None)

    def after_delivery(self, session: Session, message: Payload, delivery: Delivery) -> None:
        """Delivery hook: when the send of a row handed over here is recorded, wake its chat's long polls again
        once that transaction has committed. Other channels' messages are not this transport's."""
        with self._lock:
            handed = self._handed.get(id(message))
            if handed is None or handed[0] is not message:
                return
            del self._handed[id(message)]
        self.notifier.wake_after_commit(session, handed[1])
