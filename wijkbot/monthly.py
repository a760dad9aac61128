"""The monthly message per wijk (issue 12): to the area's raad (`council`) and staff (wijkmakelaar or
wijkcoördinator, `lead`), on the 1st of the month from 09:00 local time, about the month that just ended:

- **reach**: subscribers against the CBS population, new subscribers that month, by source, with a small bar
  chart (wijkbot.charts);
- **"Wat speelt er in de wijk"**, anonymous: the ideas, reports and questions filed that month (per kind; the
  items have no theme of their own), what was done (closed that month), and the items open longest (number,
  kind and days open; never a resident's words or name).

```mermaid
flowchart LR
    J["outreach job (10 min)"] --> D{"1st, after 09:00,<br/>monthly:<area>:<month> not queued?"}
    D -- no --> X[nothing]
    D -- yes --> S["month_summary: reach + items"] --> C["chart (stored once)"]
    C --> O["monthly:<area>:<month> text + :chart photo<br/>to the area's council, staff and lead"]
```

Sent once per area and month: the outbox's unique (purpose, recipient) and a look for the month's purpose
before anything is built.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from html import escape
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import models
from wijkbot import purposes
from wijkbot.charts import bar_chart_png
from wijkbot.items import KIND_WORDS
from wijkbot.media import store_media
from wijkbot.municipalities import Area, Registry
from wijkbot.outbox import enqueue
from wijkbot.payloads import Photo, Text
from wijkbot.polls import MONTHS
from wijkbot.reach import NO_SOURCE, month_start
from wijkbot.staff import staff_for_area
from wijkbot.workflow import OPEN_STATES

ROLES = ("council", "wijkmakelaar", "wijkcoordinator", "lead")
SEND_AT = time(9, 0)
OPEN_LONGEST = 3


@dataclass(frozen=True)
class MonthSummary:
    area: Area
    month: str  # "2026-11"
    label: str  # "november 2026"
    subscribers: int
    new: int
    by_source: dict[str, int]
    filed: dict[str, int]  # per kind, filed that month
    closed: dict[str, int]  # per kind, closed that month
    open_longest: list[tuple[int, str, int]] = field(default_factory=list)  # (item, kind, days open)

    @property
    def share(self) -> float:
        return self.subscribers / self.area.population if self.area.population else 0.0


def previous_month(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month before `now`'s, as [start, end) in the municipality's time zone."""
    end = month_start(now, zone)
    return month_start(end - timedelta(days=1), zone), end


def month_summary(
    session: Session, registry: Registry, *, area_code: str, start: datetime, end: datetime, now: datetime
) -> MonthSummary:
    """Reach and what was brought and done in one area in [start, end); anonymous."""
    area = registry.area(area_code)
    subscribed = session.execute(
        select(models.Resident.source, models.Resident.consent_at).where(
            models.Resident.area_code == area_code,
            models.Resident.outreach_opt_in.is_(True),
            models.Resident.blocked.is_(False),
        )
    ).all()
    by_source = Counter(source or NO_SOURCE for source, _ in subscribed)
    new = sum(1 for _, at in subscribed if at is not None and start <= at < end)
    filed: Counter[str] = Counter(
        dict(
            session.execute(  # type: ignore[arg-type]
                select(models.Item.kind, func.count())
                .where(
                    models.Item.area_code == area_code, models.Item.created_at >= start, models.Item.created_at < end
                )
                .group_by(models.Item.kind)
            ).all()
        )
    )
    closed: Counter[str] = Counter(
        dict(
            session.execute(  # type: ignore[arg-type]
                select(models.Item.kind, func.count())
                .where(
                    models.Item.area_code == area_code,
                    models.Item.status == "closed",
                    models.Item.closed_at >= start,
                    models.Item.closed_at < end,
                )
                .group_by(models.Item.kind)
            ).all()
        )
    )
    oldest = session.execute(
        select(models.Item.id, models.Item.kind, models.Item.created_at)
        .where(models.Item.area_code == area_code, models.Item.status.in_(OPEN_STATES))
        .order_by(models.Item.created_at, models.Item.id)
        .limit(OPEN_LONGEST)
    ).all()
    local = start.astimezone(start.tzinfo)
    return MonthSummary(
        area=area,
        month=f"{local.year}-{local.month:02d}",
        label=f"{MONTHS[local.month - 1]} {local.year}",
        subscribers=len(subscribed),
        new=new,
        by_source=dict(by_source),
        filed=dict(filed),
        closed=dict(closed),
        open_longest=[(item_id, kind, (now - created).days) for item_id, kind, created in oldest],
    )


