"""Helpers shared by the poll and outreach tests: subscribers, a fixed daytime clock, the default policy."""

from __future__ import annotations

import itertools
import time as monotonic_time
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db import models
from tests.factories import make_resident
from wijkbot.outreach import Policy
from wijkbot.residents import set_outreach

ZONE = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 11:00 in Amsterdam: no quiet hours
POLICY = Policy(zone=ZONE, quiet=(time(21, 0), time(9, 0)), max_per_window=1, window=timedelta(days=7))
SLOTJES, DEN_HOUT, DORST = "WK082601", "WK082611", "WK082613"
_bulk_ids = itertools.count(600_000_000)


def ticking_from(start: datetime) -> Callable[[], datetime]:
    """A clock that reads `start` now and then runs on with real time (a frozen one never lets a 429 pass)."""
    began = monotonic_time.monotonic()
    return lambda: start + timedelta(seconds=monotonic_time.monotonic() - began)


def make_subscriber(
    session: Session,
    area_code: str,
    *,
    opted_in: bool = True,
    blocked: bool = False,
    telegram_id: int | None = None,
    first_name: str = "Anna",
) -> models.Resident:
    """A resident of this area who opted in to outreach (or not)."""
    resident = make_resident(session, telegram_id=telegram_id, first_name=first_name)
    resident.area_code = area_code
    if opted_in:
        set_outreach(session, resident, opt_in=True, via="test")
    resident.blocked = blocked
    session.flush()
    return resident


def bulk_subscribers(session: Session, area_code: str, count: int) -> list[int]:
    """Many opted-in residents at once; returns their Telegram ids."""
    ids = [next(_bulk_ids) for _ in range(count)]
    session.execute(
        insert(models.Resident),
        [
            {
                "telegram_id": telegram_id,
                "area_code": area_code,
                "outreach_opt_in": True,
                "consent_via": "test",
                "consent_at": NOW,
                "blocked": False,
                "created_at": NOW,
                "last_seen_at": NOW,
            }
            for telegram_id in ids
        ],
    )
    return ids


def outbox_rows(session: Session, *, purpose_prefix: str = "") -> list[models.OutboxMessage]:
    return list(
        session.scalars(
            select(models.OutboxMessage)
            .where(models.OutboxMessage.purpose.startswith(purpose_prefix))
            .order_by(models.OutboxMessage.id)
        )
    )
