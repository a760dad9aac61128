"""What the web workspace shows and does, for one signed-in staff member: the inbox with its filters, an item's
page (history, the resident's thread, internal notes, the municipality's standard answers) and the actions on it.
Rights come from wijkbot.rights exactly as in Telegram: an item is shown when `may_see` allows it (what /inbox
would list), an action is done through wijkbot.staff_loop, which asks `check`. Imports neither telegram nor the
web framework; returns plain text (the web templates escape it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot.departments import department_choices
from wijkbot.items import KIND_WORDS
from wijkbot.municipalities import CannedAnswer, Registry
from wijkbot.rights import Action, NotAllowed, check, inbox_kinds, may_see, rights_of, sees_area_items
from wijkbot.staff_loop import OUTCOMES, forward_candidates
from wijkbot.themes import find_theme, shipped_themes
from wijkbot.workflow import OPEN_STATES, State, lifecycle_of, record, resident_label, staff_label

STATES = {"open": "open"} | {state.value: staff_label(state) for state in State}
AGES = {"": "elke leeftijd", "1": "ouder dan 1 dag", "3": "ouder dan 3 dagen", "7": "ouder dan een week"}
THREAD_EVENTS = ("staff_reply", "resident_reply")
EVENT_WORDS = {
    "filed": "ontvangen en doorgezet",
    "claimed": "opgepakt",
    "staff_reply": "antwoord naar de inwoner",
    "resident_reply": "antwoord van de inwoner",
    "forwarded": "doorgestuurd",
    "closed": "afgerond",
    "reminded": "herinnering verstuurd",
    "escalated": "geëscaleerd",
    "note": "interne notitie",
    "erased": "gegevens gewist op verzoek",
    "expired": "gesloten na lange tijd",
    "withdrawn": "ingetrokken",
    "advice": "advies van de raad",
    "became_initiative": "buurtinitiatief geworden",
    "initiative_started": "steun verzamelen",
    "supported": "gesteund door een buurtbewoner",
    "review": "te beoordelen",
    "granted": "toegekend",
    "rejected": "afgewezen",
    "other_fund": "ander potje",
    "supported_without_money": "gesteund zonder geld",
    "in_progress": "in uitvoering",
    "done": "gerealiseerd",
}
MAX_NOTE = 2000
MAX_SEARCH = 100
PLACEHOLDER = re.compile(r"\{(voornaam|nummer|gebied|medewerker)\}")
BLANK = re.compile(r"\[\[[^\[\]]*\]\]")


@dataclass(frozen=True)
class InboxFilter:
    """The inbox's filters; every value comes from a form and is checked here."""

    area: str = ""
    kind: str = ""
    state: str = "open"
    age: str = ""
    search: str = ""
    theme: str = ""  # a key of wijkbot/data/themes.yaml

    def cleaned(self) -> InboxFilter:
        return InboxFilter(
            area=self.area.strip().upper()[:10],
            kind=self.kind if self.kind in KIND_WORDS else "",
            state=self.state if self.state in STATES else "open",
            age=self.age if self.age in AGES else "",
            search=" ".join(self.search.split())[:MAX_SEARCH],
            theme=self.theme if find_theme(self.theme) is not None else "",
        )


@dataclass(frozen=True)
class InboxRow:
    id: int
    kind: str
    area: str
    status: str
    text: str
    created_at: datetime
    waiting: str


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Inbox:
    rows: list[InboxRow]
    areas: list[Choice]
    kinds: list[Choice]
    states: list[Choice]
    ages: list[Choice]
    filter: InboxFilter
    themes: list[Choice] = field(default_factory=list)


@dataclass(frozen=True)
class Message:
    """One message of the thread between staff and the resident, or one internal note."""

    at: datetime
    author: str
    text: str
    from_resident: bool = False


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    what: str
    who: str


@dataclass(frozen=True)
class ItemView:
    id: int
    kind: str
    area: str
    status: str
    resident: str
    text: str
    details: list[tuple[str, str]]
    created_at: datetime
    claimed_by: str
    outcome: str
    thread: list[Message]
    notes: list[Message]
    history: list[HistoryLine]
    is_open: bool
    can_claim: bool
    can_reply: bool
    can_close: bool
    can_note: bool
    outcomes: list[Choice] = field(default_factory=list)
    colleagues: list[Choice] = field(default_factory=list)  # who it can be forwarded to (empty: no Doorsturen)
    canned: list[Choice] = field(default_factory=list)  # the municipality's standard answers for this kind
    departments: list[Choice] = field(default_factory=list)  # departments it can be forwarded to
    photos: int = 0  # how many photos the resident sent with it (shown as /items/<id>/photos/<1..n>)


def _allowed(staff: models.StaffMember, action: Action, item: models.Item) -> bool:
    try:
        check(staff, action, item)
    except NotAllowed:
        return False
    return True


