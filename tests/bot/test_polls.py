"""Polls and outreach end to end against the fake Bot API: the real bot (PTB Application) or the real sender.

Time is controlled through the sender's clock; the bot runs without quiet hours so that these tests pass
at any time of day.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import delete, func, select
from telegram.ext import Application, CallbackContext

from bot import polls
from bot.runtime import Runtime
from bot.sender import Delivery, OutboxSender, Outgoing, RateLimiter
from bot.telegram_transport import TelegramTransport
from db import models
from db.models import utcnow
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_staff
from tests.polls_support import DEN_HOUT, DORST, NOW, POLICY, SLOTJES, ZONE, make_subscriber, ticking_from
from wijkbot.outreach import Policy, enqueue_checkin
from wijkbot.polls import broadcast_poll, close_due_polls, create_poll, open_due_polls, poll_results
from wijkbot.residents import set_outreach
from wijkbot.services import Services, open_services

App = Application[Any, Any, Any, Any, Any, Any]
DAY = timedelta(days=1)


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


@pytest.fixture
async def app(telegram: FakeTelegramServer, database_url: str) -> AsyncIterator[App]:
    settings = bot_settings(telegram, database_url=database_url, outreach_quiet_hours="")
    async with running_bot(settings) as application:
        yield application


@pytest.fixture
async def transport(telegram: FakeTelegramServer) -> AsyncIterator[TelegramTransport]:
    async with telegram.make_bot() as bot:
        yield TelegramTransport(bot)


def fast() -> RateLimiter:
    return RateLimiter(per_second=None, per_chat_gap=0, group_gap=0)


def poll_message(telegram: FakeTelegramServer, chat_id: int) -> dict[str, Any]:
    return next(m for m in telegram.sent_messages(chat_id) if m["method"] == "sendPoll")


async def wait_db(rt: Runtime, check: Any, timeout: float = 15.0) -> None:
    """Wait until `check(session)` holds in the database."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await rt.db(check):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the database never reached the expected state")
        await asyncio.sleep(0.05)


def start_poll(services: Services, areas: list[str], *, creator_telegram_id: int | None = None) -> int:
    with transaction(services.sessions) as session:
        creator = None
        if creator_telegram_id is not None:
            creator = session.scalars(
                select(models.StaffMember).where(models.StaffMember.telegram_id == creator_telegram_id)
            ).one()
        poll = create_poll(
            session,
            services.registry,
            question="Zullen we de speeltuin opknappen?",
            options=["Ja", "Nee"],
            area_codes=areas,
            via="test",
            creator=creator,
        )
        open_due_polls(session, services.registry, policy=Policy(zone=ZONE, quiet=None))
        return poll.id


# --- the whole bot ------------------------------------------------------------------------------------


