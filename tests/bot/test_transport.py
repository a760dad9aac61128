"""The Telegram transport: what each outbox method becomes at the Bot API (against the strict fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.sender import OutboxSender, Outgoing, Transient
from bot.telegram_transport import TelegramTransport
from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from wijkbot import purposes
from wijkbot.outbox import enqueue
from wijkbot.payloads import Edit, Poll, Text
from wijkbot.services import Services


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def transport(telegram: FakeTelegramServer) -> AsyncIterator[TelegramTransport]:
    bot = telegram.make_bot()
    async with bot:
        yield TelegramTransport(bot)


async def test_an_edit_replaces_a_delivered_notification_and_drops_its_buttons(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    with transaction(services.sessions) as session:
        enqueue(
            session,
            purpose="item:1:new:1",
            chat_id=4242,
            text="Melding van Fenna: zwerfvuil",
            buttons=[[{"text": "Oppakken", "callback_data": "claim"}]],
        )
    sender = OutboxSender(services, transport)
    assert await sender.send_due() == 1
    [shown] = telegram.sent_messages(4242)
    with transaction(services.sessions) as session:
        enqueue(
            session,
            purpose="item:1:withdrawn:edit:1",
            chat_id=4242,
            message=Edit(message_id=shown["message_id"], text="#1 is ingetrokken."),
        )
    assert await sender.send_due() == 1

    now = telegram.message(4242, shown["message_id"])
    assert now is not None and now["text"] == "#1 is ingetrokken." and "reply_markup" not in now
    with transaction(services.sessions) as session:
        statuses = [r.status for r in session.query(models.OutboxMessage).order_by(models.OutboxMessage.id)]
    assert statuses == ["sent", "sent"]


async def test_an_edit_of_a_message_that_is_gone_counts_as_done(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    with transaction(services.sessions) as session:
        enqueue(
            session,
            purpose="item:1:withdrawn:edit:9",
            chat_id=4242,
            message=Edit(message_id=9999, text="#1 is ingetrokken."),
        )
    assert await OutboxSender(services, transport).send_due() == 1
    with transaction(services.sessions) as session:
        [row] = session.query(models.OutboxMessage).all()
    assert row.status == "sent"


@pytest.mark.parametrize("several", [False, True])
async def test_a_poll_is_sent_with_the_options_of_its_payload(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer, several: bool
) -> None:
    poll = Poll(question="Welke dagen?", options=["ma", "di", "wo"], allows_multiple_answers=several)
    with transaction(services.sessions) as session:
        enqueue(session, purpose=purposes.poll_ballot(1), chat_id=4242, message=poll)
    assert await OutboxSender(services, transport).send_due() == 1
    [call] = telegram.calls("sendPoll")
    assert call.params["question"] == "Welke dagen?"
    assert bool(call.params.get("allows_multiple_answers")) is several
    assert call.params.get("is_anonymous") in (False, "false", "False")


async def test_a_send_after_the_bot_s_client_was_closed_is_tried_again_later_not_taken_for_sent(
    telegram: FakeTelegramServer,
) -> None:
    bot = telegram.make_bot()
    await bot.initialize()
    await bot.shutdown()  # as PTB does before post_shutdown when the bot stops
    with pytest.raises(Transient):
        await TelegramTransport(bot).send(Outgoing(1, 42, Text(text="hoi"), 0))
    assert telegram.sent_messages(42) == []
