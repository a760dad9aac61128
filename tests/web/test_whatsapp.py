"""WhatsApp through the whole bot (issue 14): the fake Cloud API posts signed webhooks to the real web app beside
the real bot, and receives what the bot's sender sends. No assistant needed here: commands, buttons and polls
(the idea loop through Rasa on every channel is tests/bot/test_channels_e2e.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer
from devtools.fake_whatsapp import FakeWhatsAppServer, start_fake_whatsapp
from tests.bot.harness import free_port, outbox_idle, runtime_of
from tests.polls_support import make_subscriber
from tests.web.conftest import Clock, Workspace, serving, web_settings
from wijkbot.channels import WHATSAPP, address_chat
from wijkbot.outbox import enqueue
from wijkbot.outreach import Policy
from wijkbot.payloads import OutreachMark, Text
from wijkbot.polls import broadcast_poll, create_poll

DEN_HOUT = "WK082611"
ANNA = "31612345678"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def whatsapp(port: int) -> Iterator[FakeWhatsAppServer]:
    with start_fake_whatsapp(webhook_url=f"http://127.0.0.1:{port}/webhooks/whatsapp") as fake:
        yield fake


@pytest.fixture
async def served(
    telegram: FakeTelegramServer, whatsapp: FakeWhatsAppServer, sqlite_url: str, port: int
) -> AsyncIterator[Workspace]:
    settings = web_settings(
        telegram,
        port,
        database_url=sqlite_url,
        outreach_quiet_hours="",
        whatsapp_token=whatsapp.token,
        whatsapp_app_secret=whatsapp.app_secret,
        whatsapp_verify_token="verifieer-mij",
        whatsapp_phone_number_id=whatsapp.phone_number_id,
        whatsapp_base_url=whatsapp.base_url,
        whatsapp_template_poll="wijkbot_peiling",
        whatsapp_template_checkin="wijkbot_checkin",
    )
    clock = Clock()
    async with serving(settings, clock, telegram) as workspace:
        yield workspace


def body(message: dict[str, Any]) -> str:
    """The text a resident reads in a message the fake received."""
    kind = message["type"]
    if kind == "text":
        return str(message["text"]["body"])
    if kind == "interactive":
        return str(message["interactive"]["body"]["text"])
    if kind == "template":
        parameters = message["template"]["components"][0]["parameters"]
        return " ".join(str(p["text"]) for p in parameters)
    return json.dumps(message)


async def test_metas_verification_handshake(served: Workspace) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        params = {"hub.mode": "subscribe", "hub.verify_token": "verifieer-mij", "hub.challenge": "1158201444"}
        answer = await client.get("/webhooks/whatsapp", params=params)
        assert (answer.status_code, answer.text) == (200, "1158201444")
        wrong = await client.get("/webhooks/whatsapp", params=params | {"hub.verify_token": "raden"})
        assert wrong.status_code == 403


async def test_a_forged_webhook_is_refused_with_401_and_nothing_is_stored(
    served: Workspace, whatsapp: FakeWhatsAppServer
) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "31850000000", "phone_number_id": "x"},
                            "contacts": [{"profile": {"name": "Mallory"}, "wa_id": "31600000666"}],
                            "messages": [
                                {
                                    "from": "31600000666",
                                    "id": "wamid.forged",
                                    "timestamp": "1764669600",
                                    "type": "text",
                                    "text": {"body": "/vergeetmij"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    raw = json.dumps(payload).encode()
    assert await whatsapp.post_raw_async(raw, "sha256=" + "0" * 64) == 401
    assert await whatsapp.post_raw_async(raw, None) == 401
    with transaction(runtime_of(served.app).services.sessions) as session:
        assert session.scalar(select(func.count()).select_from(models.InboundUpdate)) == 0
        assert session.scalar(select(func.count()).select_from(models.ChannelAddress)) == 0


async def test_a_residents_command_is_answered_on_whatsapp_and_its_statuses_recorded(
    served: Workspace, whatsapp: FakeWhatsAppServer
) -> None:
    assert await whatsapp.send_text_async(ANNA, "/mijnideeen") == 200
    [answer] = await whatsapp.wait_for_async(ANNA, count=1, timeout=20)
    assert "Je hebt nog niets gestuurd" in body(answer)
    assert not served.telegram.sent_messages()  # nothing went to Telegram
    sessions = runtime_of(served.app).services.sessions

    def delivered() -> bool:
        with transaction(sessions) as session:
            row = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.channel == WHATSAPP)).one()
            return row.status == "sent" and row.channel_status == "delivered" and bool(row.channel_message_id)

    def found() -> str:
        with transaction(sessions) as session:
            rows = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.channel == WHATSAPP))
            states = [(r.status, r.channel_status, r.channel_message_id) for r in rows]
        return f"rows {states}; status webhooks {[(p.statuses, p.status_code) for p in whatsapp.webhooks()]}"

    await wait_until(delivered, explain=found)


async def test_a_photo_gets_a_clear_answer(served: Workspace, whatsapp: FakeWhatsAppServer) -> None:
    assert await whatsapp.send_image_async(ANNA) == 200
    [answer] = await whatsapp.wait_for_async(ANNA, count=1, timeout=20)
    assert "niet lezen" in body(answer)


async def test_outside_the_window_a_check_in_is_a_template_and_an_answer_waits_for_the_resident(
    served: Workspace, whatsapp: FakeWhatsAppServer
) -> None:
    rt = runtime_of(served.app)
    assert await whatsapp.send_text_async(ANNA, "/mijnideeen") == 200
    await whatsapp.wait_for_async(ANNA, count=1, timeout=20)
    await outbox_idle(served.app)  # nothing in flight when the clock jumps (it would look abandoned)
    whatsapp.advance(25 * 3600)
    served.clock.now += timedelta(hours=25)
    with transaction(rt.services.sessions) as session:
        chat_id = address_chat(session, channel=WHATSAPP, address=ANNA, now=served.clock.now)
        subscriber = make_subscriber(session, DEN_HOUT, telegram_id=chat_id)
        enqueue(session, purpose="reply:1:0", chat_id=chat_id, text="Sanne: het bankje komt er!", now=served.clock.now)
        checkin = Text(text="Hoe gaat het in\nDen Hout?", outreach=OutreachMark(subscriber.id, "checkin"))
        enqueue(session, purpose="checkin:WK082611:x", chat_id=chat_id, message=checkin, now=served.clock.now)
    rt.sender.wake()
    [_, template] = await whatsapp.wait_for_async(ANNA, count=2, timeout=20)
    assert template["type"] == "template" and template["template"]["name"] == "wijkbot_checkin"
    assert body(template) == "Hoe gaat het in Den Hout?"  # no newline in a template parameter
    assert len(whatsapp.sent(ANNA)) == 2  # the answer waits: no free-form message outside the window
    assert await whatsapp.send_text_async(ANNA, "/mijnideeen") == 200  # the resident writes: the window opens
    await whatsapp.wait_until_async(  # the answer that waited is due at once, beside the command's answer
        lambda: any("het bankje komt er" in body(m) for m in whatsapp.sent(ANNA)), timeout=20
    )
    assert not any(m["type"] == "template" and "bankje" in body(m) for m in whatsapp.sent(ANNA))


async def test_a_poll_reaches_a_whatsapp_resident_as_a_template_with_a_button_and_the_vote_counts(
    served: Workspace, whatsapp: FakeWhatsAppServer
) -> None:
    rt = runtime_of(served.app)
    assert await whatsapp.send_text_async(ANNA, "/mijnideeen") == 200
    await whatsapp.wait_for_async(ANNA, count=1, timeout=20)
    await outbox_idle(served.app)  # nothing in flight when the clock jumps (it would look abandoned)
    whatsapp.advance(25 * 3600)
    served.clock.now += timedelta(hours=25)
    now = served.clock.now
    with transaction(rt.services.sessions) as session:
        chat_id = address_chat(session, channel=WHATSAPP, address=ANNA, now=now)
        make_subscriber(session, DEN_HOUT, telegram_id=chat_id)
        poll = create_poll(
            session,
            rt.services.registry,
            question="Wil je een bankje bij de vijver?",
            options=["Ja", "Nee", "Weet niet"],
            area_codes=[DEN_HOUT],
            via="test",
            starts_at=now,
        )
        policy = Policy(zone=rt.services.settings.zone, quiet=None, max_per_window=5, window=timedelta(days=7))
        assert broadcast_poll(session, rt.services.registry, poll=poll, policy=policy, now=now) == 1
        poll_id = poll.id
    rt.sender.wake()
    [_, template] = await whatsapp.wait_for_async(ANNA, count=2, timeout=20)
    assert template["template"]["name"] == "wijkbot_peiling"
    assert "bankje bij de vijver" in body(template)
    [button] = [c for c in template["template"]["components"] if c["type"] == "button"]
    payload = button["parameters"][0]["payload"]
    assert await whatsapp.press_template_button_async(ANNA, payload, "Stemmen", template["id"]) == 200
    [_, _, interactive] = await whatsapp.wait_for_async(ANNA, count=3, timeout=20)
    assert interactive["type"] == "interactive" and "bankje" in body(interactive)
    choices = interactive["interactive"]["action"]["buttons"]
    yes = next(b["reply"] for b in choices if b["reply"]["title"] == "Ja")
    assert await whatsapp.press_button_async(ANNA, yes["id"], "Ja", interactive["id"]) == 200

    def counted() -> bool:
        with transaction(rt.services.sessions) as session:
            ballot = session.scalars(select(models.PollBallot).where(models.PollBallot.poll_id == poll_id)).one()
            return ballot.option_ids == [0]

    await wait_until(counted)


async def wait_until(check: Any, timeout: float = 20.0, explain: Any = None) -> None:
    """Poll a condition on the database until it holds (the bot works in its own tasks); `explain()` says
    what was there instead when it does not."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(check):
        if loop.time() > deadline:
            raise AssertionError("the condition did not come true in time" + (f": {explain()}" if explain else ""))
        await asyncio.sleep(0.05)