def _per_kind(counts: dict[str, int]) -> str:
    if not counts:
        return "geen"
    return ", ".join(f"{n} {KIND_WORDS.get(kind, kind)}" for kind, n in sorted(counts.items()))


def summary_text(summary: MonthSummary) -> str:
    """The monthly message: reach, then "Wat speelt er in de wijk"."""
    area = escape(summary.area.name)
    population = summary.area.population
    reach = f"{summary.subscribers} inwoners aangemeld"
    if population:
        reach += f" van de {population} ({100 * summary.share:.1f}%)"
    sources = ", ".join(f"{escape(name)} {n}" for name, n in sorted(summary.by_source.items())) or "-"
    oldest = (
        "\n".join(
            f"• #{item_id} {KIND_WORDS.get(kind, kind)}, {days} dagen open"
            for item_id, kind, days in summary.open_longest
        )
        or "• niets open"
    )
    return (
        f"<b>{area} in {summary.label}</b>\n\n"
        f"<b>Bereik</b>\n{reach}; {summary.new} nieuw in {summary.label}.\nVia: {sources}\n\n"
        f"<b>Wat speelt er in de wijk</b>\n"
        f"Binnengekomen: {_per_kind(summary.filed)}\n"
        f"Afgerond: {_per_kind(summary.closed)}\n"
        f"Het langst open:\n{oldest}\n\n"
        "<i>Zonder namen of teksten van inwoners.</i>"
    )


def recipients(session: Session, *, area_code: str) -> list[models.StaffMember]:
    """The area's raad and staff on Telegram, each once."""
    found: dict[int, models.StaffMember] = {}
    for role in ROLES:
        for member in staff_for_area(session, area_code=area_code, role=role):
            if member.telegram_id is not None:
                found.setdefault(member.id, member)
    return list(found.values())


def send_monthly_reports(session: Session, registry: Registry, *, now: datetime, zone: ZoneInfo) -> int:
    """On the 1st from 09:00 local: the message about last month to each area's raad and staff, once; returns
    the number of areas reported on now."""
    local = now.astimezone(zone)
    if local.day != 1 or local.time() < SEND_AT:
        return 0
    start, end = previous_month(now, zone)
    reported = 0
    for area in registry.areas:
        members = recipients(session, area_code=area.code)
        if not members:
            continue
        summary = month_summary(session, registry, area_code=area.code, start=start, end=end, now=now)
        purpose = purposes.monthly_report(area.code, summary.month)
        done = session.scalar(select(func.count()).where(models.OutboxMessage.purpose == purpose))
        if done:
            continue
        chart = store_media(
            session,
            kind="chart",
            filename=f"bereik-{area.code}-{summary.month}.png",
            content_type="image/png",
            data=bar_chart_png(
                title=f"Aangemeld in {summary.area.name}, naar bron",
                labels=list(summary.by_source) or ["(nog niemand)"],
                values=list(summary.by_source.values()) or [0],
                subtitle=f"{summary.subscribers} aangemeld, {summary.new} nieuw in {summary.label}",
            ),
        )
        text = summary_text(summary)
        for member in members:
            chat = int(member.telegram_id or 0)
            enqueue(session, purpose=purpose, chat_id=chat, message=Text(text=text), now=now)
            photo = Photo(media_id=chart.id, caption=escape(f"Bereik {summary.area.name}, {summary.label}"))
            enqueue(
                session, purpose=purposes.monthly_chart(area.code, summary.month), chat_id=chat, message=photo, now=now
            )
        reported += 1
    return reported
