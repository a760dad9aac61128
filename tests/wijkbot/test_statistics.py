"""Statistics per wijk: counts by kind per month (the municipality's months), time to first answer and to
closing (nearest-rank median and p90), small numbers as "<5", only the staff member's own areas, CSV equal to
the page (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from tests.factories import make_item, make_item_event, make_staff
from wijkbot.charts import labelled_bar_chart_png
from wijkbot.municipalities import Registry
from wijkbot.statistics import (
    as_csv,
    month_chart,
    month_table,
    percentile,
    shown,
    statistics_for,
    theme_table,
    time_chart,
    time_table,
)
from wijkbot.workspace import InboxFilter, inbox

ZONE = ZoneInfo("Europe/Amsterdam")
NOV = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def filed(session: Session, registry: Registry, kind: str, area: str, at: datetime) -> models.Item:
    return make_item(session, registry, kind=kind, area_code=area, text="x", created_at=at)


def seed(session: Session, registry: Registry) -> models.StaffMember:
    sanne = make_staff(session, registry, areas=["WK082611", "WK082613"], name="Sanne")
    reports = [filed(session, registry, "report", "WK082611", NOV + timedelta(days=n)) for n in range(6)]
    for report, hours in zip(reports, (1, 2, 3, 4, 5, 10), strict=True):
        make_item_event(session, item=report, at=report.created_at + timedelta(hours=hours))
        make_item_event(session, item=report, at=report.created_at + timedelta(hours=200))
    for report, hours in zip(reports, (24, 48, 72, 96, 120), strict=False):
        report.status, report.closed_at = "closed", report.created_at + timedelta(hours=hours)
    filed(session, registry, "idea", "WK082611", NOV)
    filed(session, registry, "idea", "WK082611", NOV)
    filed(session, registry, "question", "WK082611", datetime(2026, 11, 30, 23, 30, tzinfo=UTC))  # 1 Dec in NL
    elsewhere = filed(session, registry, "idea", "WK082613", NOV)
    make_item_event(session, item=elsewhere, at=NOV + timedelta(hours=2))
    filed(session, registry, "report", "WK082601", NOV)  # not Sanne's area
    session.flush()
    return sanne


def test_counts_per_month_match_the_database_and_small_numbers_are_hidden(session: Session, registry: Registry) -> None:
    sanne = seed(session, registry)
    stats = statistics_for(session, registry, staff=sanne, zone=ZONE)
    expected: Counter[tuple[str, str, str]] = Counter()
    for item in session.scalars(select(models.Item).where(models.Item.area_code.in_(sanne.area_codes))):
        expected[(item.created_at.astimezone(ZONE).strftime("%Y-%m"), item.area_code or "", item.kind)] += 1
    labels = {a: registry.find_area(a).label for a in sanne.area_codes}  # type: ignore[union-attr]
    got = Counter({(r.month, r.area, kind): n for r in stats.months for kind, n in r.counts.items()})
    assert got == Counter({(m, labels[a], k): n for (m, a, k), n in expected.items()})
    header, rows = month_table(stats)
    assert header[:2] == ["maand", "gebied"] and header[-1] == "totaal"
    den_hout_nov = next(r for r in rows if r[0] == "2026-11" and r[1] == labels["WK082611"])
    assert den_hout_nov[2:] == ["<5", "6", "0", "0", "8"]  # idee 2, melding 6, vraag, contact, totaal
    assert [r[0] for r in rows if r[1] == labels["WK082611"]] == ["2026-11", "2026-12"]
    assert all("Industrieterrein" not in r[1] and "Slotjes" not in r[1] for r in rows)


def test_times_to_first_answer_and_closing(session: Session, registry: Registry) -> None:
    sanne = seed(session, registry)
    stats = statistics_for(session, registry, staff=sanne, zone=ZONE)
    header, rows = time_table(stats)
    den_hout, other = rows
    assert den_hout[1:] == ["6", "3.0", "10.0", "5", "72.0", "120.0"]
    assert other[1:] == ["<5", "<5 items", "<5 items", "0", "–", "–"]  # one answer: no time shown
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0 and percentile([5.0], 0.9) == 5.0
    assert [shown(n, 5) for n in (0, 1, 4, 5)] == ["0", "<5", "<5", "5"]
    parsed = list(csv.reader(io.StringIO(as_csv(header, rows))))
    assert parsed == [header, *rows]


def test_a_council_member_counts_only_the_ideas_of_their_areas(session: Session, registry: Registry) -> None:
    seed(session, registry)
    kees = make_staff(session, registry, areas=["WK082611"], name="Kees", role="council")
    stats = statistics_for(session, registry, staff=kees, zone=ZONE)
    assert [(row.month, row.counts) for row in stats.months] == [("2026-11", {"idea": 2})]
    assert [(len(row.answered), len(row.closed)) for row in stats.times] == [(0, 0)]  # the reports' times: not theirs


def test_each_chart_draws_a_column_of_its_table_and_hides_small_numbers_as_the_table_does(
    session: Session, registry: Registry
) -> None:
    stats = statistics_for(session, registry, staff=seed(session, registry), zone=ZONE)
    _, months = month_table(stats)
    chart = month_chart(stats)
    assert chart.texts == [row[-1] for row in months]  # the "totaal" column, "<5" included
    assert chart.labels == [f"{row[0]} · {row[1]}" for row in months]
    by_label = dict(zip(chart.labels, zip(chart.values, chart.texts, strict=True), strict=True))
    den_hout, dorst = (registry.find_area(code).label for code in ("WK082611", "WK082613"))  # type: ignore[union-attr]
    assert by_label[f"2026-11 · {den_hout}"] == (8, "8")
    assert by_label[f"2026-12 · {den_hout}"] == (0, "<5")  # one question: no bar, and no number
    assert by_label[f"2026-11 · {dorst}"] == (0, "<5")
    _, times = time_table(stats)
    answered = time_chart(stats)
    assert answered.texts == [row[2] for row in times] == ["3.0", "<5 items"]
    assert answered.values == [3.0, 0.0] and answered.labels == [den_hout, dorst]
    png = labelled_bar_chart_png(
        title=chart.title, labels=chart.labels, values=chart.values, texts=chart.texts, subtitle=chart.axis
    )
    assert png.startswith(b"\x89PNG")


def test_items_by_theme_per_month_as_the_inbox_filter_finds_them(session: Session, registry: Registry) -> None:
    sanne = make_staff(session, registry, areas=["WK082611"], name="Sanne")
    texts = ["Losse TEGEL"] * 5 + ["Een boom ligt op de stoep", "Hallo"]  # the boom is groen and straat
    for text in texts:
        filed(session, registry, "report", "WK082611", NOV).text = text
    session.flush()
    stats = statistics_for(session, registry, staff=sanne, zone=ZONE)
    header, rows = theme_table(stats)
    assert header == [
        "maand",
        "gebied",
        "Groen en bomen",
        "Afval en vervuiling",
        "Straat, stoep en verlichting",
        "Verkeer en parkeren",
        "Spelen en ontmoeten",
        "geen thema",
    ]
    assert rows == [["2026-11", "Den Hout", "<5", "0", "6", "0", "0", "<5"]]
    for theme in ("groen", "straat"):  # the same items as the inbox's theme filter
        found = inbox(session, registry, staff=sanne, wanted=InboxFilter(theme=theme, state="open")).rows
        assert len(found) == {"groen": 1, "straat": 6}[theme]


def test_initiatives_with_the_euros_granted_and_the_reach_per_area_match_the_database(
    session: Session, registry: Registry
) -> None:
    from tests.factories import make_initiative, make_resident, make_supporter
    from wijkbot.initiatives import decide
    from wijkbot.residents import set_outreach
    from wijkbot.statistics import initiative_table, reach_table

    sanne = make_staff(session, registry, areas=["WK082611"], name="Sanne")
    started = [make_initiative(session, registry, now=NOV) for _ in range(7)]  # in Den Hout (WK082611)
    for initiative, amount in zip(started[:2], (500, 250), strict=False):
        initiative.support_needed = 1
        make_supporter(session, registry, initiative=initiative, now=NOV)
        decide(session, registry, staff=sanne, item_id=initiative.item_id, decision="grant", amount=amount, now=NOV)
    for _ in range(6):
        set_outreach(session, make_resident(session, area_code="WK082611"), opt_in=True, via="test", now=NOV)
    stats = statistics_for(session, registry, staff=sanne, zone=ZONE, now=NOV)
    header, rows = initiative_table(stats)
    assert header[-1] == "Toegekend (euro)"
    assert rows == [["Den Hout", "5", "0", "<5", "0", "0", "750"]]
    header, rows = reach_table(stats)
    [[area, population, subscribers, share, new]] = rows
    assert (area, subscribers, new) == ("Den Hout", "6", "6")
    assert share == f"{6 / int(population):.1%}".replace(".", ",")
    assert "Toegekend (euro)" in as_csv(*initiative_table(stats))
