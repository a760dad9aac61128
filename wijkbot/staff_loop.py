"""The staff loop: claim, reply, forward and close an item, and relay the resident's answers.

Every change of an item's state goes through wijkbot.workflow (its lifecycle says which are allowed); every
message it causes is an outbox row in the same transaction. Who may do what is decided by wijkbot.rights, from
the staff table (role, areas, active) and the item, never from the chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot import purposes
from wijkbot.items import KIND_WORDS
from wijkbot.municipalities import Registry
from wijkbot.offers import offer_after_answer
from wijkbot.outbox import enqueue
from wijkbot.rights import Action, check, department_key, inbox_kinds, may, roles_that_may, sees_area_items
from wijkbot.rights import NotAllowed as NotAllowed  # raised by every function here
from wijkbot.staff import staff_for_area
from wijkbot.text_budget import Page, paginate
from wijkbot.workflow import OPEN_STATES, WAITING_STATES, State, is_open, lifecycle_of, move, notify_staff, record
from wijkbot.workflow import staff_label as staff_label

THREAD_QUIET_AFTER = timedelta(hours=48)
REMIND_AFTER = timedelta(hours=24)  # REMINDER_AFTER_HOURS
ESCALATE_AFTER = timedelta(hours=72)  # ESCALATE_AFTER_HOURS
# what a staff member's next typed message can be for, with the button that asked for it
AWAITED = {
    "reply": "Beantwoorden",
    "close": "Afronden",
    "grant": "Toekennen",
    "reject": "Past niet",
    "advise": "Advies geven",
}
AWAITING_VALID_FOR = timedelta(minutes=30)  # STAFF_AWAITING_MINUTES: a pressed Beantwoorden or Zelf typen
OUTCOMES = {
    "done": "Het is opgepakt en uitgevoerd.",
    "planned": "Het staat op de planning.",
    "passed": "We hebben het doorgezet naar de juiste afdeling.",
    "not_possible": "Het kan helaas niet. De reden staat hieronder of hoor je van ons.",
}


@dataclass(frozen=True)
class Outcome:
    """What a staff action did, in words for the person who pressed the button."""

    item: models.Item
    message: str


def staff_title(registry: Registry, staff: models.StaffMember, item: models.Item | None = None) -> str:
    """ "wijkmakelaar" or "wijkcoördinator" as the municipality says it; other roles by their name."""
    area = registry.find_area(item.area_code or "") if item else None
    if area is None and staff.area_codes:
        area = registry.find_area(staff.area_codes[0])
    if area is not None:
        municipality = registry.municipality(area.municipality_code)
        if staff.role == municipality.staff_role:
            return municipality.staff_title
        if staff.role == "council":
            return municipality.council_title
        if (department := municipality.department(department_key(staff.role) or "")) is not None:
            return f"afdeling {department.name}"
    return {
        "lead": municipality_lead(registry, area),
        "inbox": "medewerker van de gemeente",
        "council": "wijk- of dorpsraad",
    }.get(staff.role, staff.role)


def municipality_lead(registry: Registry, area: object) -> str:
    code = getattr(area, "municipality_code", None)
    return registry.municipality(code).lead_title if code else "teamleider"


def load_item_for(session: Session, *, staff: models.StaffMember, item_id: int, action: Action) -> models.Item:
    """The item, if this staff member may do this action to it (wijkbot.rights decides)."""
    check(staff, action)
    item = session.get(models.Item, item_id)
    if item is None:
        raise NotAllowed("Dit item bestaat niet (meer).")
    check(staff, action, item)
    return item


def _resident_chat(session: Session, item: models.Item) -> models.Resident | None:
    return session.get(models.Resident, item.resident_id) if item.resident_id else None


def _finished(item: models.Item) -> str:
    return "ingetrokken" if item.status in (State.WITHDRAWN, State.EXPIRED) else "afgerond"


def claim(session: Session, *, staff: models.StaffMember, item_id: int, now: datetime | None = None) -> Outcome:
    """Take an item on; the colleagues who also received it hear who did."""
    now = now or utcnow()
    item = load_item_for(session, staff=staff, item_id=item_id, action=Action.CLAIM)
    if not is_open(item):
        return Outcome(item, f"#{item.id} is al {_finished(item)}.")
    won = False
    if item.claimed_by_id is None:
        # Atomic: of two colleagues pressing Oppakken at once, exactly one UPDATE still finds it unclaimed.
        session.flush()
        result = session.execute(
            update(models.Item)
            .where(
                models.Item.id == item.id,
                models.Item.claimed_by_id.is_(None),
                models.Item.status == item.status,
            )
            .values(claimed_by_id=staff.id, assigned_staff_id=staff.id, remind_at=None, escalate_at=None)
            .execution_options(synchronize_session=False)
        )
        won = getattr(result, "rowcount", 0) == 1
        session.refresh(item, ["claimed_by_id", "assigned_staff_id", "status", "remind_at", "escalate_at"])
    if not won:
        if not is_open(item):
            return Outcome(item, f"#{item.id} is al {_finished(item)}.")
        holder = session.get(models.StaffMember, item.claimed_by_id) if item.claimed_by_id else None
        who = "jij" if item.claimed_by_id == staff.id else escape(holder.name if holder else "een collega")
        return Outcome(item, f"#{item.id} is al opgepakt door {who}.")
    if lifecycle_of(item.kind).allows(State(item.status), State.CLAIMED):
        move(item, State.CLAIMED, event="claimed", staff_id=staff.id, now=now)
    else:  # an initiative keeps its stage; who handles it is recorded
        record(item, event="claimed", staff_id=staff.id, now=now)
    notify_staff(
        session,
        item=item,
        leave_out=staff.id,
        tag="claimed",
        text=f"#{item.id} is opgepakt door {escape(staff.name)}.",
        now=now,
    )
    return Outcome(item, f"Je hebt #{item.id} opgepakt.")


def reply(
    session: Session,
    registry: Registry,
    *,
    staff: models.StaffMember,
    item_id: int,
    text: str,
    now: datetime | None = None,
) -> Outcome:
    """Send the staff member's answer to the resident and open a thread for the resident's answer."""
    item = load_item_for(session, staff=staff, item_id=item_id, action=Action.REPLY)
    if not is_open(item):
        raise NotAllowed(f"#{item.id} is al {_finished(item)}; je antwoord is niet verstuurd.")
    resident = _resident_chat(session, item)
    if resident is None:
        raise NotAllowed(f"De inwoner van #{item.id} heeft zijn gegevens laten wissen.")
    now = now or utcnow()
    council = staff.role == "council"  # the raad answers on its copy: nobody's claim, no change of state
    if item.claimed_by_id is None and not council:
        claim(session, staff=staff, item_id=item_id, now=now)
    if not council and lifecycle_of(item.kind).allows(State(item.status), State.ANSWERED):
        event = move(item, State.ANSWERED, event="staff_reply", staff_id=staff.id, text=text, now=now)
    else:  # an initiative, or the raad: the conversation does not change the state
        event = record(item, event="staff_reply", staff_id=staff.id, text=text, now=now)
    item.thread_staff_id = staff.id
    item.thread_until = now + THREAD_QUIET_AFTER
    session.flush()
    title = staff_title(registry, staff, item)
    kind = KIND_WORDS.get(item.kind, item.kind)
    body = (
        f"<b>Antwoord van {escape(staff.name)} ({escape(title)})</b> over je {escape(kind)} #{item.id}:\n\n"
        f"{escape(text)}\n\n<i>Je kunt gewoon terugschrijven; je bericht gaat naar {escape(staff.name)}.</i>"
    )
    enqueue(
        session,
        purpose=purposes.item_reply(item.id, event.id),
        chat_id=resident.telegram_id,
        text=body,
        item_id=item.id,
        priority=10,
        now=now,
    )
    offer_after_answer(session, registry, item=item, resident=resident, event_id=event.id, now=now)  # issue 12
    if council:  # the item's staff see what the raad told the resident
        notify_staff(
            session,
            item=item,
            leave_out=staff.id,
            tag=f"council{event.id}",
            text=f"<b>{escape(staff.name)} ({escape(title)})</b> antwoordde de inwoner van #{item.id}:\n\n"
            f"{escape(text)}",
            now=now,
        )
    return Outcome(item, f"Je antwoord op #{item.id} is naar de inwoner gestuurd.")


def advise(
    session: Session,
    registry: Registry,
    *,
    staff: models.StaffMember,
    item_id: int,
    text: str,
    now: datetime | None = None,
) -> Outcome:
    """A raad member's advice on an item: kept in its history and told to its staff, never to the resident."""
    item = load_item_for(session, staff=staff, item_id=item_id, action=Action.ADVISE)
    text = text.strip()
    if not text:
        raise NotAllowed("Een leeg advies is niet verstuurd.")
    now = now or utcnow()
    event = record(item, event="advice", staff_id=staff.id, text=text[:2000], now=now)
    session.flush()
    notify_staff(
        session,
        item=item,
        leave_out=staff.id,
        tag=f"advice{event.id}",
        text=f"<b>Advies van {escape(staff.name)} ({escape(staff_title(registry, staff, item))})</b> over "
        f"#{item.id}:\n\n{escape(text[:2000])}\n\n<i>De inwoner ziet dit niet.</i>",
        now=now,
    )
    area = registry.find_area(item.area_code or "")
    who = registry.municipality(area.municipality_code).staff_title if area else "medewerkers"
    return Outcome(item, f"Je advies over #{item.id} is naar de {escape(who)} gestuurd.")


