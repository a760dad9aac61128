"""What the web chat's tests share: the outbox sender as `wijkbot run` builds it for the web chat."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.sender import OutboxSender, Outgoing, RateLimiter
from bot.web_transport import WebTransport
from wijkbot.payloads import Delivery
from wijkbot.services import Services
from wijkbot.webchat import CHANNEL, Notifier


class NoTelegram:
    """The Telegram transport of a test in which nothing goes to Telegram."""

    async def send(self, message: Outgoing) -> Delivery:
        raise AssertionError(f"outbox row {message.id} went to Telegram")


def web_sender(services: Services, notifier: Notifier, clock: Callable[[], datetime]) -> OutboxSender:
    """A sender whose web rows go through the web transport (with its delivery hook), without rate limits."""
    transport = WebTransport(notifier)
    sender = OutboxSender(
        services,
        NoTelegram(),
        clock=clock,
        channels={CHANNEL: (transport, RateLimiter(per_second=None, per_chat_gap=0))},
    )
    sender.delivery_hooks.append(transport.after_delivery)
    return sender
