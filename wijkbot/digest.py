"""The monthly wijkwethouder digest: each active `lead` gets, in Telegram, per area of theirs a chart of the
month's new items by kind and three lines (new, done, open longest), with a link to the web workspace.

Every message is an outbox row (a `Photo` of a stored chart) with the purpose `digest:<month>:<area>`, unique per
lead: queueing the digest of a month twice sends it once. The bot's `digest` job (bot/main.py) asks every hour,
on the injected clock, whether a month's digest is due (`due_month`: the previous month, from the 1st at 09:00
until the 7th, so a restart or a late job still sends it, and a retention shorter than a month never makes it
twice); `wijkbot digest send --month 2026-11` queues one at any time. Counts under the small-group threshold read
"<5", as on the statistics page. Imports neither telegram nor the web framework.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import models
from wijkbot import purposes
from wijkbot.charts import labelled_bar_chart_png
from wijkbot.items import KIND_WORDS
from wijkbot.media import store_media
from wijkbot.municipalities import Registry
from wijkbot.outbox import enqueue
from wijkbot.payloads import Photo
from wijkbot.polls import MONTHS
from wijkbot.statistics import KINDS, shown
from wijkbot.workflow import OPEN_STATES

DUE_FROM = time(9, 0)  # local time on the 1st from which the previous month's digest is due
DUE_UNTIL_DAY = 7  # the job sends it until this day of the month; later only the command does


class DigestError(ValueError):
    """A month that cannot be a digest's (the message is for the person who asked)."""


@dataclass(frozen=True)
class OldestOpen:
    item_id: int
    kind: str
    days: int


@dataclass(frozen=True)
class AreaDigest:
    area_code: str
    label: str
    month: str  # "2026-11"
    new: Counter[str]  # kind -> items filed in the month
    done: int  # items closed in the month
    oldest: OldestOpen | None  # the item open longest now, of those filed before the month ended


def parse_month(text: str) -> str:
    """ "2026-11" as given, or DigestError."""
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m")
    except ValueError:
        raise DigestError(f"{text!r} is geen maand; schrijf die als 2026-11.") from None
    return parsed.strftime("%Y-%m")


def month_words(month: str) -> str:
    """ "2026-11" → "november 2026"."""
    year, number = month.split("-")
    return f"{MONTHS[int(number) - 1]} {year}"


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month's first moment and the next month's, in the municipality's time (aware datetimes)."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def previous_month(now: datetime, zone: ZoneInfo) -> str:
    first = now.astimezone(zone).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def due_month(now: datetime, zone: ZoneInfo) -> str | None:
    """The month whose digest is due now: the previous one, from the 1st at 09:00 until the 7th; else None."""
    local = now.astimezone(zone)
    if local.day > DUE_UNTIL_DAY or (local.day == 1 and local.time() < DUE_FROM):
        return None
    return previous_month(now, zone)


def area_digest(
    session: Session, registry: Registry, *, area_code: str, month: str, zone: ZoneInfo, now: datetime
) -> AreaDigest:
    """What the digest says about one area in one month, counted from the database."""
    start, end = month_bounds(month, zone)
    in_area = models.Item.area_code == area_code
    new = Counter(
        {
            str(kind): int(count)
            for kind, count in session.execute(
                select(models.Item.kind, func.count())
                .where(in_area, models.Item.created_at >= start, models.Item.created_at < end)
                .group_by(models.Item.kind)
            )
        }
    )
    done = session.scalar(
        select(func.count()).where(in_area, models.Item.closed_at >= start, models.Item.closed_at < end)
    )
    oldest = session.execute(
        select(models.Item.id, models.Item.kind, models.Item.created_at)
        .where(in_area, models.Item.status.in_(OPEN_STATES), models.Item.created_at < end)
        .order_by(models.Item.created_at, models.Item.id)
        .limit(1)
    ).first()
    area = registry.find_area(area_code)
    return AreaDigest(
        area_code=area_code,
        label=area.label if area else area_code,
        month=month,
        new=new,
        done=int(done or 0),
        oldest=OldestOpen(oldest.id, oldest.kind, (now - oldest.created_at).days) if oldest else None,
    )


