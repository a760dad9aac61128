"""The workspace's HTTP edge without a browser: the session cookie, CSRF on every form, rights on every page
and action, and the clock (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from db import models
from db.session import transaction
from tests.factories import make_item_recipient, make_resident, make_staff
from tests.web.conftest import Clock, file_in_den_hout
from web.app import COOKIE, create_app
from web.photos import Image, PhotoUnavailable, image_type
from wijkbot.services import Services
from wijkbot.staff import deactivate_staff
from wijkbot.web_login import create_login_link

JPEG = b"\xff\xd8\xff\xe0" + b"resident photo"
PHOTOS = {"file-tegel-1": Image(JPEG, "image/jpeg"), "file-tegel-2": Image(JPEG + b"2", "image/jpeg")}
FORMS = [
    "/logout",
    "/inbox",
    "/items/{id}/claim",
    "/items/{id}/reply",
    "/items/{id}/close",
    "/items/{id}/forward",
    "/items/{id}/note",
    "/items/{id}/canned",
    "/items/{id}/forward-department",
]


@dataclasses.dataclass
class Setup:
    services: Services
    clock: Clock
    client: TestClient
    ids: dict[str, int]

    def sign_in(self, who: str) -> str:
        """Sign `who` in; returns the session's CSRF token (read from the page's forms)."""
        with transaction(self.services.sessions) as session:
            link = create_login_link(session, telegram_id=self.ids[who], base_url="http://testserver", now=self.clock())
        self.client.cookies.clear()
        landed = self.client.get(link.url.removeprefix("http://testserver"))
        assert landed.status_code == 200 and landed.url.path == "/inbox", landed.text
        found = re.search(r'name="csrf" value="([^"]+)"', landed.text)
        assert found is not None
        return found.group(1)


@pytest.fixture
def setup(services: Services) -> Iterator[Setup]:
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082611"], name="Sanne", telegram_id=7001)
        kees = make_staff(session, services.registry, areas=["WK082611"], name="Kees", role="council", telegram_id=7002)
        make_staff(session, services.registry, areas=["WK082613"], name="Piet", telegram_id=7003)
        resident = make_resident(session, telegram_id=7100)
        report = file_in_den_hout(session, services, resident, "report", "Losse tegel")
        report.details = {**report.details, "photos": ["file-tegel-1", "file-tegel-2"]}
        idea = file_in_den_hout(session, services, resident, "idea", "Een bankje")
        if not any(r.staff_id == kees.id for r in idea.recipients):  # the routing rules' council copy
            make_item_recipient(session, item=idea, staff=kees, reason="council")
        ids = {"sanne": 7001, "kees": 7002, "piet": 7003, "report": report.id, "idea": idea.id, "resident": 7100}
    clock = Clock()
    fetch = PHOTOS.__getitem__  # the Bot API's files, by file id (a KeyError for any other)
    with TestClient(create_app(services, clock=clock, wake=lambda: None, fetch_photo=fetch)) as client:
        yield Setup(services, clock, client, ids)


def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(services: Services) -> None:
    https = dataclasses.replace(
        services, settings=services.settings.model_copy(update={"web_base_url": "https://werkplek.example"})
    )
    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082611"], telegram_id=7009)
    for app_services, secure in ((services, False), (https, True)):
        with transaction(services.sessions) as session:
            link = create_login_link(session, telegram_id=7009, base_url="x")
        client = TestClient(create_app(app_services, wake=lambda: None))
        response = client.get("/login/" + link.url.rsplit("/", 1)[1], follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/inbox"
        cookie = response.headers["set-cookie"].lower()
        assert f"{COOKIE}=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert ("secure" in [flag.strip() for flag in cookie.split(";")]) is secure
        assert response.headers["referrer-policy"] == "no-referrer"


def test_every_form_refuses_a_post_without_the_session_csrf_token(setup: Setup) -> None:
    setup.sign_in("sanne")
    for path in FORMS:
        url = path.format(id=setup.ids["report"])
        for token in ("", "forged"):
            data = {"csrf": token, "text": "x", "outcome": "done", "to": "1", "key": "bedankt", "department": "groen"}
            response = setup.client.post(url, data=data)
            assert response.status_code == 403, (url, token)
    with transaction(setup.services.sessions) as session:
        item = session.get(models.Item, setup.ids["report"])
        assert item is not None and item.status == "new"
        assert not session.scalars(
            select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == 7100)
        ).all()


def test_claim_and_close_from_the_web_are_the_telegram_actions(setup: Setup) -> None:
    csrf = setup.sign_in("sanne")
    item = setup.ids["report"]
    claimed = setup.client.post(f"/items/{item}/claim", data={"csrf": csrf})
    assert claimed.status_code == 200 and "Je hebt #" in claimed.text and "Oppakken" not in claimed.text
    closed = setup.client.post(f"/items/{item}/close", data={"csrf": csrf, "outcome": "planned", "text": ""})
    assert closed.status_code == 200 and "afgerond en de inwoner heeft bericht gekregen" in closed.text
    with transaction(setup.services.sessions) as session:
        row = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.purpose == f"item:{item}:closed"))
        assert "Het staat op de planning." in row.one().payload["text"]


def test_rights_are_telegrams_on_every_page_and_action(setup: Setup) -> None:
    csrf = setup.sign_in("kees")  # council: sees the idea sent to them, not the report of their wijk
    assert setup.client.get(f"/items/{setup.ids['report']}").status_code == 403
    idea = setup.client.get(f"/items/{setup.ids['idea']}")
    assert idea.status_code == 200 and "Een bankje" in idea.text
    assert "Antwoord versturen" in idea.text  # the raad answers the resident on its copy, as in Telegram
    for action in ("claim", "close", "forward", "note"):
        data = {"csrf": csrf, "text": "x", "to": "1"}
        response = setup.client.post(f"/items/{setup.ids['idea']}/{action}", data=data)
        assert response.status_code == 403, action
    csrf = setup.sign_in("piet")  # a wijkmakelaar of another wijk
    assert setup.client.get(f"/items/{setup.ids['report']}").status_code == 403
    assert setup.client.post(f"/items/{setup.ids['report']}/reply", data={"csrf": csrf, "text": "x"}).status_code == 403
    assert "Losse tegel" not in setup.client.get("/inbox").text


def test_a_session_ends_with_deactivation_with_time_and_with_a_forged_cookie(setup: Setup) -> None:
    setup.sign_in("sanne")
    assert setup.client.get("/inbox").status_code == 200
    setup.clock.now += timedelta(hours=12, seconds=1)
    assert setup.client.get("/inbox").status_code == 401
    setup.clock.now -= timedelta(hours=12, seconds=1)
    setup.sign_in("sanne")
    forged = setup.client.cookies[COOKIE][:-2] + "xx"
    setup.client.cookies.set(COOKIE, forged)
    assert setup.client.get("/inbox").status_code == 401
    setup.sign_in("sanne")
    with transaction(setup.services.sessions) as session:
        staff = session.scalars(select(models.StaffMember).where(models.StaffMember.telegram_id == 7001)).one()
        deactivate_staff(session, staff_id=staff.id)
    assert setup.client.get("/inbox").status_code == 401


def test_statistics_need_a_session_and_name_a_known_table(setup: Setup) -> None:
    assert setup.client.get("/stats").status_code == 401
    assert setup.client.get("/stats/maanden.csv").status_code == 401
    setup.sign_in("piet")  # another wijk: nothing of Den Hout
    page = setup.client.get("/stats")
    assert page.status_code == 200 and "Den Hout" not in page.text
    assert setup.client.get("/stats/geheim.csv").status_code == 404
    assert setup.client.get("/stats/doorlooptijden.csv").text.startswith("gebied,beantwoord (aantal)")
    assert setup.client.get("/stats/themas.csv").text.startswith("maand,gebied,Groen en bomen,")
    assert setup.client.get("/stats/themas.png").status_code == 404  # a table without a chart


def test_the_charts_need_a_session_and_are_pngs_beside_their_tables(setup: Setup) -> None:
    assert setup.client.get("/stats/maanden.png").status_code == 401
    setup.sign_in("sanne")
    page = setup.client.get("/stats")
    for table in ("maanden", "doorlooptijden"):
        assert f'<img src="/stats/{table}.png" alt="Staafdiagram: ' in page.text
        chart = setup.client.get(f"/stats/{table}.png")
        assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
        assert chart.content.startswith(b"\x89PNG") and chart.headers["cache-control"] == "no-store"
    assert setup.client.get("/stats/geheim.png").status_code == 404


def test_forwarding_from_the_web_hands_the_item_to_the_colleague(setup: Setup) -> None:
    csrf = setup.sign_in("sanne")
    item = setup.ids["report"]
    with transaction(setup.services.sessions) as session:
        piet = session.scalars(select(models.StaffMember).where(models.StaffMember.telegram_id == 7003)).one()
        kees = session.scalars(select(models.StaffMember).where(models.StaffMember.telegram_id == 7002)).one()
    page = setup.client.get(f"/items/{item}")
    assert f'<option value="{piet.id}">Piet</option>' in page.text and ">Kees<" not in page.text  # council: no
    refused = setup.client.post(f"/items/{item}/forward", data={"csrf": csrf, "to": str(kees.id)})
    assert refused.status_code == 403
    done = setup.client.post(f"/items/{item}/forward", data={"csrf": csrf, "to": str(piet.id)})
    assert done.status_code == 200 and "doorgestuurd naar Piet" in done.text
    with transaction(setup.services.sessions) as session:
        forwarded = session.get(models.Item, item)
        assert forwarded is not None and forwarded.assigned_staff_id == piet.id and forwarded.remind_at is not None
        notified = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == 7003))
        assert any(f"#{item}" in row.payload["text"] for row in notified)
    setup.sign_in("piet")
    assert setup.client.get(f"/items/{item}").status_code == 200  # forwarded to him: his now, as in Telegram


def test_a_standard_answer_fills_the_reply_box_and_is_sent_only_once_its_blanks_are_filled(setup: Setup) -> None:
    csrf = setup.sign_in("sanne")
    item = setup.ids["report"]
    page = setup.client.get(f"/items/{item}")
    assert '<option value="doorgegeven">Melding doorgegeven aan de buitendienst</option>' in page.text
    assert 'value="afspraak"' not in page.text  # for ideas only
    box = setup.client.post(
        f"/items/{item}/canned", data={"csrf": csrf, "key": "doorgegeven"}, headers={"HX-Request": "true"}
    )
    assert box.status_code == 200 and box.text.startswith('<textarea id="reply-text"')  # only the box: HTMX swaps it
    assert "Hoi Anna, bedankt voor je melding. Ik heb het doorgegeven aan [[wie]]." in box.text
    whole = setup.client.post(f"/items/{item}/canned", data={"csrf": csrf, "key": "doorgegeven"})  # without script
    assert "<h1>" in whole.text and "[[termijn]]" in whole.text and "Pas het aan" in whole.text
    assert setup.client.post(f"/items/{item}/canned", data={"csrf": csrf, "key": "geheim"}).status_code == 403

    unfilled = "Hoi Anna, ik heb het doorgegeven aan [[wie]]. Zij pakken het binnen [[termijn]] op."
    refused = setup.client.post(f"/items/{item}/reply", data={"csrf": csrf, "text": unfilled})
    assert refused.status_code == 422 and "Vul eerst [[wie]], [[termijn]] in." in refused.text
    assert "Zij pakken het binnen [[termijn]] op.</textarea>" in refused.text  # the text is kept for editing
    filled = "Hoi Anna, ik heb het doorgegeven aan de buitendienst. Zij pakken het binnen een week op."
    assert setup.client.post(f"/items/{item}/reply", data={"csrf": csrf, "text": filled}).status_code == 200
    with transaction(setup.services.sessions) as session:
        rows = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == 7100))
        assert [filled in row.payload["text"] for row in rows] == [True]


def test_a_council_member_cannot_fill_a_standard_answer(setup: Setup) -> None:
    csrf = setup.sign_in("kees")
    idea = setup.client.get(f"/items/{setup.ids['idea']}")
    assert idea.status_code == 200 and "Standaardantwoord" not in idea.text
    response = setup.client.post(f"/items/{setup.ids['idea']}/canned", data={"csrf": csrf, "key": "bedankt"})
    assert response.status_code == 403 and "Hoi" not in response.text


def test_photos_are_served_by_number_only_to_staff_who_may_see_the_item(setup: Setup) -> None:
    item = setup.ids["report"]
    assert setup.client.get(f"/items/{item}/photos/1").status_code == 401
    setup.sign_in("sanne")
    page = setup.client.get(f"/items/{item}")
    assert f'<img src="/items/{item}/photos/1"' in page.text and f'<img src="/items/{item}/photos/2"' in page.text
    assert "file-tegel" not in page.text  # the Telegram file id never reaches the browser
    photo = setup.client.get(f"/items/{item}/photos/2")
    assert photo.status_code == 200 and photo.content == JPEG + b"2"
    assert photo.headers["content-type"] == "image/jpeg" and photo.headers["cache-control"] == "no-store"
    for number in (0, 3):
        assert setup.client.get(f"/items/{item}/photos/{number}").status_code == 403
    setup.sign_in("kees")  # council: not their report
    assert setup.client.get(f"/items/{item}/photos/1").status_code == 403
    setup.sign_in("piet")  # another wijk
    assert setup.client.get(f"/items/{item}/photos/1").status_code == 403


def test_a_photo_telegram_cannot_give_is_a_clear_page(services: Services) -> None:
    def gone(file_id: str) -> Image:
        raise PhotoUnavailable("gone")

    with transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082611"], telegram_id=7011)
        report = file_in_den_hout(session, services, make_resident(session, telegram_id=7111), "report", "Kuil")
        report.details = {**report.details, "photos": ["file-old"]}
        link = create_login_link(session, telegram_id=7011, base_url="x")
        item = report.id
    client = TestClient(create_app(services, wake=lambda: None, fetch_photo=gone))
    client.get("/login/" + link.url.rsplit("/", 1)[1])
    response = client.get(f"/items/{item}/photos/1")
    assert response.status_code == 502 and "Deze foto is nu niet te laden" in response.text
    assert image_type(b"<html><script>") is None and image_type(b"RIFF0000WEBPVP8 ") == "image/webp"


def test_forwarding_to_a_department_from_the_web_puts_it_in_the_departments_queue(setup: Setup) -> None:
    with transaction(setup.services.sessions) as session:
        make_staff(
            session, setup.services.registry, areas=["WK082611"], name="Gert", role="afdeling:groen", telegram_id=7020
        )
    csrf = setup.sign_in("sanne")
    item = setup.ids["report"]
    page = setup.client.get(f"/items/{item}")
    assert '<option value="groen">Groen</option>' in page.text and 'value="afval"' not in page.text  # no staff there
    refused = setup.client.post(f"/items/{item}/forward-department", data={"csrf": csrf, "department": "afval"})
    assert refused.status_code == 403
    done = setup.client.post(f"/items/{item}/forward-department", data={"csrf": csrf, "department": "groen"})
    assert done.status_code == 200 and "doorgestuurd naar de afdeling Groen" in done.text
    setup.ids["gert"] = 7020
    setup.sign_in("gert")
    assert f'href="/items/{item}"' in setup.client.get("/inbox").text  # the department's queue
    assert f'href="/items/{setup.ids["idea"]}"' not in setup.client.get("/inbox").text  # nothing else
    assert setup.client.get(f"/items/{setup.ids['idea']}").status_code == 403
