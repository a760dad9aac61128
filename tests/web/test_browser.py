"""The workspace in a real browser (Debian's Chromium through Playwright), beside the real bot on the fake Bot
API: signing in with /web, the inbox and item pages, a reply that reaches the resident's chat, internal notes
that never do, rights as in Telegram, refused links, escaping, and axe-core (WCAG 2.1 AA) on every page."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

from playwright.async_api import Browser, Page, expect

from db import models
from db.models import utcnow
from db.session import transaction
from tests.bot.harness import runtime_of
from tests.factories import make_resident, make_staff
from tests.web.conftest import Workspace, axe_violations, file_in_den_hout

HOSTILE = '<img src=x onerror="window.pwned=1">Losse <b>tegel</b> & kuil bij de school'
_users = itertools.count(881_000_001)


async def login_link(workspace: Workspace, telegram_id: int) -> str:
    """Send /web as this staff member and return the link the bot answers with (its last line)."""
    before = len(workspace.telegram.sent_messages(telegram_id))
    workspace.telegram.push_text(telegram_id, "/web")
    # a notice (a new report in the area) may reach the same chat meanwhile: look for the link, not at a count
    message = await workspace.telegram.wait_for_text_async(telegram_id, "/login/", since=before, timeout=30)
    text = message["text"]
    url = text.strip().splitlines()[-1]
    assert url.startswith(f"{workspace.url}/login/"), text
    return url


def seed(workspace: Workspace) -> dict[str, int]:
    """A wijkmakelaar and a council member of Den Hout, a resident, and a report of hers there."""
    services = runtime_of(workspace.app).services
    with transaction(services.sessions) as session:
        sanne = make_staff(session, services.registry, areas=["WK082611"], name="Sanne", telegram_id=next(_users))
        kees = make_staff(
            session, services.registry, areas=["WK082611"], name="Kees", role="council", telegram_id=next(_users)
        )
        resident = make_resident(session, first_name="Anna", telegram_id=next(_users))
        report = file_in_den_hout(session, services, resident, "report", HOSTILE, location="Schoolstraat")
        return {
            "sanne": int(sanne.telegram_id or 0),
            "kees": int(kees.telegram_id or 0),
            "resident": resident.telegram_id,
            "report": report.id,
        }


async def test_staff_sign_in_with_web_answer_on_the_item_page_and_the_resident_gets_it(
    workspace: Workspace, page: Page
) -> None:
    ids = seed(workspace)
    link = await login_link(workspace, ids["sanne"])
    # the sender's periodic tick is an hour away: only the workspace's wake (wijkbot.outbox_wake) sends the reply
    runtime_of(workspace.app).sender.tick_seconds = 3600

    await page.goto(link)
    assert page.url == f"{workspace.url}/inbox"  # the token left the address bar at once
    row = page.get_by_role("row").filter(has_text=f"#{ids['report']}")
    await expect(row).to_contain_text("melding")
    await expect(row).to_contain_text("Den Hout")
    assert await axe_violations(page) == []

    await row.get_by_role("link", name=f"#{ids['report']}").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Melding #{ids['report']}")
    # resident text is shown as text, never as markup: the hostile image did not run
    await expect(page.locator(".thread .text").first).to_have_text(HOSTILE)
    assert await page.evaluate("window.pwned") is None
    assert await axe_violations(page) == []

    await page.get_by_label("Nieuwe notitie").fill("Intern: aannemer weet ervan")
    await page.get_by_role("button", name="Notitie opslaan").click()
    await expect(page.locator(".notes")).to_contain_text("Intern: aannemer weet ervan")

    await page.get_by_label("Antwoord aan Anna").fill("We repareren de tegel deze week.")
    await page.get_by_role("button", name="Antwoord versturen").click()
    await expect(page.get_by_role("status")).to_contain_text("naar de inwoner gestuurd")
    await expect(page.locator(".thread")).to_contain_text("We repareren de tegel deze week.")

    messages = await workspace.telegram.wait_for_messages_async(ids["resident"], count=1, timeout=30)
    assert "We repareren de tegel deze week." in messages[0]["text"] and "Sanne" in messages[0]["text"]
    assert all("aannemer" not in m["text"] for m in workspace.telegram.sent_messages(ids["resident"]))
    with transaction(runtime_of(workspace.app).services.sessions) as session:
        item = session.get(models.Item, ids["report"])
        assert item is not None and item.status == "answered" and item.thread_staff_id is not None
    assert await axe_violations(page) == []


async def test_a_council_member_gets_403_on_a_report_of_their_wijk(workspace: Workspace, page: Page) -> None:
    ids = seed(workspace)
    await page.goto(await login_link(workspace, ids["kees"]))
    assert page.url == f"{workspace.url}/inbox"
    await expect(page.locator("#items")).not_to_contain_text(f"#{ids['report']}")
    response = await page.goto(f"{workspace.url}/items/{ids['report']}")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Geen toegang")
    assert await axe_violations(page) == []


async def test_a_used_or_expired_link_is_refused(workspace: Workspace, browser: Browser, page: Page) -> None:
    ids = seed(workspace)
    link = await login_link(workspace, ids["sanne"])
    await page.goto(link)
    assert page.url == f"{workspace.url}/inbox"

    other = await browser.new_context()  # someone else with the same link, or the same person again
    second = await other.new_page()
    response = await second.goto(link)
    assert response is not None and response.status == 403
    await expect(second.get_by_role("status")).to_contain_text("al gebruikt")
    assert await axe_violations(second) == []

    late = await login_link(workspace, ids["sanne"])
    workspace.clock.now += timedelta(minutes=10, seconds=1)
    response = await second.goto(late)
    assert response is not None and response.status == 403
    await expect(second.get_by_role("status")).to_contain_text("verlopen")
    response = await second.goto(f"{workspace.url}/inbox")
    assert response is not None and response.status == 401  # refused links set no session
    await other.close()


async def test_web_gives_a_resident_no_link(workspace: Workspace) -> None:
    ids = seed(workspace)
    workspace.telegram.push_text(ids["resident"], "/web")
    answer = (await workspace.telegram.wait_for_messages_async(ids["resident"], count=1, timeout=30))[0]
    assert "Alleen actieve medewerkers" in answer["text"] and "/login/" not in answer["text"]


async def test_the_login_page_explains_how_to_sign_in_and_passes_axe(workspace: Workspace, page: Page) -> None:
    response = await page.goto(f"{workspace.url}/inbox")
    assert response is not None and response.status == 401
    await expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen op de werkplek")
    await expect(page.locator("main")).to_contain_text("/web")
    assert await axe_violations(page) == []


async def test_the_inbox_filters_by_kind_and_search_without_putting_them_in_the_address(
    workspace: Workspace, page: Page
) -> None:
    ids = seed(workspace)
    await page.goto(await login_link(workspace, ids["sanne"]))
    await page.get_by_label("Zoeken in de tekst of op nummer").fill("geen-zulke-tekst")
    await page.get_by_role("button", name="Filteren").click()
    await expect(page.locator("#items")).to_contain_text("Geen items met deze filters.")
    await page.get_by_label("Zoeken in de tekst of op nummer").fill("tegel")
    await page.get_by_role("button", name="Filteren").click()
    await expect(page.locator("#items")).to_contain_text(f"#{ids['report']}")
    await page.get_by_label("Thema").select_option(label="Straat, stoep en verlichting")  # "tegel"
    await expect(page.locator("#items")).to_contain_text(f"#{ids['report']}")
    await page.get_by_label("Thema").select_option(label="Groen en bomen")
    await expect(page.locator("#items")).to_contain_text("Geen items met deze filters.")
    await page.get_by_label("Thema").select_option(label="alle thema's")
    await page.get_by_label("Soort").select_option("idea")
    await expect(page.locator("#items")).to_contain_text("Geen items met deze filters.")
    assert "tegel" not in page.url and page.url == f"{workspace.url}/inbox"


async def test_statistics_page_passes_axe_and_its_csv_is_the_table(workspace: Workspace, page: Page) -> None:
    ids = seed(workspace)
    await page.goto(await login_link(workspace, ids["sanne"]))
    await page.get_by_role("link", name="Statistieken").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Statistieken")
    months = page.locator("#months")
    await expect(months.get_by_role("row").filter(has_text="Den Hout")).to_contain_text("<5")
    charts = page.get_by_role("img", name=re.compile("^Staafdiagram: "))
    await expect(charts).to_have_count(2)
    for chart in await charts.all():  # each chart beside its table was served and drawn
        assert await chart.evaluate("image => image.decode().then(() => image.naturalWidth > 0, () => false)")
    assert await axe_violations(page) == []
    response = await page.request.get(f"{workspace.url}/stats/maanden.csv")
    assert response.status == 200 and response.headers["content-type"].startswith("text/csv")
    lines = (await response.text()).splitlines()
    assert lines[0] == "maand,gebied,idee,melding,vraag,contactverzoek,totaal"
    shown_rows = await months.locator("tbody tr").all_inner_texts()
    assert [line.split(",") for line in lines[1:]] == [row.split("\t") for row in shown_rows]


async def test_a_standard_answer_fills_the_reply_box_in_place_and_is_edited_before_sending(
    workspace: Workspace, page: Page
) -> None:
    ids = seed(workspace)
    await page.goto(await login_link(workspace, ids["sanne"]))
    await page.goto(f"{workspace.url}/items/{ids['report']}")
    assert await axe_violations(page) == []
    await page.get_by_label("Standaardantwoord").select_option(label="Melding doorgegeven aan de buitendienst")
    await page.get_by_role("button", name="Invullen").click()
    box = page.get_by_label("Antwoord aan Anna")
    await expect(box).to_have_value(re.compile(r"^Hoi Anna, bedankt voor je melding\. .*\[\[wie\]\]"))
    assert page.url == f"{workspace.url}/items/{ids['report']}"  # HTMX swapped the box; the page stayed
    await page.get_by_role("button", name="Antwoord versturen").click()  # blanks still in it: nothing is sent
    await expect(page.get_by_role("status")).to_contain_text("Vul eerst [[wie]], [[termijn]] in.")
    text = (await box.input_value()).replace("[[wie]]", "de buitendienst").replace("[[termijn]]", "een week")
    await box.fill(text)
    await page.get_by_role("button", name="Antwoord versturen").click()
    await expect(page.get_by_role("status")).to_contain_text("naar de inwoner gestuurd")
    messages = await workspace.telegram.wait_for_messages_async(ids["resident"], count=1, timeout=30)
    assert "doorgegeven aan de buitendienst. Zij pakken het meestal binnen een week op." in messages[0]["text"]
    assert "[[" not in messages[0]["text"]


async def test_a_residents_photo_shows_on_the_item_page_fetched_from_telegram(workspace: Workspace, page: Page) -> None:
    ids = seed(workspace)
    workspace.telegram.push_photo(ids["resident"])  # a photo after the report: it joins the open item
    await workspace.telegram.wait_for_async(
        lambda: any(m["method"] == "sendPhoto" for m in workspace.telegram.sent_messages(ids["sanne"])), 30
    )
    await page.goto(await login_link(workspace, ids["sanne"]))
    await page.goto(f"{workspace.url}/items/{ids['report']}")
    photo = page.get_by_role("img", name=f"Foto 1 van 1 bij #{ids['report']}")
    await expect(photo).to_be_visible()
    source = await photo.get_attribute("src")
    assert source == f"/items/{ids['report']}/photos/1"
    response = await page.request.get(f"{workspace.url}{source}")  # the page's session, through the Bot API
    assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
    assert (await response.body()).startswith(b"\xff\xd8\xff\xe0fake-jpeg-large")
    assert await axe_violations(page) == []


async def test_forward_to_a_department_and_a_department_member_finds_it_in_their_queue(
    workspace: Workspace, browser: Browser, page: Page
) -> None:
    ids = seed(workspace)
    services = runtime_of(workspace.app).services
    with transaction(services.sessions) as session:
        gert = make_staff(
            session, services.registry, areas=["WK082611"], name="Gert", role="afdeling:groen", telegram_id=next(_users)
        )
        gert_id = int(gert.telegram_id or 0)
    await page.goto(await login_link(workspace, ids["sanne"]))
    await page.goto(f"{workspace.url}/items/{ids['report']}")
    await page.get_by_label("Doorsturen naar een afdeling").select_option(label="Groen")
    assert await axe_violations(page) == []
    await page.get_by_role("button", name="Naar de afdeling").click()
    await expect(page.get_by_role("status")).to_contain_text("doorgestuurd naar de afdeling Groen")
    # wijkbot.items.notify_recipients queues on the wall clock, not the injected one: let the bot's clock reach it
    workspace.clock.now = utcnow() + timedelta(seconds=1)
    [notice] = await workspace.telegram.wait_for_messages_async(gert_id, count=1, timeout=30)  # told in Telegram
    assert f"#{ids['report']}" in notice["text"]

    other = await browser.new_context()
    department = await other.new_page()
    await department.goto(await login_link(workspace, gert_id))
    await expect(department.locator("#items")).to_contain_text(f"#{ids['report']}")
    assert await axe_violations(department) == []
    await other.close()