def caption(digest: AreaDigest, *, threshold: int, web_url: str) -> str:
    """The photo's caption (Telegram HTML): the area and month, three lines, the link."""
    if digest.oldest is None:
        oldest = "niets open"
    else:
        kind = KIND_WORDS.get(digest.oldest.kind, digest.oldest.kind)
        days = digest.oldest.days
        oldest = f"#{digest.oldest.item_id} ({kind}), {days} {'dag' if days == 1 else 'dagen'}"
    lines = [
        f"<b>{html.escape(digest.label)}</b> · {month_words(digest.month)}",
        f"Nieuw: {html.escape(shown(sum(digest.new.values()), threshold))}",
        f"Afgerond: {html.escape(shown(digest.done, threshold))}",
        f"Langst open: {oldest}",
        f"Meer in de werkplek: {html.escape(web_url)}/stats",
    ]
    return "\n".join(lines)


def chart(digest: AreaDigest, *, threshold: int) -> bytes:
    """New items by kind in the month; a small number is a bar of length 0 that reads "<5"."""
    counts = [digest.new.get(kind, 0) for kind in KINDS]
    return labelled_bar_chart_png(
        title=f"{digest.label}: nieuw in {month_words(digest.month)}",
        labels=[KIND_WORDS[kind] for kind in KINDS],
        values=[float(count) if count >= threshold else 0.0 for count in counts],
        texts=[shown(count, threshold) for count in counts],
        subtitle="aantal items",
    )


def leads(session: Session) -> list[models.StaffMember]:
    """The active leads who can receive a digest (a Telegram chat and at least one area)."""
    found = session.scalars(
        select(models.StaffMember)
        .where(
            models.StaffMember.role == "lead",
            models.StaffMember.active.is_(True),
            models.StaffMember.telegram_id.is_not(None),
        )
        .order_by(models.StaffMember.id)
    )
    return [lead for lead in found if lead.area_codes]


def queue_digests(
    session: Session,
    registry: Registry,
    *,
    month: str,
    zone: ZoneInfo,
    now: datetime,
    web_url: str,
    threshold: int = 5,
) -> int:
    """Queue the month's digest for every lead: one photo per area of theirs. Returns how many rows were newly
    queued (0 when every lead already has it: the purpose is the idempotency key)."""
    month = parse_month(month)
    if month_bounds(month, zone)[0] > now:
        raise DigestError(f"{month_words(month)} is nog niet begonnen.")
    queued = 0
    digests: dict[str, AreaDigest] = {}
    pictures: dict[str, int] = {}
    for lead in leads(session):
        chat_id = int(lead.telegram_id or 0)
        for area_code in lead.area_codes:
            purpose = purposes.digest(month, area_code)
            if _already_queued(session, purpose=purpose, chat_id=chat_id):
                continue
            if area_code not in digests:
                digests[area_code] = area_digest(
                    session, registry, area_code=area_code, month=month, zone=zone, now=now
                )
                media = store_media(
                    session,
                    kind="digest",
                    filename=f"overzicht-{month}-{area_code}.png",
                    content_type="image/png",
                    data=chart(digests[area_code], threshold=threshold),
                )
                pictures[area_code] = media.id
            message = Photo(
                media_id=pictures[area_code],
                caption=caption(digests[area_code], threshold=threshold, web_url=web_url),
            )
            queued += enqueue(session, purpose=purpose, chat_id=chat_id, message=message, now=now)
    return queued


def _already_queued(session: Session, *, purpose: purposes.Purpose, chat_id: int) -> bool:
    return (
        session.scalar(
            select(models.OutboxMessage.id).where(
                models.OutboxMessage.purpose == purpose, models.OutboxMessage.recipient_chat_id == chat_id
            )
        )
        is not None
    )
