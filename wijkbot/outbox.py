"""Writing to the outbox: the only way anything is sent. The sender in bot/ reads these rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow

Buttons = list[list[dict[str, str]]]


def enqueue(
    session: Session,
    *,
    purpose: str,
    chat_id: int,
    text: str | None = None,
    buttons: Buttons | None = None,
    method: str = "sendMessage",
    payload: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    priority: int = 0,
    item_id: int | None = None,
) -> bool:
    """Add one message, unique per (purpose, recipient); False when that message was already queued."""
    body: dict[str, Any] = dict(payload or {})
    if text is not None:
        body.setdefault("text", text)
        body.setdefault("parse_mode", "HTML")
    if buttons:
        body["buttons"] = buttons
    values = {
        "purpose": purpose,
        "recipient_chat_id": chat_id,
        "method": method,
        "payload": body,
        "status": "pending",
        "priority": priority,
        "attempts": 0,
        "not_before": not_before or utcnow(),
        "created_at": utcnow(),
        "item_id": item_id,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(models.OutboxMessage).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(models.OutboxMessage).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(models.OutboxMessage).values(values)
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 1))
