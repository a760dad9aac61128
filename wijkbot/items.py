"""Items (ideas, reports, questions): filing, the staff notification of a new item, a resident's view.

Their states and history are wijkbot.workflow's: nothing here writes `Item.status` but through it.

Filing stores the item, its first history event and its recipients, and queues the staff notifications
in the outbox, all in the caller's transaction: the notifications leave only once the item is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot import purposes
from wijkbot.municipalities import Registry
from wijkbot.outbox import enqueue
from wijkbot.payloads import Buttons, Photo
from wijkbot.residents import find_resident
from wijkbot.routing import KINDS, Route, Rule, route_item
from wijkbot.text_budget import Page, paginate
from wijkbot.workflow import OPEN_STATES, State, resident_label, staff_of, start

KIND_WORDS = {
    "idea": "idee",
    "report": "melding",
    "question": "vraag",
    "contact": "contactverzoek",
    "initiative": "buurtinitiatief",
}
MAX_TEXT = 2000
MAX_PHOTOS = 5


class ItemError(ValueError):
    """An item cannot be filed or changed as asked."""


@dataclass(frozen=True)
class Filed:
    item: models.Item
    route: Route


def file_item(
    session: Session,
    registry: Registry,
    rules: Sequence[Rule],
    *,
    resident: models.Resident,
    kind: str,
    area_code: str,
    text: str,
    details: dict[str, Any] | None = None,
    remind_after: timedelta = timedelta(hours=24),
    escalate_after: timedelta = timedelta(hours=72),
    now: datetime | None = None,
) -> Filed:
    """Store a new item, route it and queue its notifications, in the caller's transaction."""
    if kind not in KINDS:
        raise ItemError(f"unknown kind {kind!r}")
    if registry.find_area(area_code) is None:
        raise ItemError(f"unknown area {area_code!r}")
    text = text.strip()
    if not text:
        raise ItemError("an item needs a description")
    route = route_item(session, registry, rules, kind=kind, area_code=area_code)
    now = now or utcnow()
    item = models.Item(
        resident_id=resident.id,
        kind=kind,
        area_code=area_code,
        text=text[:MAX_TEXT],
        details=details or {},
        routed_role=route.role,
        assigned_staff_id=route.staff_ids[0] if route.staff_ids else None,
        remind_at=now + remind_after,
        escalate_at=now + escalate_after,
        created_at=now,
    )
    start(item, event="filed", text=f"{route.rule}: {route.description}", now=now)
    item.recipients = [models.ItemRecipient(staff_id=sid, reason="route") for sid in route.staff_ids] + [
        models.ItemRecipient(staff_id=sid, reason="council") for sid in route.council_ids
    ]
    session.add(item)
    session.flush()
    notify_recipients(session, registry, item=item, resident=resident, tag="new", now=now)
    return Filed(item=item, route=route)


def notify_recipients(
    session: Session,
    registry: Registry,
    *,
    item: models.Item,
    resident: models.Resident | None,
    tag: str,
    only: Sequence[int] | None = None,
    now: datetime | None = None,
) -> int:
    """Queue the notification of this item for each recipient (or only these) with a Telegram account."""
    wanted = [r.staff_id for r in item.recipients if only is None or r.staff_id in only]
    staff = session.scalars(
        select(models.StaffMember).where(
            models.StaffMember.id.in_(wanted),
            models.StaffMember.telegram_id.is_not(None),
        )
    ).all()
    queued = 0
    for member in staff:
        council = any(r.staff_id == member.id and r.reason == "council" for r in item.recipients)
        queued += enqueue(
            session,
            purpose=purposes.item_notice(item.id, tag, member.id),
            chat_id=int(member.telegram_id or 0),
            text=render_notification(registry, item=item, resident=resident, council=council),
            buttons=council_buttons(item.id) if council else staff_buttons(item.id),
            item_id=item.id,
            now=now,
        )
    return queued


def staff_buttons(item_id: int) -> Buttons:
    """The staff actions on an item; callback data is checked against the database when pressed."""
    return [
        [
            {"text": "Oppakken", "callback_data": f"item:{item_id}:claim"},
            {"text": "Beantwoorden", "callback_data": f"item:{item_id}:reply"},
        ],
        [
            {"text": "Doorsturen", "callback_data": f"item:{item_id}:forward"},
            {"text": "Afronden", "callback_data": f"item:{item_id}:close"},
        ],
    ]


