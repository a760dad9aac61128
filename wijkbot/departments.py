"""Forwarding an item to a department of the municipality (gebiedsbeheer, afval, groen, …).

The departments are data (`departments` in wijkbot/data/profiles.yaml); their staff have the role
`afdeling:<key>` and areas in the municipality (wijkbot.staff checks both). Their rights (wijkbot.rights
`DEPARTMENT`): every kind, but only what was sent to them, with the handling actions. Forwarding to a department
makes every active member of it a recipient of the item (reason `department`), so the item is in each one's
inbox (the department's queue, on the web and in Telegram's /inbox) until one of them takes it on; they are
notified as after a forward to a colleague (the purpose `item:<id>:forward<event>:<staff>`), and the item is
new again with its reminders and escalation from now, so a forwarded item keeps its reminders. This is a function
beside `wijkbot.staff_loop.forward` (to one colleague), not a change to it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot.items import notify_recipients
from wijkbot.municipalities import Department, Registry
from wijkbot.rights import Action, NotAllowed, department_role
from wijkbot.staff_loop import ESCALATE_AFTER, REMIND_AFTER, Outcome, load_item_for
from wijkbot.workflow import State, is_open, lifecycle_of, move, record


def members(session: Session, registry: Registry, *, municipality_code: str, key: str) -> list[models.StaffMember]:
    """The active staff of this department in this municipality who can be told on Telegram."""
    codes = {area.code for area in registry.municipality(municipality_code).areas}
    found = session.scalars(
        select(models.StaffMember)
        .where(
            models.StaffMember.role == department_role(key),
            models.StaffMember.active.is_(True),
            models.StaffMember.telegram_id.is_not(None),
        )
        .order_by(models.StaffMember.id)
    )
    return [member for member in found if codes & set(member.area_codes)]


def department_choices(
    session: Session, registry: Registry, *, staff: models.StaffMember, item_id: int
) -> list[Department]:
    """The departments of the item's municipality this staff member can forward it to (those with staff)."""
    item = load_item_for(session, staff=staff, item_id=item_id, action=Action.FORWARD)
    area = registry.find_area(item.area_code or "")
    if area is None or not is_open(item):
        return []
    municipality = registry.municipality(area.municipality_code)
    return [
        department
        for department in municipality.departments
        if members(session, registry, municipality_code=municipality.code, key=department.key)
    ]


def forward_to_department(
    session: Session,
    registry: Registry,
    *,
    staff: models.StaffMember,
    item_id: int,
    key: str,
    now: datetime | None = None,
    remind_after: timedelta = REMIND_AFTER,
    escalate_after: timedelta = ESCALATE_AFTER,
) -> Outcome:
    """Pass the item to a department: its staff become recipients and are told; the item is new again."""
    now = now or utcnow()
    item = load_item_for(session, staff=staff, item_id=item_id, action=Action.FORWARD)
    if not is_open(item):
        return Outcome(item, f"#{item.id} is al afgerond.")
    department = next(
        (d for d in department_choices(session, registry, staff=staff, item_id=item_id) if d.key == key), None
    )
    area = registry.find_area(item.area_code or "")
    if department is None or area is None:
        raise NotAllowed("Je kunt dit item niet naar die afdeling doorsturen.")
    team = members(session, registry, municipality_code=area.municipality_code, key=key)
    item.assigned_staff_id = None
    item.claimed_by_id = None
    item.thread_staff_id = None
    item.thread_until = None
    item.remind_at = now + remind_after
    item.escalate_at = now + escalate_after
    for member in team:
        if not any(r.staff_id == member.id for r in item.recipients):
            item.recipients.append(models.ItemRecipient(staff_id=member.id, reason="department"))
    forwarded = f"to department {department.key}"
    if lifecycle_of(item.kind).allows(State(item.status), State.NEW):
        event = move(item, State.NEW, event="forwarded", staff_id=staff.id, text=forwarded, now=now)
    else:  # a new ticket stays new; an initiative keeps its stage (wijkbot.workflow)
        event = record(item, event="forwarded", status=State(item.status), staff_id=staff.id, text=forwarded, now=now)
    session.flush()
    resident = session.get(models.Resident, item.resident_id) if item.resident_id else None
    notify_recipients(
        session, registry, item=item, resident=resident, tag=f"forward{event.id}", only=[m.id for m in team], now=now
    )
    return Outcome(item, f"#{item.id} is doorgestuurd naar de afdeling {escape(department.name)}.")
