"""Initiatives in the chat, against the fake Bot API (Rasa stands in): what a forged or stale press, a wrong
amount, an unknown share link and a resident without an idea get."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from db import models
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.bot.test_reach import GreetingRasa, buttons
from tests.factories import make_resident, make_staff
from wijkbot.initiatives import decide, start_initiative, support
from wijkbot.items import file_item

App = Application[Any, Any, Any, Any, Any, Any]
NOW = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)
DORST = "WK082613"


@pytest.fixture
async def app(telegram: FakeTelegramServer, database_url: str) -> AsyncIterator[App]:
    async with running_bot(bot_settings(telegram, database_url=database_url)) as application:
        rt = runtime_of(application)
        rt.clock = lambda: NOW
        rt.conversation.rasa = GreetingRasa()  # type: ignore[assignment]
        yield application


def in_review(app: App, *, decider_id: int, stranger_id: int) -> int:
    """An initiative in Dorst with enough support; Sanne (wijkmakelaar of Dorst) decides, Piet (another
    wijk) does not."""
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=[DORST], name="Sanne", telegram_id=decider_id)
        make_staff(session, services.registry, areas=["WK082606"], name="Piet", telegram_id=stranger_id)
        anna = make_resident(session, telegram_id=8001)
        item = file_item(
            session,
            services.registry,
            services.rules,
            resident=anna,
            kind="idea",
            area_code=DORST,
            text="Bankjes",
            now=NOW,  # the bot's clock: its notices are due for the sender whatever the calendar says
        ).item
        initiative = start_initiative(
            session, services.registry, telegram_id=8001, item_id=item.id, requested=500, now=NOW
        )
        initiative.support_needed = 1
        neighbour = make_resident(session, telegram_id=8002)
        support(
            session,
            services.registry,
            code=initiative.share_code,
            telegram_id=neighbour.telegram_id,
            first_name="B",
            joins=True,
            postcode="4849AB",
            now=NOW,
        )
        assert item.status == "review"
        return item.id


async def test_a_forged_decision_button_is_refused_and_changes_nothing(app: App, telegram: FakeTelegramServer) -> None:
    item_id = in_review(app, decider_id=9101, stranger_id=9102)
    telegram.push_callback(9102, f"ini:{item_id}:support", 1)
    [answer] = await telegram.wait_for_calls_async("answerCallbackQuery", count=1, timeout=30)
    assert answer.params.get("show_alert") and "hoort niet bij jouw gebied" in answer.params["text"]
    with transaction(runtime_of(app).services.sessions) as session:
        assert session.get(models.Item, item_id).status == "review"  # type: ignore[union-attr]


async def test_a_wrong_amount_is_explained_and_the_decider_can_type_it_again(
    app: App, telegram: FakeTelegramServer
) -> None:
    item_id = in_review(app, decider_id=9201, stranger_id=9202)
    review = (await telegram.wait_for_messages_async(9201, count=3, timeout=30))[2]  # after: new idea, initiative
    assert "tijd voor een besluit" in review["plain_text"]
    telegram.push_callback(9201, buttons(review)["Toekennen (bedrag)"], review["message_id"])
    await telegram.wait_for_messages_async(9201, count=4, timeout=30)
    telegram.push_text(9201, "heel veel")
    wrong = (await telegram.wait_for_messages_async(9201, count=5, timeout=30))[4]
    assert "Typ een bedrag in hele euro's" in wrong["plain_text"]
    telegram.push_text(9201, "200000")
    too_much = (await telegram.wait_for_messages_async(9201, count=6, timeout=30))[5]
    assert "past niet" in too_much["plain_text"] and "Er is niets toegekend" in too_much["plain_text"]
    telegram.push_text(9201, "450")
    granted = (await telegram.wait_for_messages_async(9201, count=7, timeout=30))[6]
    assert "€ 450 toegekend" in granted["plain_text"] and buttons(granted) == {
        "Start uitvoering": f"ini:{item_id}:start"
    }


async def test_an_unknown_share_link_and_no_idea_yet_get_a_kind_answer(app: App, telegram: FakeTelegramServer) -> None:
    telegram.push_command(9301, "start", args="i_abcdefgh")
    _greeting, _privacy, unknown = await telegram.wait_for_messages_async(9301, count=3, timeout=30)
    assert "ken ik niet (meer)" in unknown["plain_text"]
    telegram.push_command(9301, "initiatief")
    no_idea = (await telegram.wait_for_messages_async(9301, count=4, timeout=30))[3]
    assert "Vertel me eerst je idee" in no_idea["plain_text"]


async def test_a_reply_to_another_message_still_goes_to_the_assistant(app: App, telegram: FakeTelegramServer) -> None:
    telegram.push_command(9401, "start")
    greeting = (await telegram.wait_for_messages_async(9401, count=2, timeout=30))[0]
    telegram.push_text(9401, "4849 AB", reply_to_message_id=greeting["message_id"])
    await telegram.wait_for_messages_async(9401, count=3, timeout=30)
    assert runtime_of(app).conversation.rasa.turns == ["/greet", "4849 AB"]  # type: ignore[attr-defined]
    with transaction(runtime_of(app).services.sessions) as session:
        assert session.scalars(select(models.Supporter)).all() == []


async def test_the_initiators_photo_of_the_result_is_shown_with_gerealiseerd(
    app: App, telegram: FakeTelegramServer
) -> None:
    item_id = in_review(app, decider_id=9501, stranger_id=9502)
    services = runtime_of(app).services
    with transaction(services.sessions) as session:
        sanne = session.scalars(select(models.StaffMember).where(models.StaffMember.telegram_id == 9501)).one()
        for decision in ("support", "done"):
            decide(session, services.registry, staff=sanne, item_id=item_id, decision=decision, now=NOW)
    before = len(telegram.sent_messages(8001))
    pushed = telegram.push_photo(8001)
    # the decisions' notices to Anna may still be on their way: look for the thanks, not at a count
    await telegram.wait_for_text_async(8001, f"gerealiseerde buurtinitiatief #{item_id}", since=before, timeout=30)
    await telegram.wait_for_messages_async(8002, count=3, timeout=30)  # review, in uitvoering, gerealiseerd
    telegram.push_command(8002, "gerealiseerd")  # the neighbour lives in Dorst
    shown, photo = (await telegram.wait_for_messages_async(8002, count=5, timeout=30))[3:5]
    assert "Gerealiseerd in Dorst" in shown["plain_text"] and "Bankjes" in shown["plain_text"]
    assert photo["method"] == "sendPhoto" and "Gerealiseerd: Bankjes" in photo["text"]
    sent = telegram.calls("sendPhoto")[-1]
    assert sent.params["photo"] == pushed["message"]["photo"][-1]["file_id"]