def age_words(delta: timedelta) -> str:
    """ "3 dagen", "5 uur", "12 min"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes >= 48 * 60:
        return f"{minutes // (24 * 60)} dagen"
    if minutes >= 60:
        return f"{minutes // 60} uur"
    return f"{minutes} min"


def inbox(
    session: Session,
    registry: Registry,
    *,
    staff: models.StaffMember,
    wanted: InboxFilter | None = None,
    now: datetime | None = None,
) -> Inbox:
    """The items this staff member may see (as /inbox in Telegram, any state), filtered, oldest first."""
    check(staff, Action.INBOX)
    now = now or utcnow()
    wanted = (wanted or InboxFilter()).cleaned()
    sent_to_them = models.Item.id.in_(
        select(models.ItemRecipient.item_id).where(models.ItemRecipient.staff_id == staff.id)
    )
    theirs = or_(sent_to_them, models.Item.area_code.in_(staff.area_codes)) if sees_area_items(staff) else sent_to_them
    query = select(models.Item).where(theirs, models.Item.kind.in_(sorted(inbox_kinds(staff))))
    if wanted.state == "open":
        query = query.where(models.Item.status.in_(OPEN_STATES))
    else:
        query = query.where(models.Item.status == wanted.state)
    if wanted.kind:
        query = query.where(models.Item.kind == wanted.kind)
    if wanted.area:
        query = query.where(models.Item.area_code == wanted.area)
    if wanted.age:
        query = query.where(models.Item.created_at <= now - timedelta(days=int(wanted.age)))
    theme = find_theme(wanted.theme)
    if theme is not None:
        query = query.where(or_(*(models.Item.text.ilike(_containing(word), escape="\\") for word in theme.words)))
    if wanted.search:
        number = wanted.search.lstrip("#")
        matches = models.Item.text.ilike(_containing(wanted.search), escape="\\")
        query = query.where(or_(matches, models.Item.id == int(number)) if number.isdigit() else matches)
    rows = []
    for item in session.scalars(query.order_by(models.Item.id)):
        if not may_see(staff, item):  # the one rule Telegram's /inbox follows too
            continue
        area = registry.find_area(item.area_code or "")
        rows.append(
            InboxRow(
                id=item.id,
                kind=KIND_WORDS.get(item.kind, item.kind),
                area=area.name if area else "onbekend",
                status=staff_label(item.status),
                text=item.text[:120] + ("…" if len(item.text) > 120 else ""),
                created_at=item.created_at,
                waiting=age_words(now - item.created_at),
            )
        )
    area_codes = sorted(set(staff.area_codes) | {code for code in [wanted.area] if code})
    areas = [Choice("", "alle gebieden")] + [
        Choice(code, area.label if (area := registry.find_area(code)) else code) for code in area_codes
    ]
    kinds = [Choice("", "alle soorten")] + [
        Choice(kind, KIND_WORDS[kind]) for kind in sorted(rights_of(staff).kinds) if kind in KIND_WORDS
    ]
    return Inbox(
        rows=rows,
        areas=areas,
        kinds=kinds,
        states=[Choice(key, label) for key, label in STATES.items()],
        ages=[Choice(key, label) for key, label in AGES.items()],
        filter=wanted,
        themes=[Choice("", "alle thema's")] + [Choice(theme.key, theme.name) for theme in shipped_themes()],
    )


def _containing(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its own %, _ and \\ taken literally (escape "\\")."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _staff_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        member.id: member.name
        for member in session.scalars(select(models.StaffMember).where(models.StaffMember.id.in_(sorted(ids))))
    }


def item_view(session: Session, registry: Registry, *, staff: models.StaffMember, item_id: int) -> ItemView:
    """One item as its page shows it, if this staff member may see it (NotAllowed otherwise)."""
    check(staff, Action.INBOX)
    item = session.get(models.Item, item_id)
    if item is None or not may_see(staff, item):
        # the same words whether it does not exist or is not theirs: nothing to learn from trying numbers
        raise NotAllowed("Dit item bestaat niet of hoort niet bij jou.")
    names = _staff_names(
        session, {event.staff_id for event in item.events if event.staff_id} | {item.claimed_by_id or 0}
    )
    resident = session.get(models.Resident, item.resident_id) if item.resident_id else None
    resident_name = (resident.first_name if resident else None) or "de inwoner"
    area = registry.find_area(item.area_code or "")
    thread = [Message(item.created_at, resident_name, item.text, from_resident=True)]
    notes, history = [], []
    for event in item.events:
        who = names.get(event.staff_id or 0, "") if event.staff_id else ""
        if event.kind in THREAD_EVENTS and event.text:
            from_resident = event.kind == "resident_reply"
            thread.append(Message(event.at, resident_name if from_resident else who, event.text, from_resident))
        if event.kind in ("note", "advice") and event.text:  # internal: never sent to the resident
            notes.append(Message(event.at, who, event.text))
        history.append(HistoryLine(event.at, EVENT_WORDS.get(event.kind, event.kind), who))
    details = [
        (label, str(item.details[key])[:300])
        for label, key in (("Waar", "location"), ("Wie doen mee", "involved"), ("Hulp nodig", "help_needed"))
        if item.details.get(key)
    ]
    is_open = item.status in lifecycle_of(item.kind).open
    return ItemView(
        id=item.id,
        kind=KIND_WORDS.get(item.kind, item.kind),
        area=area.label if area else "onbekend gebied",
        status=resident_label(item.status),
        resident=resident_name,
        text=item.text,
        details=details,
        created_at=item.created_at,
        claimed_by=names.get(item.claimed_by_id or 0, ""),
        outcome=item.outcome or "",
        thread=thread,
        notes=notes,
        history=history,
        is_open=is_open,
        can_claim=is_open and item.claimed_by_id is None and _allowed(staff, Action.CLAIM, item),
        can_reply=is_open and resident is not None and _allowed(staff, Action.REPLY, item),
        can_close=is_open and State.CLOSED in lifecycle_of(item.kind).states and _allowed(staff, Action.CLOSE, item),
        can_note=_allowed(staff, Action.NOTE, item),
        outcomes=[Choice(key, text) for key, text in OUTCOMES.items()],
        photos=len(_photos(item)),
        departments=[
            Choice(department.key, department.name)
            for department in (
                department_choices(session, registry, staff=staff, item_id=item.id)
                if is_open and _allowed(staff, Action.FORWARD, item)
                else []
            )
        ],
        canned=[Choice(answer.key, answer.title) for answer in _canned_answers(registry, item)]
        if is_open and resident is not None and _allowed(staff, Action.CLOSE, item)  # the municipality's words
        else [],
        colleagues=[
            Choice(str(colleague.id), colleague.name)
            for colleague in (
                forward_candidates(session, registry, staff=staff, item_id=item.id)
                if is_open and _allowed(staff, Action.FORWARD, item)
                else []
            )
        ],
    )


def _photos(item: models.Item) -> list[str]:
    return [str(file_id) for file_id in item.details.get("photos", []) if file_id]


def photo_file_id(session: Session, *, staff: models.StaffMember, item_id: int, number: int) -> str:
    """The Telegram file id of the item's `number`-th photo (1, 2, …), for a staff member who may see the item
    (as its page); NotAllowed otherwise, with the same words whether the item or the photo exists or not."""
    check(staff, Action.INBOX)
    item = session.get(models.Item, item_id)
    photos = _photos(item) if item is not None and may_see(staff, item) else []
    if not 1 <= number <= len(photos):
        raise NotAllowed("Deze foto bestaat niet of hoort niet bij jou.")
    return photos[number - 1]


def _canned_answers(registry: Registry, item: models.Item) -> list[CannedAnswer]:
    """The standard answers of the item's municipality (profiles.yaml) that fit its kind."""
    area = registry.find_area(item.area_code or "")
    if area is None:
        return []
    return [a for a in registry.municipality(area.municipality_code).canned_answers if a.fits(item.kind)]