_OPEN_THREAD = (  # built once: asked on every resident's turn
    select(models.Item)
    .where(
        models.Item.resident_id == bindparam("resident_id"),
        models.Item.status.in_(OPEN_STATES),
        models.Item.thread_staff_id.is_not(None),
        models.Item.thread_until > bindparam("now"),
    )
    .order_by(models.Item.thread_until.desc())
    .limit(1)
)


def open_thread_for(session: Session, *, resident_id: int, now: datetime | None = None) -> models.Item | None:
    """The item whose staff conversation this resident's next message belongs to, if one is open."""
    return session.scalars(_OPEN_THREAD, {"resident_id": resident_id, "now": now or utcnow()}).first()


def relay_resident_message(
    session: Session,
    registry: Registry,
    *,
    item: models.Item,
    resident: models.Resident,
    text: str,
    update_id: int,
    now: datetime | None = None,
) -> Outcome:
    """Pass the resident's answer to the staff member of the thread, without Rasa."""
    staff = session.get(models.StaffMember, item.thread_staff_id) if item.thread_staff_id else None
    if staff is None or staff.telegram_id is None:
        raise NotAllowed("no staff member on this thread")
    now = now or utcnow()
    item.thread_until = now + THREAD_QUIET_AFTER
    record(item, event="resident_reply", text=text, now=now)
    name = escape(resident.first_name or "De inwoner")
    body = (
        f"<b>{name}</b> antwoordt op #{item.id}:\n\n{escape(text)}\n\n"
        "<i>Reageer (reply) op dit bericht om terug te schrijven.</i>"
    )
    enqueue(
        session,
        purpose=purposes.item_resident_answer(item.id, update_id),
        chat_id=staff.telegram_id,
        text=body,
        item_id=item.id,
        priority=10,
        now=now,
    )
    return Outcome(item, f"Je bericht is doorgestuurd naar {escape(staff.name)}.")


