"""Residents: found or created by Telegram id; their area, postcode and outreach consent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, bindparam, func, select, update
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow


def get_or_create_resident(
    session: Session, *, telegram_id: int, first_name: str | None = None, language: str | None = None
) -> models.Resident:
    """The resident behind this Telegram account, created on first contact."""
    resident = find_resident(session, telegram_id=telegram_id)
    if resident is None:
        resident = models.Resident(telegram_id=telegram_id, first_name=first_name, language=language)
        session.add(resident)
        session.flush()
    else:
        resident.last_seen_at = utcnow()
        resident.blocked = False
        if first_name and resident.first_name != first_name:
            resident.first_name = first_name
        if language and resident.language != language:
            resident.language = language
    return resident


_SEEN = (  # built once (on every turn); a name or language the turn does not carry is kept
    update(models.Resident)
    .where(models.Resident.telegram_id == bindparam("seen_id"))
    .values(
        last_seen_at=bindparam("seen_at"),
        blocked=False,
        first_name=func.coalesce(bindparam("seen_name", type_=String), models.Resident.first_name),
        language=func.coalesce(bindparam("seen_language", type_=String), models.Resident.language),
    )
    .returning(models.Resident.id)
    .execution_options(synchronize_session=False)
)


def resident_seen(
    session: Session, *, telegram_id: int, first_name: str | None, language: str | None, now: datetime
) -> int:
    """A resident's turn: the resident's id, seen now (as `get_or_create_resident`, which creates them on first
    contact), in one statement for a resident the bot knows."""
    values = {"seen_id": telegram_id, "seen_name": first_name or None, "seen_language": language or None}
    seen = session.execute(_SEEN, values | {"seen_at": now}).first()
    if seen is not None:
        return int(seen[0])
    return get_or_create_resident(session, telegram_id=telegram_id, first_name=first_name, language=language).id


def telegram_id_from_sender(sender_id: str | None) -> int | None:
    """The Telegram user id a Rasa conversation belongs to (the REST `sender` is that id as text).

    None for anything else (a test shell's "default", a group chat's negative id): such a conversation is
    nobody's, and the assistant stores nothing for it.
    """
    if not isinstance(sender_id, str) or not sender_id.isdigit() or len(sender_id) > 18:
        return None
    value = int(sender_id)
    return value if value > 0 else None


def find_resident(session: Session, *, telegram_id: int) -> models.Resident | None:
    return session.scalars(select(models.Resident).where(models.Resident.telegram_id == telegram_id)).one_or_none()


def set_home_area(session: Session, resident: models.Resident, *, area_code: str, postcode: str | None = None) -> None:
    """Remember where the resident lives (their choice), for routing and outreach."""
    resident.area_code = area_code
    if postcode is not None:
        resident.postcode = postcode


def set_outreach(
    session: Session, resident: models.Resident, *, opt_in: bool, via: str, now: datetime | None = None
) -> bool:
    """Opt in to or out of outreach; returns whether anything changed. Consent time and channel are kept; an
    opt-out counts as a "nee" to the opt-in offer (wijkbot.offers: not offered again for 90 days)."""
    if resident.outreach_opt_in == opt_in:
        return False
    resident.outreach_opt_in = opt_in
    resident.consent_at = (now or utcnow()) if opt_in else None
    resident.consent_via = via if opt_in else None
    if not opt_in:
        resident.offer_declined_at = now or utcnow()
    return True


def mark_blocked(session: Session, *, telegram_id: int) -> None:
    """The resident blocked the bot: no more outreach until they write again."""
    resident = find_resident(session, telegram_id=telegram_id)
    if resident is not None:
        resident.blocked = True