def fill_canned_answer(
    session: Session, registry: Registry, *, staff: models.StaffMember, item_id: int, key: str
) -> str:
    """The text of standard answer `key` for this item, its {voornaam}, {nummer}, {gebied} and {medewerker}
    filled in, to put in the reply box (nothing is sent): only for staff who handle the item (a raad member
    answers on its copy in its own words)."""
    check(staff, Action.REPLY)
    item = session.get(models.Item, item_id)
    if item is None or not may_see(staff, item):
        raise NotAllowed("Dit item bestaat niet of hoort niet bij jou.")
    check(staff, Action.REPLY, item)
    check(staff, Action.CLOSE, item)  # the municipality's own words: for its staff, not for the raad's answer
    answer = next((a for a in _canned_answers(registry, item) if a.key == key), None)
    if answer is None:
        raise NotAllowed("Dit standaardantwoord bestaat niet (meer) voor dit item.")
    resident = session.get(models.Resident, item.resident_id) if item.resident_id else None
    area = registry.find_area(item.area_code or "")
    values = {
        "voornaam": (resident.first_name if resident else None) or "",
        "nummer": str(item.id),
        "gebied": area.label if area else "je buurt",
        "medewerker": staff.name,
    }
    # one pass: a filled-in value (a resident's name) is never read as a placeholder itself
    text = PLACEHOLDER.sub(lambda found: values.get(found.group(1), found.group(0)), answer.text)
    return text.replace("Hoi , ", "Hoi, ")


def open_blanks(text: str) -> list[str]:
    """The [[…]] places of a standard answer that are still in the text: it may not be sent like this."""
    return BLANK.findall(text)


def add_note(
    session: Session, *, staff: models.StaffMember, item_id: int, text: str, now: datetime | None = None
) -> None:
    """An internal note on the item: for colleagues on the item page, never sent to the resident."""
    check(staff, Action.NOTE)
    item = session.get(models.Item, item_id)
    if item is None:
        raise NotAllowed("Dit item bestaat niet (meer).")
    check(staff, Action.NOTE, item)
    text = text.strip()
    if not text:
        raise NotAllowed("Een lege notitie is niet opgeslagen.")
    record(item, event="note", staff_id=staff.id, text=text[:MAX_NOTE], now=now)
