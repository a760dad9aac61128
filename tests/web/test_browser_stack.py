"""Done-when of issue 13, against the real stack: a resident files an idea through the real bot, Rasa and the
action server; the wijkmakelaar gets a login link from the bot (/web), opens it in Chromium, finds the new item
in the inbox, answers it on the item page, and the resident receives the answer in the chat."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer
from tests.bot.harness import Chat, free_port, runtime_of
from tests.bot.test_e2e import finish_idea, item_of, share_idea_until_summary
from tests.factories import make_staff
from tests.stack import Stack
from tests.web.conftest import Clock, Workspace, axe_violations, serving, web_settings
from tests.web.test_browser import login_link

pytestmark = pytest.mark.rasa
_users = itertools.count(883_000_001)


@pytest.fixture
async def stack_workspace(stack: Stack, telegram: FakeTelegramServer) -> AsyncIterator[Workspace]:
    settings = web_settings(
        telegram,
        free_port(),
        database_url=stack.database_url,
        rasa_url=stack.rasa_url,
        tracker_db=str(stack.tracker_db),
        rasa_token=stack.rasa_token,
    )
    async with serving(settings, Clock(), telegram) as served:
        yield served


async def test_a_new_idea_answered_in_the_browser_reaches_the_resident(stack_workspace: Workspace, page: Page) -> None:
    workspace = stack_workspace
    services = runtime_of(workspace.app).services
    with transaction(services.sessions) as session:
        sanne = make_staff(session, services.registry, areas=["WK082611"], name="Sanne", telegram_id=next(_users))
        sanne_id = int(sanne.telegram_id or 0)
    resident = Chat(workspace.telegram, workspace.app, first_name="Anna")
    filed = await finish_idea(resident, await share_idea_until_summary(resident, "4911AB"))
    assert "Je idee gaat naar de wijkmakelaar van Den Hout." in filed["text"]
    item = item_of(workspace.app, resident.user_id)

    await page.goto(await login_link(workspace, sanne_id))
    assert page.url == f"{workspace.url}/inbox"
    row = page.get_by_role("row").filter(has_text=f"#{item.id}")
    await expect(row).to_contain_text("bankje bij de vijver")
    await row.get_by_role("link", name=f"#{item.id}").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Idee #{item.id}")
    assert await axe_violations(page) == []

    resident.cursor = len(resident.received)
    await page.get_by_label("Antwoord aan Anna").fill("Mooi idee! Bij welke vijver precies?")
    await page.get_by_role("button", name="Antwoord versturen").click()
    await expect(page.get_by_role("status")).to_contain_text("naar de inwoner gestuurd")
    answer = await resident.next_message()
    assert "Mooi idee! Bij welke vijver precies?" in answer["text"] and "Sanne" in answer["text"]

    # the thread is open as after a reply in Telegram: the resident's answer goes to Sanne, not to Rasa
    sanne_chat = Chat(workspace.telegram, workspace.app, sanne_id, "Sanne")
    sanne_chat.cursor = len(sanne_chat.received)
    passed_on = await resident.say("De vijver in het Houtse park")
    assert "doorgestuurd naar Sanne" in passed_on["text"]
    assert "De vijver in het Houtse park" in (await sanne_chat.next_message())["text"]
    await page.reload()
    await expect(page.locator(".thread")).to_contain_text("De vijver in het Houtse park")
