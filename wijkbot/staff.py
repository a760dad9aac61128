"""Staff records: adding, inviting, binding a Telegram account, listing. Rights come from here."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot.municipalities import Registry
from wijkbot.rights import department_key

ROLES = ("wijkmakelaar", "wijkcoordinator", "council", "lead", "inbox")
INVITE_VALID_FOR = timedelta(days=7)  # STAFF_INVITE_DAYS


class StaffError(ValueError):
    """A staff command cannot be carried out; the message says why, in plain words."""


def check_role_and_areas(registry: Registry, *, role: str, area_codes: Sequence[str]) -> None:
    department = department_key(role)
    if role not in ROLES and department is None:
        raise StaffError(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}, or afdeling:<key>")
    if not area_codes:
        raise StaffError("give at least one --area (a wijk or dorp code such as WK082611)")
    unknown = [code for code in area_codes if registry.find_area(code) is None]
    if unknown:
        raise StaffError(f"unknown area code(s): {', '.join(unknown)} (see `wijkbot areas list`)")
    if department is not None:  # a department of the municipality of every one of its areas (profiles.yaml)
        for code in area_codes:
            municipality = registry.municipality(registry.area(code).municipality_code)
            if municipality.department(department) is None:
                known = ", ".join(f"afdeling:{d.key}" for d in municipality.departments) or "none"
                raise StaffError(f"{municipality.name} has no department {department!r}; its departments: {known}")


def add_staff(
    session: Session,
    registry: Registry,
    *,
    name: str,
    role: str,
    area_codes: Sequence[str],
    telegram_id: int | None = None,
) -> models.StaffMember:
    """Add a staff member for these areas, bound to a Telegram account when its id is given."""
    check_role_and_areas(registry, role=role, area_codes=area_codes)
    if not name.strip():
        raise StaffError("a staff member needs a name")
    if telegram_id is not None and find_staff_by_telegram_id(session, telegram_id=telegram_id) is not None:
        raise StaffError(f"Telegram id {telegram_id} already belongs to a staff member")
    member = models.StaffMember(name=name.strip(), role=role, telegram_id=telegram_id)
    member.areas = [models.StaffArea(area_code=code) for code in dict.fromkeys(area_codes)]
    session.add(member)
    session.flush()
    return member


def invite_staff(
    session: Session, registry: Registry, *, role: str, area_codes: Sequence[str], name: str | None = None
) -> models.StaffMember:
    """Create a staff record with a one-time invite code; `/start <code>` binds it to a Telegram account."""
    check_role_and_areas(registry, role=role, area_codes=area_codes)
    member = models.StaffMember(
        name=(name or "").strip() or "(uitgenodigd)", role=role, invite_code=secrets.token_urlsafe(18)
    )
    member.areas = [models.StaffArea(area_code=code) for code in dict.fromkeys(area_codes)]
    session.add(member)
    session.flush()
    return member


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def invite_expires_at(member: models.StaffMember, *, valid_for: timedelta = INVITE_VALID_FOR) -> datetime:
    """When this member's invite stops working: `valid_for` after it was made."""
    return member.created_at + valid_for


def invite_exists(session: Session, *, code: str) -> bool:
    """Whether this code is an invite not used yet (its validity aside)."""
    found = session.scalar(
        select(models.StaffMember.id).where(
            models.StaffMember.invite_code == code, models.StaffMember.telegram_id.is_(None)
        )
    )
    return found is not None


def accept_invite(
    session: Session,
    *,
    code: str,
    telegram_id: int,
    name: str,
    now: datetime | None = None,
    valid_for: timedelta = INVITE_VALID_FOR,
) -> models.StaffMember | None:
    """Bind the invite to this Telegram account, once. None when the code is unknown, used, expired or its
    staff member was deactivated."""
    now = now or utcnow()
    member = session.scalars(
        select(models.StaffMember).where(models.StaffMember.invite_code == code).with_for_update()
    ).one_or_none()
    if member is None or member.telegram_id is not None or not member.active:
        return None
    if now >= invite_expires_at(member, valid_for=valid_for):
        return None
    if find_staff_by_telegram_id(session, telegram_id=telegram_id) is not None:
        return None
    member.telegram_id = telegram_id
    member.invite_code = None
    if member.name == "(uitgenodigd)":
        member.name = name
    session.flush()
    return member