async def test_a_poll_reaches_its_subscribers_counts_votes_and_closes_with_results(
    app: App, telegram: FakeTelegramServer
) -> None:
    rt = runtime_of(app)
    services = rt.services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=[SLOTJES, DEN_HOUT], telegram_id=900, name="Sanne")
        slotjes = [make_subscriber(session, SLOTJES, telegram_id=1001 + n).telegram_id for n in range(6)]
        den_hout = [make_subscriber(session, DEN_HOUT, telegram_id=1011 + n).telegram_id for n in range(2)]
        make_subscriber(session, SLOTJES, opted_in=False, telegram_id=1020)
        make_subscriber(session, DORST, telegram_id=1030)
    poll_id = start_poll(services, [SLOTJES, DEN_HOUT], creator_telegram_id=900)
    rt.sender.wake()
    for chat in slotjes + den_hout:
        intro, poll = await telegram.wait_for_messages_async(chat, count=2, timeout=20)
        assert "alleen de totalen" in intro["plain_text"] and "/stop" in intro["plain_text"]
        assert poll["method"] == "sendPoll" and poll["poll"]["is_anonymous"] is False
    assert telegram.sent_messages(1020) == [] and telegram.sent_messages(1030) == []

    def all_recorded(session: Any) -> bool:
        ballots = session.scalars(select(models.PollBallot).where(models.PollBallot.poll_id == poll_id)).all()
        return len(ballots) == 8 and all(b.telegram_poll_id for b in ballots)

    await wait_db(rt, all_recorded)
    ids = {chat: poll_message(telegram, chat)["poll"]["id"] for chat in slotjes + den_hout}
    votes = [(1001, [0]), (1002, [0]), (1003, [1]), (1004, [0]), (1004, [1]), (1005, [1]), (1005, [])]
    votes += [(1006, [0]), (1011, [0]), (1012, [1]), (1030, [0])]
    for user, options in votes:
        telegram.push_poll_answer(user, ids.get(user, ids[1001]), options)  # 1030 forges a vote on 1001's poll

    def counted(session: Any) -> bool:
        # every answer handled: these totals also hold for a moment while 1005's vote still counts and 1012's not
        handled = session.scalar(
            select(func.count())
            .select_from(models.InboundUpdate)
            .where(models.InboundUpdate.kind == "poll_answer", models.InboundUpdate.status == "done")
        )
        results = poll_results(session, services.registry, poll_id=poll_id, threshold=5)
        return handled == len(votes) and results.total == 7 and [o.votes for o in results.options] == [4, 3]

    await wait_db(rt, counted)
    body = await rt.db(lambda s: poll_results(s, services.registry, poll_id=poll_id, threshold=5).as_json())
    assert body["areas"] == [  # Den Hout's 2 would be the total minus Slotjes: both hidden
        {"code": SLOTJES, "total": None, "options": None},
        {"code": DEN_HOUT, "total": None, "options": None},
    ]

    closes = await rt.db(lambda s: s.get(models.Poll, poll_id).closes_at)
    await rt.db(lambda s: close_due_polls(s, services.registry, threshold=5, now=closes))
    rt.sender.wake()
    [staff_text, staff_chart] = await telegram.wait_for_messages_async(900, count=2, timeout=20)
    assert "Ja: 4 (57%)" in staff_text["plain_text"] and "Slotjes (" not in staff_text["plain_text"]
    assert "Den Hout: niet apart getoond" in staff_text["plain_text"]
    assert staff_chart["method"] == "sendPhoto"
    voters = [1001, 1002, 1003, 1004, 1006, 1011, 1012]
    for chat in voters:
        messages = await telegram.wait_for_messages_async(chat, count=4, timeout=20)
        assert [m["method"] for m in messages] == ["sendMessage", "sendPoll", "sendMessage", "sendPhoto"]
        assert "De uitslag is er" in messages[2]["plain_text"]
    await telegram.wait_for_calls_async("stopPoll", count=8, timeout=20)
    assert all(telegram.poll_state(poll_id)["is_closed"] for poll_id in ids.values())  # type: ignore[index]
    assert len(telegram.sent_messages(1005)) == 2  # took the vote back: no results
    photos = telegram.calls("sendPhoto")
    assert len(photos) == 8 and all(call.ok for call in photos)
    uploads = [call.files["photo"].data for call in photos if "photo" in call.files]
    assert uploads and len(uploads) < len(photos)  # uploaded once (or a few times at first), then by file id
    image = Image.open(io.BytesIO(uploads[0]))
    assert image.format == "PNG" and image.size[0] >= 400
    image.verify()
    assert not telegram.errors


async def test_stop_ends_outreach_at_once(app: App, telegram: FakeTelegramServer) -> None:
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        make_subscriber(session, SLOTJES, telegram_id=2001)
        make_subscriber(session, SLOTJES, telegram_id=2002)
    telegram.push_command(2001, "stop")
    [reply] = await telegram.wait_for_messages_async(2001, count=1, timeout=10)
    assert "geen peilingen" in reply["plain_text"]
    start_poll(rt.services, [SLOTJES])
    rt.sender.wake()
    await telegram.wait_for_messages_async(2002, count=2, timeout=20)
    assert len(telegram.sent_messages(2001)) == 1