def close(
    session: Session, *, staff: models.StaffMember, item_id: int, outcome: str, now: datetime | None = None
) -> Outcome:
    """Close the item and tell the resident what was done: "je zei … — wij deden …"."""
    now = now or utcnow()
    item = load_item_for(session, staff=staff, item_id=item_id, action=Action.CLOSE)
    if not is_open(item):
        return Outcome(item, f"#{item.id} was al {_finished(item)}.")
    if not lifecycle_of(item.kind).allows(State(item.status), State.CLOSED):
        raise NotAllowed(f"#{item.id} is een buurtinitiatief: kies een besluit in plaats van afronden.")
    outcome = OUTCOMES.get(outcome, outcome).strip()
    if not outcome:
        raise NotAllowed("Geef een uitkomst op.")
    item.outcome = outcome
    item.claimed_by_id = item.claimed_by_id or staff.id
    move(item, State.CLOSED, event="closed", staff_id=staff.id, text=outcome, now=now)
    resident = _resident_chat(session, item)
    if resident is not None:
        said = item.text if len(item.text) <= 300 else item.text[:297] + "…"
        kind = KIND_WORDS.get(item.kind, item.kind)
        body = (
            f"<b>Je {escape(kind)} #{item.id} is afgerond.</b>\n\nJe zei: «{escape(said)}»\n"
            f"Wij deden: {escape(outcome)}\n\nDank je wel dat je het liet weten!"
        )
        enqueue(
            session,
            purpose=purposes.item_closed(item.id),
            chat_id=resident.telegram_id,
            text=body,
            item_id=item.id,
            now=now,
        )
    notify_staff(
        session,
        item=item,
        leave_out=staff.id,
        tag="closed",
        text=f"#{item.id} is afgerond door {escape(staff.name)}: {escape(outcome)}",
        now=now,
    )
    return Outcome(item, f"#{item.id} is afgerond en de inwoner heeft bericht gekregen.")