def council_buttons(item_id: int) -> Buttons:
    """What a raad member can do with the copy the routing rules sent them."""
    return [
        [
            {"text": "Beantwoorden", "callback_data": f"item:{item_id}:reply"},
            {"text": "Advies geven", "callback_data": f"item:{item_id}:advise"},
        ]
    ]


def render_notification(
    registry: Registry, *, item: models.Item, resident: models.Resident | None, council: bool = False
) -> str:
    """What staff see: kind, area, the resident's first name and their text, all escaped for Telegram HTML; a
    raad member's copy says what they can do with it."""
    area = registry.find_area(item.area_code or "")
    where = area.label if area else "onbekend gebied"
    name = escape((resident.first_name if resident else None) or "een inwoner")
    lines = [
        f"<b>Nieuw {escape(KIND_WORDS.get(item.kind, item.kind))}</b> #{item.id} · {escape(where)}",
        f"Van: {name}",
    ]
    lines.append("")
    lines.append(escape(item.text[:MAX_TEXT]))
    for label, key in (("Waar", "location"), ("Wie doen mee", "involved"), ("Hulp nodig", "help_needed")):
        value = item.details.get(key)
        if value:
            lines.append(f"<i>{label}:</i> {escape(str(value)[:300])}")
    lines.append("")
    if council:
        staff_title = registry.municipality(area.municipality_code).staff_title if area else "gemeente"
        lines.append(
            f"Dit is een kopie voor de raad; de {escape(staff_title)} pakt het op. Antwoord de inwoner met "
            "<i>Beantwoorden</i>, of geef je advies aan de gemeente met <i>Advies geven</i> (de inwoner ziet dat niet)."
        )
    else:
        lines.append("Antwoord met <i>Beantwoorden</i> of door op dit bericht te reageren (reply).")
    return "\n".join(lines)


def latest_open_item(session: Session, *, resident_id: int) -> models.Item | None:
    """The resident's most recent item that is still open."""
    return session.scalars(
        select(models.Item)
        .where(models.Item.resident_id == resident_id, models.Item.status.in_(OPEN_STATES))
        .order_by(models.Item.id.desc())
    ).first()


def add_photo_to_latest_item(
    session: Session, *, telegram_id: int, file_id: str, update_id: int, now: datetime
) -> int | None:
    """Attach a photo (a Telegram file id; nothing is downloaded) to the resident's latest open item, keeping
    the last `MAX_PHOTOS`, and send it to the item's active staff. Returns the item's id; None when the
    resident has no open item."""
    resident = find_resident(session, telegram_id=telegram_id)
    item = latest_open_item(session, resident_id=resident.id) if resident else None
    if item is None:
        return None
    photos = [*item.details.get("photos", []), file_id][-MAX_PHOTOS:]
    item.details = {**item.details, "photos": photos}
    for member in staff_of(session, item=item):
        enqueue(
            session,
            purpose=purposes.item_photo(item.id, update_id, member.id),
            chat_id=int(member.telegram_id or 0),
            message=Photo(photo=file_id, caption=f"Foto bij #{item.id}"),
            item_id=item.id,
            now=now,
        )
    return item.id


def items_of_resident(session: Session, *, resident_id: int) -> list[models.Item]:
    """Only this resident's own items, newest first."""
    return list(
        session.scalars(
            select(models.Item).where(models.Item.resident_id == resident_id).order_by(models.Item.id.desc())
        )
    )


def describe_status(registry: Registry, item: models.Item) -> str:
    """One line for the resident: "Idee #12 (Dorst): opgepakt"."""
    area = registry.find_area(item.area_code or "")
    where = f" ({area.name})" if area else ""
    kind = KIND_WORDS.get(item.kind, item.kind).capitalize()
    line = f"{kind} #{item.id}{where}: {resident_label(item.status)}"
    if item.status == State.CLOSED and item.outcome:
        line += f" — {item.outcome}"
    return line


def my_items_page(session: Session, registry: Registry, *, telegram_id: int, number: int = 1) -> Page | None:
    """Page `number` of /mijnideeen for this Telegram user (each page within one message, a long outcome
    shortened; the full outcome reached them when the item closed); None when they sent nothing."""
    from wijkbot.residents import find_resident

    resident = find_resident(session, telegram_id=telegram_id)
    items = items_of_resident(session, resident_id=resident.id) if resident is not None else []
    lines = [f"• {escape(describe_status(registry, item))}" for item in items]
    return paginate("Wat je hebt gestuurd:", lines, number=number, per_page=10) if lines else None