async def test_staff_create_preview_and_schedule_a_poll_from_telegram(app: App, telegram: FakeTelegramServer) -> None:
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        make_staff(session, rt.services.registry, areas=[SLOTJES, DEN_HOUT], telegram_id=3000, name="Sanne & Co")
        make_subscriber(session, SLOTJES, telegram_id=3001)
        make_subscriber(session, DEN_HOUT, telegram_id=3002)

    async def next_message(count: int) -> dict[str, Any]:
        return (await telegram.wait_for_messages_async(3000, count=count, timeout=15))[-1]

    telegram.push_command(3000, "peiling")
    assert "Nieuwe peiling" in (await next_message(1))["plain_text"]
    telegram.push_text(3000, "Zullen we een buurtfeest houden <op> het plein?")
    assert "antwoorden" in (await next_message(2))["plain_text"]
    telegram.push_text(3000, "Ja, graag\nNee\n\n")
    areas = await next_message(3)
    buttons = [b["callback_data"] for row in areas["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [f"peiling:area:{SLOTJES}", f"peiling:area:{DEN_HOUT}", "peiling:area:all"]
    telegram.push_callback(3000, f"peiling:area:{SLOTJES}", areas["message_id"])
    start = await next_message(4)
    telegram.push_callback(3000, "peiling:start:now", start["message_id"])
    close = await next_message(5)
    telegram.push_callback(3000, "peiling:close:7", close["message_id"])
    preview = await next_message(6)
    text = preview["plain_text"]
    assert "Zullen we een buurtfeest houden <op> het plein?" in text and "2. Nee" in text
    assert "Slotjes (1 aangemelde inwoners)" in text and "alleen de totalen" in text and "Sanne & Co" in text
    assert [b["text"] for b in preview["reply_markup"]["inline_keyboard"][0]] == ["Inplannen", "Annuleren"]
    assert telegram.sent_messages(3001) == []  # nothing leaves before it is confirmed
    telegram.push_callback(3000, "peiling:ok", preview["message_id"])
    assert "is verstuurd naar 1 inwoners" in (await next_message(7))["plain_text"]
    _intro, poll = await telegram.wait_for_messages_async(3001, count=2, timeout=20)
    assert poll["poll"]["question"] == "Zullen we een buurtfeest houden <op> het plein?"
    assert [o["text"] for o in poll["poll"]["options"]] == ["Ja, graag", "Nee"]
    to_3002 = await rt.db(
        lambda s: s.scalars(select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == 3002)).all()
    )
    assert to_3002 == []  # not in the area: nothing was queued for them
    stored = await rt.db(lambda s: s.scalars(select(models.Poll)).one())
    assert (stored.created_via, stored.area_codes) == ("telegram", [SLOTJES])
    assert stored.closes_at - stored.starts_at == timedelta(days=7)
    assert not telegram.errors


async def test_the_peiling_flow_refuses_foreign_areas_and_non_staff(app: App, telegram: FakeTelegramServer) -> None:
    rt = runtime_of(app)
    with transaction(rt.services.sessions) as session:
        make_staff(session, rt.services.registry, areas=[SLOTJES, DORST], telegram_id=3100)
    telegram.push_command(3200, "peiling")
    [refused] = await telegram.wait_for_messages_async(3200, count=1, timeout=10)
    assert "alleen als medewerker" in refused["plain_text"]
    telegram.push_command(3100, "peiling")
    await telegram.wait_for_messages_async(3100, count=1, timeout=10)
    telegram.push_text(3100, "Een vraag?")
    await telegram.wait_for_messages_async(3100, count=2, timeout=10)
    telegram.push_text(3100, "Ja\nNee")
    [*_, areas] = await telegram.wait_for_messages_async(3100, count=3, timeout=10)
    telegram.push_callback(3100, f"peiling:area:{DEN_HOUT}", areas["message_id"])  # forged: not theirs
    [*_, forged] = await telegram.wait_for_messages_async(3100, count=4, timeout=10)
    assert "hoort niet bij jou" in forged["plain_text"]
    telegram.push_command(3100, "annuleer")
    [*_, cancelled] = await telegram.wait_for_messages_async(3100, count=5, timeout=10)
    assert "geannuleerd" in cancelled["plain_text"]
    assert await rt.db(lambda s: s.scalars(select(models.Poll)).all()) == []


async def test_the_jobs_open_and_close_polls_and_send_check_ins_from_the_database(
    app: App, telegram: FakeTelegramServer
) -> None:
    rt = runtime_of(app)
    context = CallbackContext(app)
    with transaction(rt.services.sessions) as session:
        make_subscriber(session, DORST, telegram_id=4001)
        poll = create_poll(
            session,
            rt.services.registry,
            question="Een jeu-de-boulesbaan?",
            options=["Ja", "Nee"],
            area_codes=[DORST],
            via="test",
        )
        poll_id = poll.id
    await polls.run_due_polls(context)
    await telegram.wait_for_messages_async(4001, count=2, timeout=20)

    def close_now(session: Any) -> None:
        session.get(models.Poll, poll_id).closes_at = utcnow()

    await rt.db(close_now)
    await polls.run_due_polls(context)
    await telegram.wait_for_calls_async("stopPoll", count=1, timeout=20)
    assert await rt.db(lambda s: s.get(models.Poll, poll_id).status) == "closed"

    await polls.run_outreach(context)  # makes the schedules; the first check-in is a period away

    def due_now(session: Any) -> None:
        session.get(models.CheckinSchedule, DORST).next_at = utcnow()
        session.execute(delete(models.OutreachContact))  # a week has passed since the poll

    await rt.db(due_now)
    await polls.run_outreach(context)
    [*_, checkin] = await telegram.wait_for_messages_async(4001, count=3, timeout=20)
    assert "Wat speelt er in Dorst?" in checkin["plain_text"]


# --- the sender: crash and resume, quiet hours, the weekly cap, opt-out, two senders, the rate ----------


def broadcast_now(services: Services, count: int, *, area: str = SLOTJES, start: int = 5000) -> tuple[int, list[int]]:
    """A poll opened at NOW (daytime) for `count` new subscribers."""
    with transaction(services.sessions) as session:
        chats = [make_subscriber(session, area, telegram_id=start + n).telegram_id for n in range(count)]
        poll = create_poll(
            session,
            services.registry,
            question="Een bankje erbij?",
            options=["Ja", "Nee"],
            area_codes=[area],
            via="test",
            now=NOW,
        )
        broadcast_poll(session, services.registry, poll=poll, policy=POLICY, now=NOW)
        return poll.id, chats


class ProcessDied(BaseException):
    """The bot process stops dead: nothing after this runs."""


class DyingTransport:
    """Delivers `lives` messages, then the process dies (every later call too)."""

    def __init__(self, inner: TelegramTransport, lives: int) -> None:
        self.inner = inner
        self.lives = lives

    async def send(self, message: Outgoing) -> int | Delivery | None:
        if self.lives <= 0:
            raise ProcessDied
        self.lives -= 1
        return await self.inner.send(message)


async def test_a_broadcast_resumes_after_a_crash_sending_nothing_twice_and_holding_what_was_in_flight(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    poll_id, chats = broadcast_now(services, 30)
    dying = OutboxSender(services, DyingTransport(transport, lives=25), limiter=fast(), clock=lambda: NOW)
    with pytest.raises(ProcessDied):
        await dying.send_due()
    await telegram.wait_for_async(lambda: len(telegram.sent_messages()) == 25)  # what was in flight lands

    def recorded() -> bool:  # and is recorded: the dead sender's last writes, each in a worker thread
        with transaction(services.sessions) as session:
            sent = select(func.count()).select_from(models.OutboxMessage).where(models.OutboxMessage.status == "sent")
            return session.scalar(sent) == 25

    await telegram.wait_for_async(recorded, timeout=30, message="the 25 sends that landed were not all recorded")
    restarted = OutboxSender(services, transport, limiter=fast(), clock=lambda: NOW + timedelta(minutes=3))
    while await restarted.send_due():
        pass
    for chat in chats:
        methods = [m["method"] for m in telegram.sent_messages(chat)]
        assert len(methods) == len(set(methods)), chat  # nothing twice
    with transaction(services.sessions) as session:
        outbox = list(session.scalars(select(models.OutboxMessage)))
        ballots = session.scalars(select(models.PollBallot).where(models.PollBallot.poll_id == poll_id)).all()
        for row in outbox:
            arrived = [m for m in telegram.sent_messages(row.recipient_chat_id) if m["method"] == row.method]
            # a call the dead sender had started may have reached Telegram: held as 'uncertain' (listed by
            # `wijkbot outbox failed`), never sent a second time; everything else was sent exactly once
            assert (row.status, len(arrived)) in {("sent", 1), ("uncertain", 0)}, row.purpose
        held = Counter(r.recipient_chat_id for r in outbox if r.status == "uncertain")
        # each chat's rows go out one at a time: at most the one whose call had begun is held, per chat
        assert held and max(held.values()) == 1 and len(outbox) == 60
        assert sum(1 for b in ballots if b.telegram_poll_id) == sum(
            1 for r in outbox if r.purpose == f"poll:{poll_id}" and r.status == "sent"
        )


async def test_quiet_hours_hold_outreach_until_the_morning(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    evening = NOW.replace(hour=19, minute=55)  # 20:55 in Amsterdam
    with transaction(services.sessions) as session:
        resident = make_subscriber(session, SLOTJES, telegram_id=6001)
        enqueue_checkin(session, services.registry, area_code=SLOTJES, policy=POLICY, now=evening)
    clock = [evening + timedelta(minutes=10)]  # 21:05: too late now
    sender = OutboxSender(services, transport, limiter=fast(), clock=lambda: clock[0])
    assert await sender.send_due() == 0
    assert telegram.sent_messages() == []
    clock[0] = evening + timedelta(hours=12)  # 08:55 next day
    assert await sender.send_due() == 0
    clock[0] = evening + timedelta(hours=12, minutes=6)  # 09:01
    assert await sender.send_due() == 1
    [checkin] = telegram.sent_messages(resident.telegram_id)
    assert "Wat speelt er in Slotjes?" in checkin["plain_text"]
    buttons = [b["text"] for row in checkin["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["Ik heb een idee", "Ik wil iets melden", "Ik heb een vraag"]


async def test_the_weekly_cap_holds_a_poll_back_until_a_week_after_the_check_in(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    with transaction(services.sessions) as session:
        checked_in = make_subscriber(session, SLOTJES, telegram_id=7001)
        enqueue_checkin(session, services.registry, area_code=SLOTJES, policy=POLICY, now=NOW)
        fresh = make_subscriber(session, SLOTJES, telegram_id=7002)
    clock = [NOW]
    sender = OutboxSender(services, transport, limiter=fast(), clock=lambda: clock[0])
    assert await sender.send_due() == 1
    with transaction(services.sessions) as session:
        poll = create_poll(
            session,
            services.registry,
            question="Q?",
            options=["a", "b"],
            area_codes=[SLOTJES],
            via="t",
            now=NOW + 2 * DAY,
            closes_at=NOW + 14 * DAY,
        )
        broadcast_poll(session, services.registry, poll=poll, policy=POLICY, now=NOW + 2 * DAY)
    clock[0] = NOW + 2 * DAY
    while await sender.send_due():
        pass
    assert len(telegram.sent_messages(fresh.telegram_id)) == 2
    assert len(telegram.sent_messages(checked_in.telegram_id)) == 1  # only the check-in so far
    clock[0] = NOW + 7 * DAY - timedelta(minutes=1)
    assert await sender.send_due() == 0
    clock[0] = NOW + 7 * DAY
    while await sender.send_due():
        pass
    assert [m["method"] for m in telegram.sent_messages(checked_in.telegram_id)] == [
        "sendMessage",
        "sendMessage",
        "sendPoll",
    ]


async def test_a_resident_who_stops_gets_nothing_that_was_already_queued(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    _, (leaves, stays) = broadcast_now(services, 2)
    with transaction(services.sessions) as session:
        resident = session.scalars(select(models.Resident).where(models.Resident.telegram_id == leaves)).one()
        set_outreach(session, resident, opt_in=False, via="/stop")
    sender = OutboxSender(services, transport, limiter=fast(), clock=lambda: NOW)
    while await sender.send_due():
        pass
    assert telegram.sent_messages(leaves) == []
    assert len(telegram.sent_messages(stays)) == 2
    with transaction(services.sessions) as session:
        statuses = Counter(
            r.status
            for r in session.scalars(
                select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == leaves)
            )
        )
        assert statuses == {"skipped": 2}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_senders_on_postgresql_never_send_the_same_poll_row(
    services: Services, telegram: FakeTelegramServer, database_url: str
) -> None:
    _, chats = broadcast_now(services, 150)
    other = open_services(services.settings, prepare_database=False)
    async with telegram.make_bot() as bot_a, telegram.make_bot() as bot_b:
        senders = [
            OutboxSender(s, TelegramTransport(b), batch=25, limiter=fast(), clock=lambda: NOW)
            for s, b in ((services, bot_a), (other, bot_b))
        ]

        async def drain(sender: OutboxSender) -> int:
            total = 0
            while handled := await sender.send_due():
                total += handled
            return total

        counts = await asyncio.gather(*(drain(s) for s in senders))
    other.close()
    sent = Counter((m["chat_id"], m["method"]) for m in telegram.sent_messages())
    assert set(sent.values()) == {1} and len(sent) == 300
    assert {chat for chat, _ in sent} == set(chats)
    assert all(c > 0 for c in counts), counts


def rows_waiting(services: Services) -> int:
    with transaction(services.sessions) as session:
        query = select(func.count()).where(models.OutboxMessage.status.in_(("pending", "sending")))
        return int(session.scalar(query) or 0)


async def send_until_nothing_waits(sender: OutboxSender, services: Services, *, give_up_after: float = 120.0) -> None:
    """Send until no row waits any more: a row a 429 held back for `retry_after` is sent when it comes due (on
    a loaded machine a 429 can happen; the loop must not end while that row waits)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    while await sender.send_due() or await asyncio.to_thread(rows_waiting, services):
        assert loop.time() < deadline, "rows still waiting in the outbox"
        await asyncio.sleep(0.05)


async def test_a_broadcast_goes_out_at_telegram_s_rate_without_a_storm_of_429s(
    services: Services, transport: TelegramTransport, telegram: FakeTelegramServer
) -> None:
    _, chats = broadcast_now(services, 45)
    telegram.set_rate_limits(overall_per_second=30, per_chat_per_second=1, retry_after=1)
    sender = OutboxSender(services, transport, clock=ticking_from(NOW))  # the production limiter
    started = asyncio.get_running_loop().time()
    await send_until_nothing_waits(sender, services)
    elapsed = asyncio.get_running_loop().time() - started
    assert Counter(m["chat_id"] for m in telegram.sent_messages()) == dict.fromkeys(chats, 2)
    refused = [c for c in telegram.calls() if c.status == 429]
    assert len(refused) <= 5, f"{len(refused)} times 429: a storm"  # network jitter may cost one or two
    assert elapsed >= 2.5  # 90 messages at 30 a second