def forward_candidates(
    session: Session, registry: Registry, *, staff: models.StaffMember, item_id: int
) -> list[models.StaffMember]:
    """Colleagues in the same municipality this item can be passed to (roles that may receive a forward)."""
    item = load_item_for(session, staff=staff, item_id=item_id, action=Action.FORWARD)
    area = registry.find_area(item.area_code or "")
    codes = [a.code for a in registry.municipality(area.municipality_code).areas] if area else []
    return list(
        session.scalars(
            select(models.StaffMember)
            .where(
                models.StaffMember.id.in_(
                    select(models.StaffArea.staff_id).where(models.StaffArea.area_code.in_(codes))
                ),
                models.StaffMember.id != staff.id,
                models.StaffMember.active.is_(True),
                models.StaffMember.telegram_id.is_not(None),
                models.StaffMember.role.in_(roles_that_may(Action.RECEIVE_FORWARD)),
            )
            .order_by(models.StaffMember.name)
        )
    )


def forward(
    session: Session,
    registry: Registry,
    *,
    staff: models.StaffMember,
    item_id: int,
    to_staff_id: int,
    now: datetime | None = None,
    remind_after: timedelta = REMIND_AFTER,
    escalate_after: timedelta = ESCALATE_AFTER,
) -> Outcome:
    """Pass the item to a colleague (of this or another area); they get the notification with buttons, and
    are reminded (and the lead of its area alerted) if they do not take it on in time, like a new item."""
    from wijkbot.items import notify_recipients

    now = now or utcnow()

    item = load_item_for(session, staff=staff, item_id=item_id, action=Action.FORWARD)
    if not is_open(item):
        return Outcome(item, f"#{item.id} is al {_finished(item)}.")
    target = next(
        (c for c in forward_candidates(session, registry, staff=staff, item_id=item_id) if c.id == to_staff_id), None
    )
    if target is None:
        raise NotAllowed("Je kunt dit item niet naar die persoon doorsturen.")
    if item.area_code not in target.area_codes and target.area_codes:
        item.area_code = target.area_codes[0]
    item.assigned_staff_id = target.id
    item.claimed_by_id = None
    item.thread_staff_id = None
    item.thread_until = None
    item.remind_at = now + remind_after
    item.escalate_at = now + escalate_after
    if not any(r.staff_id == target.id for r in item.recipients):
        item.recipients.append(models.ItemRecipient(staff_id=target.id, reason="forward"))
    forwarded = f"to staff {target.id}"
    if lifecycle_of(item.kind).allows(State(item.status), State.NEW):
        event = move(item, State.NEW, event="forwarded", staff_id=staff.id, text=forwarded, now=now)
    else:  # a new ticket stays new; an initiative keeps its stage
        event = record(item, event="forwarded", status=State(item.status), staff_id=staff.id, text=forwarded, now=now)
    session.flush()
    resident = _resident_chat(session, item)
    notify_recipients(
        session, registry, item=item, resident=resident, tag=f"forward{event.id}", only=[target.id], now=now
    )
    return Outcome(item, f"#{item.id} is doorgestuurd naar {escape(target.name)}.")


