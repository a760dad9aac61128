"""Statistics per wijk for the web workspace: items by kind and by theme per month, and the time to the first
answer and to closing (median and p90); the kinds and times tables each with a chart that draws one of their
columns (`month_chart`, `time_chart`). Only counts leave this module, and a count under SMALL_GROUP_THRESHOLD (5)
is shown as "<5" (a time over fewer items is not shown at all), in the tables, their CSV and the charts alike: a
small number can point at one resident. A staff member sees the areas they work for (their own areas, as the
staff table says) and the kinds their role handles (a council member: ideas only, as in their inbox); months are
the municipality's. Imports neither telegram nor the web framework.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import models
from wijkbot.items import KIND_WORDS
from wijkbot.municipalities import Registry
from wijkbot.rights import Action, check, inbox_kinds
from wijkbot.themes import shipped_themes

KINDS = ("idea", "report", "question", "contact")


@dataclass(frozen=True)
class MonthRow:
    month: str  # "2026-11"
    area: str
    counts: dict[str, int]  # kind -> items filed that month

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class TimeRow:
    area: str
    answered: list[float]  # hours from filing to the first answer to the resident, one per answered item
    closed: list[float]  # hours from filing to closing, one per closed item


@dataclass(frozen=True)
class Statistics:
    areas: list[str]  # area labels, in order
    months: list[MonthRow]
    times: list[TimeRow]
    threshold: int
    themes: list[MonthRow] = field(default_factory=list)  # counts by theme key ("" for none) per month and area
    initiatives: list[InitiativeRow] = field(default_factory=list)  # per area
    reach: list[ReachRow] = field(default_factory=list)  # per area


@dataclass(frozen=True)
class InitiativeRow:
    """The initiatives of one area by where they are, and the euros granted to them."""

    area: str
    stages: dict[str, int]  # INITIATIVE_COLUMNS key -> initiatives
    granted: int  # euros


@dataclass(frozen=True)
class ReachRow:
    """Residents of one area who get its polls and news, against its CBS population."""

    area: str
    population: int
    subscribers: int
    new_this_month: int


# initiative stages as the statistics group them (wijkbot.workflow's initiative lifecycle)
INITIATIVE_COLUMNS = {
    "collecting": ("Steun verzamelen", ("idea", "collecting")),
    "review": ("Te beoordelen", ("review",)),
    "going": ("Toegekend of in uitvoering", ("granted", "in_progress")),
    "done": ("Gerealiseerd", ("done",)),
    "not": ("Afgewezen of ander potje", ("rejected", "other_fund")),
}


def shown(count: int, threshold: int) -> str:
    """A count as published: "<5" under the threshold (but not 0), else the number."""
    return f"<{threshold}" if 0 < count < threshold else str(count)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0.5: the median as the middle value or the lower of the two)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def hours_shown(values: list[float], share: float, threshold: int) -> str:
    """Median or p90 in hours with one decimal, or "<5 items" when fewer items than the threshold have it."""
    if len(values) < threshold:
        return f"<{threshold} items" if values else "–"
    return f"{percentile(values, share):.1f}"


def statistics_for(
    session: Session,
    registry: Registry,
    *,
    staff: models.StaffMember,
    zone: ZoneInfo,
    threshold: int = 5,
    now: datetime | None = None,
) -> Statistics:
    """The statistics of this staff member's own areas."""
    check(staff, Action.INBOX)
    codes = list(staff.area_codes)
    kinds = sorted(inbox_kinds(staff))
    labels = {code: (area.label if (area := registry.find_area(code)) else code) for code in codes}
    per_month: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    per_theme: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    rows = session.execute(
        select(models.Item.area_code, models.Item.kind, models.Item.created_at, models.Item.text).where(
            models.Item.area_code.in_(codes), models.Item.kind.in_(kinds)
        )
    ).all()
    for area_code, kind, created_at, text in rows:
        key = (created_at.astimezone(zone).strftime("%Y-%m"), str(area_code))
        per_month[key][kind] += 1
        per_theme[key].update(themes_of(text) or [""])
    order = sorted(per_month, key=lambda key: (key[0], codes.index(key[1])))
    months = [MonthRow(month, labels[code], dict(per_month[(month, code)])) for month, code in order]
    by_theme = [MonthRow(month, labels[code], dict(per_theme[(month, code)])) for month, code in order]
    first_answer = (
        select(models.ItemEvent.item_id, func.min(models.ItemEvent.at).label("at"))
        .where(models.ItemEvent.kind == "staff_reply")
        .group_by(models.ItemEvent.item_id)
        .subquery()
    )
    answered: dict[str, list[float]] = defaultdict(list)
    for area_code, created_at, at in session.execute(
        select(models.Item.area_code, models.Item.created_at, first_answer.c.at)
        .join(first_answer, first_answer.c.item_id == models.Item.id)
        .where(models.Item.area_code.in_(codes), models.Item.kind.in_(kinds))
    ):
        answered[str(area_code)].append(_hours(_aware(at) - created_at))
    closed: dict[str, list[float]] = defaultdict(list)
    for area_code, created_at, closed_at in session.execute(
        select(models.Item.area_code, models.Item.created_at, models.Item.closed_at).where(
            models.Item.area_code.in_(codes), models.Item.kind.in_(kinds), models.Item.closed_at.is_not(None)
        )
    ):
        closed[str(area_code)].append(_hours(closed_at - created_at))
    times = [TimeRow(labels[code], answered[code], closed[code]) for code in codes]
    return Statistics(
        [labels[code] for code in codes],
        months,
        times,
        threshold,
        themes=by_theme,
        initiatives=_initiatives(session, codes, labels) if "initiative" in kinds else [],
        reach=_reach(session, registry, codes, labels, now=now or datetime.now(UTC), zone=zone),
    )