def active_staff(session: Session, *, staff_id: int) -> models.StaffMember | None:
    """The staff member with this id while they are active; None when unknown or deactivated."""
    member = session.get(models.StaffMember, staff_id)
    return member if member is not None and member.active else None


_ACTIVE_STAFF = select(models.StaffMember).where(  # built once: asked for every private text the bot receives
    models.StaffMember.telegram_id == bindparam("telegram_id"), models.StaffMember.active.is_(True)
)
_ACTIVE_STAFF_ID = _ACTIVE_STAFF.with_only_columns(models.StaffMember.id).limit(1)


def find_staff_by_telegram_id(session: Session, *, telegram_id: int) -> models.StaffMember | None:
    return session.scalars(_ACTIVE_STAFF, {"telegram_id": telegram_id}).one_or_none()


def is_staff(session: Session, *, telegram_id: int) -> bool:
    """Whether this Telegram account is an active staff member (as `find_staff_by_telegram_id`, without
    loading them)."""
    return session.scalar(_ACTIVE_STAFF_ID, {"telegram_id": telegram_id}) is not None


def list_staff(session: Session) -> list[models.StaffMember]:
    return list(session.scalars(select(models.StaffMember).order_by(models.StaffMember.id)))


def staff_for_area(session: Session, *, area_code: str, role: str) -> list[models.StaffMember]:
    """Active staff with this role who cover this area, bound to Telegram or not."""
    return list(
        session.scalars(
            select(models.StaffMember)
            .join(models.StaffArea)
            .where(
                models.StaffArea.area_code == area_code,
                models.StaffMember.role == role,
                models.StaffMember.active.is_(True),
            )
            .order_by(models.StaffMember.id)
        )
    )


def set_staff_areas(
    session: Session, registry: Registry, *, staff_id: int, area_codes: Sequence[str]
) -> models.StaffMember:
    """Give a staff member exactly these areas (routing, /inbox and polls follow at once)."""
    member = session.get(models.StaffMember, staff_id)
    if member is None:
        raise StaffError(f"there is no staff member {staff_id} (see `wijkbot staff list`)")
    check_role_and_areas(registry, role=member.role, area_codes=area_codes)
    wanted = list(dict.fromkeys(area_codes))
    member.areas = [a for a in member.areas if a.area_code in wanted] + [
        models.StaffArea(area_code=code) for code in wanted if code not in member.area_codes
    ]
    session.flush()
    return member


@dataclass(frozen=True)
class Deactivated:
    """What deactivating a staff member changed."""

    member: models.StaffMember
    threads_closed: int
    items_released: int


def deactivate_staff(
    session: Session,
    *,
    staff_id: int,
    now: datetime | None = None,
    escalate_after: timedelta = timedelta(hours=72),
) -> Deactivated:
    """Take a staff member out of service: no more routing, rights, reminders or invite; their open threads
    close (the resident's next message goes to the assistant again) and the items they had claimed go back
    to their colleagues, who are reminded at once and the lead after `escalate_after`."""
    from wijkbot.workflow import OPEN_STATES, State, lifecycle_of, move, record

    now = now or utcnow()
    member = session.get(models.StaffMember, staff_id)
    if member is None:
        raise StaffError(f"there is no staff member {staff_id} (see `wijkbot staff list`)")
    member.active = False
    member.invite_code = None
    member.awaiting = None
    open_items = select(models.Item).where(models.Item.status.in_(OPEN_STATES))
    threads = list(session.scalars(open_items.where(models.Item.thread_staff_id == member.id)))
    for item in threads:
        item.thread_staff_id = None
        item.thread_until = None
        record(item, event="thread_closed", staff_id=member.id, text="deactivated", now=now)
    theirs = or_(models.Item.claimed_by_id == member.id, models.Item.assigned_staff_id == member.id)
    released = list(session.scalars(open_items.where(theirs)))
    for item in released:
        item.claimed_by_id = None
        item.assigned_staff_id = None
        if lifecycle_of(item.kind).allows(State(item.status), State.NEW):
            move(item, State.NEW, event="released", staff_id=member.id, now=now)
        else:
            record(item, event="released", status=State(item.status), staff_id=member.id, now=now)
        item.remind_at = now
        item.escalate_at = now + escalate_after
    session.flush()
    return Deactivated(member=member, threads_closed=len(threads), items_released=len(released))