def inbox(session: Session, *, staff: models.StaffMember) -> list[models.Item]:
    """Open items this staff member may see (wijkbot.rights: the kinds of their role; sent to them, or in their
    areas where the role covers its areas), oldest first."""
    check(staff, Action.INBOX)
    sent_to_them = models.Item.id.in_(
        select(models.ItemRecipient.item_id).where(models.ItemRecipient.staff_id == staff.id)
    )
    theirs = or_(sent_to_them, models.Item.area_code.in_(staff.area_codes)) if sees_area_items(staff) else sent_to_them
    return list(
        session.scalars(
            select(models.Item)
            .where(
                models.Item.status.in_(OPEN_STATES),
                models.Item.kind.in_(sorted(inbox_kinds(staff))),
                theirs,
            )
            .order_by(models.Item.id)
        )
    )


def inbox_page(session: Session, registry: Registry, *, staff: models.StaffMember, number: int = 1) -> Page | None:
    """Page `number` of this staff member's /inbox (wijkbot.text_budget.paginate: within one message); None
    when nothing is open."""
    lines = []
    for item in inbox(session, staff=staff):
        area = registry.find_area(item.area_code or "")
        lines.append(
            f"#{item.id} {escape(KIND_WORDS.get(item.kind, item.kind))} · {escape(area.name if area else '?')} · "
            f"{staff_label(item.status)}: {escape(item.text[:60])}"
        )
    return paginate("<b>Open items</b>", lines, number=number) if lines else None


def set_awaiting(
    staff: models.StaffMember, *, action: str | None, item_id: int | None = None, now: datetime | None = None
) -> None:
    """Remember what the staff member's next typed message is for (a reply or a closing text), and since when."""
    since = (now or utcnow()).isoformat()
    staff.awaiting = {"action": action, "item_id": item_id, "since": since} if action else None


@dataclass(frozen=True)
class Awaiting:
    """What a staff member's next typed message is for; `expired` once they waited too long to type it."""

    action: str
    item_id: int
    expired: bool


def awaiting_of(
    staff: models.StaffMember, *, now: datetime | None = None, valid_for: timedelta = AWAITING_VALID_FOR
) -> Awaiting | None:
    """The pending Beantwoorden or Zelf typen of this staff member, if any (a pending one without a time, from
    before times were kept, counts as expired)."""
    raw: dict[str, Any] = staff.awaiting or {}
    if raw.get("action") not in AWAITED or raw.get("item_id") is None:
        return None
    try:
        since = datetime.fromisoformat(str(raw["since"]))
    except (KeyError, ValueError):
        since = None
    expired = since is None or (now or utcnow()) - since > valid_for
    return Awaiting(action=str(raw["action"]), item_id=int(raw["item_id"]), expired=expired)


