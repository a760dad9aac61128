"""Exactly once per resident turn: what a turn does to the world happens once, however often Rasa runs it.

Rasa can run a turn twice. When the bot stops waiting for an answer (its timeout) and sends the turn again,
the first run may already have filed the item in this database while Rasa never saved the turn in its
tracker (Sanic cancels the abandoned request before the save), so the second run does all of it again.
Each turn carries its Telegram `update_id` in the message metadata. An action with a side effect runs its
work through `run_once` with the key (resident's Telegram id, update id, action): the key is claimed in the
same transaction as the work and keeps the work's result. A second run finds the key and gets the first
result back (the same item number for the resident's receipt, no second item, no second notification).
Two runs at the same moment cannot both pass: the second one's claim waits for the first transaction and
then fails on the primary key, and its retry reads the first result.

A turn without an update id (a test or a bench talking to Rasa's REST channel directly) runs its work
every time, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db import models
from db.models import utcnow
from db.session import transaction

log = logging.getLogger(__name__)

Result = dict[str, Any]
ATTEMPTS = 3


@dataclass(frozen=True)
class TurnKey:
    """One side effect of one resident turn."""

    telegram_id: int
    update_id: int
    action: str


def update_id_from_metadata(metadata: object) -> int | None:
    """The Telegram update id the bot put into a turn's metadata; None when there is none (or it is not an int)."""
    if not isinstance(metadata, dict):
        return None
    value = metadata.get("update_id")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def earlier_result(session: Session, key: TurnKey) -> Result | None:
    row = session.get(models.TurnEffect, (key.telegram_id, key.update_id, key.action))
    return dict(row.result) if row is not None else None


def run_once(
    sessions: sessionmaker[Session],
    key: TurnKey | None,
    work: Callable[[Session], Result],
    *,
    clock: Callable[[], datetime] = utcnow,
) -> Result:
    """Run `work` and keep its result under `key`, in one transaction; if `key` already holds a result (this
    turn ran before), return that without running `work`. Without a key, `work` just runs."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction(sessions) as session:
                if key is None:
                    return work(session)
                earlier = earlier_result(session, key)
                if earlier is not None:
                    log.info("turn %s of %s ran before: %s answers with its first result", *_describe(key))
                    return earlier
                # claimed before the work: a racing second run waits here for this transaction, then fails
                claim = models.TurnEffect(
                    telegram_id=key.telegram_id,
                    update_id=key.update_id,
                    action=key.action,
                    result={},
                    created_at=clock(),
                )
                session.add(claim)
                session.flush()
                result = work(session)
                claim.result = dict(result)
                return result
        except IntegrityError:
            if key is None or attempt == ATTEMPTS:
                raise
            log.info("turn %s of %s: %s ran at the same moment elsewhere; reading its result", *_describe(key))
    raise AssertionError("unreachable")


def forget_effects(session: Session, *, telegram_id: int | None = None, before: datetime | None = None) -> int:
    """Delete kept results: a resident's (erasure) or those older than `before` (retention)."""
    if telegram_id is None and before is None:
        raise ValueError("forget whose effects, or from before when?")
    query = delete(models.TurnEffect)
    if telegram_id is not None:
        query = query.where(models.TurnEffect.telegram_id == telegram_id)
    if before is not None:
        query = query.where(models.TurnEffect.created_at < before)
    return int(getattr(session.execute(query), "rowcount", 0) or 0)


def effects_of(session: Session, *, telegram_id: int) -> list[models.TurnEffect]:
    """A resident's kept results, oldest first (for the export of their data)."""
    query = select(models.TurnEffect).where(models.TurnEffect.telegram_id == telegram_id)
    return list(session.scalars(query.order_by(models.TurnEffect.created_at)))


def _describe(key: TurnKey) -> tuple[int, int, str]:
    return key.update_id, key.telegram_id, key.action
