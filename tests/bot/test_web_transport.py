"""The web transport: "sending" to the web chat is giving the row its ids and waking the chat's long polls, once
when it is handed over and once more after the send is recorded."""

from __future__ import annotations

import asyncio

from bot.sender import Outgoing
from bot.web_transport import WebTransport
from wijkbot.payloads import Delivery, Poll, Text
from wijkbot.services import Services
from wijkbot.webchat import Notifier

CHAT = 2**53 + 7


def outgoing(row_id: int, payload: Text | Poll) -> Outgoing:
    return Outgoing(row_id, CHAT, payload, attempts=0, channel="web")


async def test_a_row_is_delivered_under_its_own_id_and_a_poll_gets_its_web_poll_id() -> None:
    transport = WebTransport(Notifier())
    assert await transport.send(outgoing(12, Text(text="Hoi"))) == Delivery(12)
    assert await transport.send(outgoing(13, Poll(question="Ja?", options=["Ja", "Nee"]))) == Delivery(
        13, poll_id="web13"
    )


async def test_the_chats_long_polls_are_woken_when_it_is_handed_over_and_after_the_send_is_committed(
    services: Services,
) -> None:
    notifier = Notifier()
    transport = WebTransport(notifier)
    message = outgoing(20, Text(text="Daar ben ik"))
    with notifier.waiting(CHAT) as woken, services.sessions() as session:
        await transport.send(message)
        await asyncio.wait_for(woken.wait(), timeout=10)
        woken.clear()
        transport.after_delivery(session, Text(text="Daar ben ik"), Delivery(20))  # an equal message, not this one
        transport.after_delivery(session, message.payload, Delivery(20))
        assert not woken.is_set()  # not before the commit
        session.commit()
        await asyncio.wait_for(woken.wait(), timeout=10)


async def test_the_goodbye_after_an_erasure_is_kept_for_the_poll_that_finds_the_chat_gone() -> None:
    notifier = Notifier()
    await WebTransport(notifier).send(outgoing(30, Text(text="Alles is <b>gewist</b>.", ephemeral=True)))
    assert notifier.take_farewell(CHAT) == "Alles is <b>gewist</b>."
    assert notifier.take_farewell(CHAT) is None
