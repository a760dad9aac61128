"""What happens around a send, in two lists the outbox sender (bot/sender.py) walks without knowing what is
in them. A new kind of message that needs a check before it goes, or a record after it went, adds an entry
here; the sender does not change.

- **Claim filters** run in the claim's transaction, in order, on the rows just claimed, and return those to
  send now. A row they hold back they put back in the queue (`pending`, a later `not_before`) or settle
  (`skipped`) themselves.
- **Delivery hooks** run in the transaction that records a successful send, each with the message and what
  Telegram gave back (wijkbot.payloads.Delivery); each ignores messages that are not its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from db import models
from wijkbot.media import attach_media, one_upload_per_file, remember_file_id
from wijkbot.outbox import read
from wijkbot.outreach import Policy, screen_claimed
from wijkbot.payloads import Delivery, Payload
from wijkbot.polls import record_poll_message
from wijkbot.settings import Settings

ClaimFilter = Callable[[Session, list[models.OutboxMessage], datetime], list[models.OutboxMessage]]
DeliveryHook = Callable[[Session, Payload, Delivery], None]


def claim_filters(settings: Settings) -> list[ClaimFilter]:
    policy = Policy.from_settings(settings)
    return [
        # outreach: a resident who opted out (or blocked the bot), or a poll no longer open, is skipped even
        # when already queued; in quiet hours outreach waits for the morning
        lambda session, rows, now: screen_claimed(session, rows, policy=policy, now=now),
        # a stored file Telegram has not seen yet is uploaded once; its other rows wait for the file id
        lambda session, rows, now: one_upload_per_file(session, rows, now=now),
    ]


DELIVERY_HOOKS: list[DeliveryHook] = [
    # a ballot's Telegram poll id, so that the resident's answers find their ballot
    lambda session, message, delivery: record_poll_message(session, message=message, delivery=delivery),
    # a stored file's Telegram file id, so that it is uploaded once
    lambda session, message, delivery: remember_file_id(session, message=message, delivery=delivery),
]


def prepare(session: Session, row: models.OutboxMessage) -> Payload:
    """A claimed row's message as it is sent: read (wijkbot.payloads.UnreadablePayload when it cannot be),
    with a stored file's id or bytes attached."""
    return attach_media(session, read(row))
