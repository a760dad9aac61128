"""Signing in to the web workspace without a password: a one-time link, asked for in Telegram (/web) or on the
server (`wijkbot staff login-link`). The link carries a random token; the database keeps only its SHA-256, so
a copy of the database cannot sign anyone in. A link works once, for WEB_LOGIN_MINUTES (10) minutes, and only
for a staff member who is still active. Imports neither telegram nor the web framework.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot.rights import rights_of
from wijkbot.staff import find_staff_by_telegram_id

LOGIN_PATH = "/login/"
LINK_VALID_FOR = timedelta(minutes=10)


class LoginRefused(PermissionError):
    """The link cannot sign anyone in; the message is safe to show on the page."""


@dataclass(frozen=True)
class LoginLink:
    url: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_login_link(
    session: Session,
    *,
    telegram_id: int,
    base_url: str,
    valid_for: timedelta = LINK_VALID_FOR,
    now: datetime | None = None,
) -> LoginLink:
    """A new one-time link for the active staff member with this Telegram account (LoginRefused otherwise).
    Links that expired earlier are removed on the way."""
    now = now or utcnow()
    staff = find_staff_by_telegram_id(session, telegram_id=telegram_id)
    if staff is None or not rights_of(staff).actions:
        raise LoginRefused("Alleen actieve medewerkers kunnen inloggen op de werkplek.")
    session.execute(delete(models.WebLogin).where(models.WebLogin.expires_at < now - timedelta(days=1)))
    token = secrets.token_urlsafe(32)
    expires_at = now + valid_for
    session.add(models.WebLogin(token_hash=token_hash(token), staff_id=staff.id, created_at=now, expires_at=expires_at))
    session.flush()
    return LoginLink(url=f"{base_url.rstrip('/')}{LOGIN_PATH}{token}", expires_at=expires_at)


def redeem(session: Session, *, token: str, now: datetime | None = None) -> int:
    """The staff id this link signs in, marking it used (atomically: of two browsers opening the same link at
    once, one gets in); LoginRefused when it is unknown, used, expired, or its staff member left."""
    now = now or utcnow()
    row = session.get(models.WebLogin, token_hash(token))
    if row is None:
        raise LoginRefused("Deze inloglink bestaat niet. Vraag een nieuwe met /web in de chat met de bot.")
    if row.used_at is not None:
        raise LoginRefused("Deze inloglink is al gebruikt. Vraag een nieuwe met /web in de chat met de bot.")
    if row.expires_at <= now:
        raise LoginRefused("Deze inloglink is verlopen. Vraag een nieuwe met /web in de chat met de bot.")
    result = session.execute(
        update(models.WebLogin)
        .where(models.WebLogin.token_hash == row.token_hash, models.WebLogin.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LoginRefused("Deze inloglink is al gebruikt. Vraag een nieuwe met /web in de chat met de bot.")
    staff = session.get(models.StaffMember, row.staff_id)
    if staff is None or not rights_of(staff).actions:
        raise LoginRefused("Je bent niet (meer) actief als medewerker.")
    return staff.id
