"""Part "channels": the sender's raw rate per channel (issue 14), each against its own fake, in one run.

For each channel the same number of one-line texts to as many residents is queued in a fresh SQLite database,
and the real sender (bot/sender.py) sends them with that channel's real transport and its limits switched
off: what the code and the platform's API round trip can do, not the limit a municipality configures.
- telegram: TelegramTransport through python-telegram-bot against the fake Bot API (the reference);
- whatsapp: WhatsAppTransport against the fake Cloud API (every resident's 24-hour window open);
- web: WebTransport (the widget fetches what is sent: no platform call at all).
Reported: rows per second, and each channel's rate as a ratio of Telegram's in the same run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from telegram import Bot

from bench.common import ratio
from bot.sender import OutboxSender, Outgoing, RateLimiter, Transport
from bot.telegram_transport import TelegramTransport
from bot.web_transport import WebTransport
from bot.whatsapp_transport import WhatsAppTransport, make_client
from db import models
from db.models import utcnow
from db.session import transaction
from devtools.fake_telegram import start_fake_telegram
from devtools.fake_whatsapp import start_fake_whatsapp
from wijkbot.channels import WEB, WHATSAPP, Recipient, address_chat
from wijkbot.outbox import Queued, enqueue_many
from wijkbot.payloads import Delivery, Text
from wijkbot.purposes import Purpose
from wijkbot.services import Services, open_services
from wijkbot.settings import Settings
from wijkbot.webchat import Notifier

UNLIMITED = {"per_second": None, "per_chat_gap": 0.0, "group_gap": 0.0}


class NoTelegram:
    async def send(self, message: Outgoing) -> Delivery:  # pragma: no cover - a bench error, reported as such
        raise RuntimeError(f"outbox row {message.id} of another channel went to Telegram")


def queue(services: Services, chat_ids: list[int]) -> None:
    now = utcnow()
    rows = [
        Queued(Purpose(f"bench:{chat}"), chat, Text(text=f"Bericht {n} uit de wijk")) for n, chat in enumerate(chat_ids)
    ]
    with transaction(services.sessions) as session:
        enqueue_many(session, rows, now=now)


def channel_chats(services: Services, channel: str, count: int) -> list[int]:
    now = utcnow()
    with transaction(services.sessions) as session:
        return [
            address_chat(session, channel=channel, address=f"316{n:08d}", now=now, wrote=True) for n in range(count)
        ]


async def drain(services: Services, sender: OutboxSender, count: int) -> dict[str, Any]:
    """Send everything queued; the rate over the whole drain, and what was left unsent (must be 0)."""
    started = time.monotonic()
    while await sender.send_due():
        pass
    seconds = time.monotonic() - started
    with transaction(services.sessions) as session:
        sent = session.scalar(select(func.count()).where(models.OutboxMessage.status == "sent")) or 0
    return {"rows": count, "sent": sent, "seconds": round(seconds, 2), "rows_per_s": round(sent / seconds, 1)}


def fresh(workdir: Path, name: str, **settings: Any) -> Services:
    return open_services(Settings(_env_file=None, database_url=f"sqlite:///{workdir / name}.db", **settings))  # type: ignore[call-arg]


async def telegram_rate(workdir: Path, count: int) -> dict[str, Any]:
    services = fresh(workdir, "telegram")
    with start_fake_telegram() as fake:
        bot = Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)
        async with bot:
            sender = OutboxSender(services, TelegramTransport(bot), limiter=RateLimiter(**UNLIMITED), batch=100)
            queue(services, [800_000_000 + n for n in range(count)])
            result = await drain(services, sender, count)
    services.close()
    return result


async def whatsapp_rate(workdir: Path, count: int) -> dict[str, Any]:
    with start_fake_whatsapp(sign_webhooks=False) as fake:
        services = fresh(
            workdir,
            "whatsapp",
            whatsapp_token=fake.token,
            whatsapp_app_secret=fake.app_secret,
            whatsapp_verify_token="bench",
            whatsapp_phone_number_id=fake.phone_number_id,
            whatsapp_base_url=fake.base_url,
        )
        chats = channel_chats(services, WHATSAPP, count)
        numbers = {chat: f"316{n:08d}" for n, chat in enumerate(chats)}
        for number in numbers.values():
            fake.open_window(number)

        async def recipient(chat_id: int) -> Recipient | None:
            return Recipient(numbers[chat_id], True)

        async with make_client(services.settings) as client:
            transport: Transport = WhatsAppTransport(client, recipient, services.settings)
            sender = OutboxSender(
                services, NoTelegram(), batch=100, channels={WHATSAPP: (transport, RateLimiter(**UNLIMITED))}
            )
            queue(services, chats)
            result = await drain(services, sender, count)
        services.close()
    return result


async def web_rate(workdir: Path, count: int) -> dict[str, Any]:
    services = fresh(workdir, "web", web_chat=True)
    chats = channel_chats(services, WEB, count)
    transport = WebTransport(Notifier())
    sender = OutboxSender(services, NoTelegram(), batch=100, channels={WEB: (transport, RateLimiter(**UNLIMITED))})
    sender.delivery_hooks.append(transport.after_delivery)
    queue(services, chats)
    result = await drain(services, sender, count)
    services.close()
    return result


async def measure(workdir: Path, *, rows: int = 2000) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    telegram = await telegram_rate(workdir, rows)
    whatsapp = await whatsapp_rate(workdir, rows)
    web = await web_rate(workdir, rows)
    return {
        "rows": rows,
        "telegram": telegram,
        "whatsapp": whatsapp,
        "web": web,
        "ratio_whatsapp_to_telegram": ratio(whatsapp["rows_per_s"], telegram["rows_per_s"]),
        "ratio_web_to_telegram": ratio(web["rows_per_s"], telegram["rows_per_s"]),
    }