def _initiatives(session: Session, codes: list[str], labels: dict[str, str]) -> list[InitiativeRow]:
    stage_of = {stage: key for key, (_, stages) in INITIATIVE_COLUMNS.items() for stage in stages}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    granted: Counter[str] = Counter()
    for area_code, status, amount in session.execute(
        select(models.Item.area_code, models.Item.status, models.Initiative.granted)
        .join(models.Initiative, models.Initiative.item_id == models.Item.id)
        .where(models.Item.area_code.in_(codes))
    ):
        if status in stage_of:
            counts[str(area_code)][stage_of[status]] += 1
        granted[str(area_code)] += amount or 0
    return [InitiativeRow(labels[code], dict(counts[code]), granted[code]) for code in codes if counts[code]]


def _reach(
    session: Session, registry: Registry, codes: list[str], labels: dict[str, str], *, now: datetime, zone: ZoneInfo
) -> list[ReachRow]:
    from wijkbot.reach import reach

    municipalities = sorted({area.municipality_code for code in codes if (area := registry.find_area(code))})
    if not municipalities:
        return []
    rows = {row.code: row for row in reach(session, registry, now=now, zone=zone, municipality_codes=municipalities)}
    return [
        ReachRow(labels[code], rows[code].population, rows[code].subscribers, rows[code].new_this_month)
        for code in codes
        if code in rows
    ]


def initiative_table(stats: Statistics) -> tuple[list[str], list[list[str]]]:
    """Initiatives per area by stage, and the euros granted (a sum of public money, shown in full)."""
    header = ["Gebied", *(label for label, _ in INITIATIVE_COLUMNS.values()), "Toegekend (euro)"]
    rows = [
        [row.area, *(shown(row.stages.get(key, 0), stats.threshold) for key in INITIATIVE_COLUMNS), str(row.granted)]
        for row in stats.initiatives
    ]
    return header, rows


def reach_table(stats: Statistics) -> tuple[list[str], list[list[str]]]:
    """Residents who get the area's polls and news, against its population (CBS)."""
    header = ["Gebied", "Inwoners (CBS)", "Aangemeld", "Aandeel", "Nieuw deze maand"]
    rows = []
    for row in stats.reach:
        hidden = 0 < row.subscribers < stats.threshold
        share = "–" if hidden or not row.population else f"{row.subscribers / row.population:.1%}".replace(".", ",")
        rows.append(
            [
                row.area,
                str(row.population),
                shown(row.subscribers, stats.threshold),
                share,
                shown(row.new_this_month, stats.threshold),
            ]
        )
    return header, rows