def expired_text(awaiting: Awaiting, *, valid_for: timedelta = AWAITING_VALID_FOR) -> str:
    """Told to staff whose typed text came too long after pressing the button: nothing was sent."""
    minutes = round(valid_for.total_seconds() / 60)
    button = AWAITED.get(awaiting.action, "de knop")
    return (
        f"Je bericht is niet verstuurd: je drukte meer dan {minutes} minuten geleden op {button} bij "
        f"#{awaiting.item_id}. Druk opnieuw op {button}, of reageer (reply) op het bericht van het item."
    )


def _to_remind(session: Session, item: models.Item) -> list[models.StaffMember]:
    """Who a waiting item reminds: the colleague it was forwarded to, else everyone it was sent to who may
    take it on (not council copies, not deactivated staff)."""
    forwarded_to = item.assigned_staff_id is not None and any(
        r.staff_id == item.assigned_staff_id and r.reason == "forward" for r in item.recipients
    )
    ids = [item.assigned_staff_id] if forwarded_to else [r.staff_id for r in item.recipients]
    members = [session.get(models.StaffMember, staff_id) for staff_id in ids if staff_id is not None]
    return [m for m in members if m is not None and m.telegram_id is not None and may(m, Action.CLAIM)]


def _round(item: models.Item, kind: str) -> int:
    """Which time (1, 2, …) the item is reminded or escalated: a forwarded item is reminded again, and its
    purpose must differ (the outbox would drop a repeated one)."""
    return 1 + sum(1 for event in item.events if event.kind == kind)


def remind_and_escalate(session: Session, registry: Registry, *, now: datetime | None = None) -> tuple[int, int]:
    """Remind the recipients of items nobody claimed in time; later escalate them to the area's lead."""
    now = now or utcnow()
    reminded = escalated = 0
    waiting = select(models.Item).where(models.Item.status.in_(WAITING_STATES))
    for item in session.scalars(waiting.where(models.Item.remind_at <= now)):
        item.remind_at = None
        round_ = _round(item, "reminded")
        record(item, event="reminded", now=now)
        for member in _to_remind(session, item):
            enqueue(
                session,
                purpose=purposes.item_reminder(item.id, member.id, round_),
                chat_id=int(member.telegram_id or 0),
                text=f"Herinnering: #{item.id} ({escape(KIND_WORDS.get(item.kind, item.kind))}) wacht nog "
                "op iemand die het oppakt. Gebruik /inbox of de knoppen bij het bericht.",
                item_id=item.id,
                now=now,
            )
        reminded += 1
    for item in session.scalars(waiting.where(models.Item.escalate_at <= now)):
        item.escalate_at = None
        leads = staff_for_area(session, area_code=item.area_code or "", role="lead")
        round_ = _round(item, "escalated")
        record(item, event="escalated", text=",".join(str(lead.id) for lead in leads), now=now)
        area = registry.find_area(item.area_code or "")
        for lead in leads:
            if lead.telegram_id is None:
                continue
            if not any(r.staff_id == lead.id for r in item.recipients):
                item.recipients.append(models.ItemRecipient(staff_id=lead.id, reason="escalation"))
            enqueue(
                session,
                purpose=purposes.item_escalation(item.id, lead.id, round_),
                chat_id=lead.telegram_id,
                text=f"<b>Escalatie</b>: #{item.id} ({escape(KIND_WORDS.get(item.kind, item.kind))}, "
                f"{escape(area.label if area else '?')}) is nog door niemand opgepakt.\n\n{escape(item.text[:500])}",
                buttons=[
                    [
                        {"text": "Oppakken", "callback_data": f"item:{item.id}:claim"},
                        {"text": "Doorsturen", "callback_data": f"item:{item.id}:forward"},
                    ]
                ],
                item_id=item.id,
                now=now,
            )
        escalated += 1
    return reminded, escalated
