"""The monthly wijkwethouder digest: counted from the database, small numbers as "<5", due from the 1st at 09:00
until the 7th on the injected clock, once per (lead, month, area), and the command that queues it now (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from db import models
from tests.factories import make_resident, make_staff
from wijkbot.cli import app
from wijkbot.digest import DigestError, area_digest, due_month, month_bounds, queue_digests
from wijkbot.items import file_item
from wijkbot.municipalities import Registry
from wijkbot.routing import load_rules
from wijkbot.settings import get_settings

ZONE = ZoneInfo("Europe/Amsterdam")
DEN_HOUT, DORST = "WK082611", "WK082613"
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=ZONE)  # the digest of November is due


def filed(session: Session, registry: Registry, kind: str, area: str, at: datetime) -> models.Item:
    item = file_item(
        session, registry, load_rules(registry), resident=make_resident(session), kind=kind, area_code=area, text="x"
    ).item
    item.created_at = at
    return item


def seed(session: Session, registry: Registry) -> dict[str, models.Item]:
    """November in Den Hout: 6 reports and 2 ideas new, 5 closed; an old open report from October."""
    nov = datetime(2026, 11, 3, 10, 0, tzinfo=ZONE)
    reports = [filed(session, registry, "report", DEN_HOUT, nov + timedelta(days=n)) for n in range(6)]
    for report in reports[:5]:
        report.status, report.closed_at = "closed", report.created_at + timedelta(days=2)
    filed(session, registry, "idea", DEN_HOUT, nov)
    filed(session, registry, "idea", DEN_HOUT, datetime(2026, 11, 30, 23, 30, tzinfo=ZONE))  # still November here
    filed(session, registry, "idea", DEN_HOUT, datetime(2026, 12, 1, 0, 30, tzinfo=ZONE))  # December: not counted
    october = filed(session, registry, "report", DEN_HOUT, datetime(2026, 10, 20, 9, 0, tzinfo=ZONE))
    question = filed(session, registry, "question", DORST, nov)
    session.flush()
    return {"october": october, "question": question}


def test_due_from_the_first_at_nine_until_the_seventh_in_local_time() -> None:
    assert due_month(datetime(2026, 12, 1, 8, 59, tzinfo=ZONE), ZONE) is None
    assert due_month(datetime(2026, 12, 1, 9, 0, tzinfo=ZONE), ZONE) == "2026-11"
    assert due_month(datetime(2026, 12, 7, 23, 0, tzinfo=ZONE), ZONE) == "2026-11"
    assert due_month(datetime(2026, 12, 8, 0, 0, tzinfo=ZONE), ZONE) is None
    assert due_month(datetime(2027, 1, 1, 8, 30, tzinfo=UTC), ZONE) == "2026-12"  # 09:30 in Oosterhout
    assert month_bounds("2026-12", ZONE) == (datetime(2026, 12, 1, tzinfo=ZONE), datetime(2027, 1, 1, tzinfo=ZONE))


def test_an_area_digest_counts_the_month_from_the_database(session: Session, registry: Registry) -> None:
    october = seed(session, registry)["october"]
    digest = area_digest(session, registry, area_code=DEN_HOUT, month="2026-11", zone=ZONE, now=NOW)
    start, end = month_bounds("2026-11", ZONE)
    in_month = [
        item
        for item in session.scalars(select(models.Item).where(models.Item.area_code == DEN_HOUT))
        if start <= item.created_at < end
    ]
    assert sum(digest.new.values()) == len(in_month) == 8
    assert digest.new == {"report": 6, "idea": 2}
    assert digest.done == 5
    assert digest.oldest is not None and digest.oldest.item_id == october.id and digest.oldest.days == 42


def test_each_lead_gets_a_photo_per_area_once_per_month(session: Session, registry: Registry) -> None:
    seeded = seed(session, registry)
    wethouder = make_staff(session, registry, areas=[DEN_HOUT, DORST], role="lead", name="W", telegram_id=9101)
    make_staff(session, registry, areas=[DEN_HOUT], name="Sanne", telegram_id=9102)  # not a lead: no digest
    gone = make_staff(session, registry, areas=[DEN_HOUT], role="lead", name="Oud", telegram_id=9103)
    gone.active = False
    session.flush()
    queued = queue_digests(session, registry, month="2026-11", zone=ZONE, now=NOW, web_url="https://werkplek.example")
    assert queued == 2
    rows = session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)).all()
    digests = [row for row in rows if row.purpose.startswith("digest:")]
    assert [(row.purpose, row.recipient_chat_id, row.method) for row in digests] == [
        (f"digest:2026-11:{DEN_HOUT}", wethouder.telegram_id, "sendPhoto"),
        (f"digest:2026-11:{DORST}", wethouder.telegram_id, "sendPhoto"),
    ]
    den_hout, dorst = (row.payload["caption"].splitlines() for row in digests)
    assert den_hout[0] == "<b>Den Hout</b> · november 2026"
    assert den_hout[1:3] == ["Nieuw: 8", "Afgerond: 5"]
    assert den_hout[3] == f"Langst open: #{seeded['october'].id} (melding), 42 dagen"
    assert den_hout[4] == "Meer in de werkplek: https://werkplek.example/stats"
    assert dorst[1:4] == ["Nieuw: &lt;5", "Afgerond: 0", f"Langst open: #{seeded['question'].id} (vraag), 27 dagen"]
    media = session.get(models.Media, digests[0].payload["media_id"])
    assert media is not None and media.data.startswith(b"\x89PNG")
    again = queue_digests(session, registry, month="2026-11", zone=ZONE, now=NOW + timedelta(hours=1), web_url="x")
    assert again == 0 and len(session.scalars(select(models.Media)).all()) == 2  # no second chart either
    with pytest.raises(DigestError, match="nog niet begonnen"):
        queue_digests(session, registry, month="2027-01", zone=ZONE, now=NOW, web_url="x")
    with pytest.raises(DigestError, match="geen maand"):
        queue_digests(session, registry, month="november", zone=ZONE, now=NOW, web_url="x")


def test_the_command_queues_a_month_now_and_once(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WEB_BASE_URL", "https://werkplek.example")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        added = runner.invoke(
            app, ["staff", "add", "--name", "W", "--role", "lead", "--telegram-id", "9201", "--area", DEN_HOUT]
        )
        assert added.exit_code == 0, added.output
        first = runner.invoke(app, ["digest", "send", "--month", "2026-10"])
        assert first.exit_code == 0 and first.stdout.strip() == "digest 2026-10: 1 message(s) queued for 1 lead(s)"
        second = runner.invoke(app, ["digest", "send", "--month", "2026-10"])
        assert second.stdout.strip() == "digest 2026-10: 0 message(s) queued for 1 lead(s)"
        wrong = runner.invoke(app, ["digest", "send", "--month", "okt"])
        assert wrong.exit_code == 2 and "schrijf die als 2026-11" in wrong.output
    finally:
        get_settings.cache_clear()