def themes_of(text: str) -> list[str]:
    """The keys of the themes (wijkbot/data/themes.yaml) whose words the text holds, as the inbox filter finds
    them: anywhere, case-insensitive."""
    lowered = text.casefold()
    return [theme.key for theme in shipped_themes() if any(word in lowered for word in theme.words)]


def _aware(moment: datetime) -> datetime:
    """A datetime from an aggregate (SQLite returns it naive, in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _hours(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds() / 3600)


def month_table(stats: Statistics) -> tuple[list[str], list[list[str]]]:
    """Header and rows of "items by kind per month", small numbers as "<5"."""
    header = ["maand", "gebied", *(KIND_WORDS[kind] for kind in KINDS), "totaal"]
    t = stats.threshold
    rows = [
        [row.month, row.area, *(shown(row.counts.get(kind, 0), t) for kind in KINDS), shown(row.total, t)]
        for row in stats.months
    ]
    return header, rows


def theme_table(stats: Statistics) -> tuple[list[str], list[list[str]]]:
    """Header and rows of "items by theme per month" (an item can be in more than one theme), small numbers as
    "<5"."""
    themes = shipped_themes()
    header = ["maand", "gebied", *(theme.name for theme in themes), "geen thema"]
    t = stats.threshold
    rows = [
        [row.month, row.area, *(shown(row.counts.get(key, 0), t) for key in [*(theme.key for theme in themes), ""])]
        for row in stats.themes
    ]
    return header, rows


def time_table(stats: Statistics) -> tuple[list[str], list[list[str]]]:
    """Header and rows of "time to first answer and to closing" (hours), per area."""
    header = [
        "gebied",
        "beantwoord (aantal)",
        "eerste antwoord mediaan (uur)",
        "eerste antwoord p90 (uur)",
        "afgerond (aantal)",
        "afronden mediaan (uur)",
        "afronden p90 (uur)",
    ]
    t = stats.threshold
    rows = [
        [
            row.area,
            shown(len(row.answered), t),
            hours_shown(row.answered, 0.5, t),
            hours_shown(row.answered, 0.9, t),
            shown(len(row.closed), t),
            hours_shown(row.closed, 0.5, t),
            hours_shown(row.closed, 0.9, t),
        ]
        for row in stats.times
    ]
    return header, rows


@dataclass(frozen=True)
class Chart:
    """What a chart beside a table draws: one bar per row of the table, saying what the table says."""

    title: str
    labels: list[str]
    values: list[float]  # bar lengths: 0 where the table hides the number
    texts: list[str]  # the table's cell for each bar ("<5", "<5 items", "–" included)
    axis: str


def _shown_value(value: float, count: int, threshold: int) -> float:
    return value if count >= threshold else 0.0


def month_chart(stats: Statistics) -> Chart:
    """The "totaal" column of `month_table`: items per month and area, small numbers as "<5" and no bar."""
    _, rows = month_table(stats)
    return Chart(
        title="Items per maand en gebied",
        labels=[f"{row.month} · {row.area}" for row in stats.months],
        values=[_shown_value(row.total, row.total, stats.threshold) for row in stats.months],
        texts=[cells[-1] for cells in rows],
        axis="aantal items",
    )


def time_chart(stats: Statistics) -> Chart:
    """The "eerste antwoord mediaan" column of `time_table`: per area, shown only over enough items."""
    _, rows = time_table(stats)
    t = stats.threshold
    return Chart(
        title="Tijd tot het eerste antwoord per gebied (mediaan)",
        labels=[row.area for row in stats.times],
        values=[
            _shown_value(percentile(row.answered, 0.5), len(row.answered), t) if row.answered else 0.0
            for row in stats.times
        ],
        texts=[cells[2] for cells in rows],
        axis="uren",
    )


def as_csv(header: list[str], rows: list[list[str]]) -> str:
    """A table as CSV (the same values as on the page, "<5" included)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
