"""The lifecycle of an item: named states, the allowed transitions, the labels residents and staff see, and
the one write path for every change of an item's state and history.

Two lifecycles share the states' names (docs/workflow.md has both as Mermaid diagrams):

* a **ticket** (idea, report, question, contact): new → claimed → answered → closed, with forwarding and a
  released claim going back to new;
* an **initiative** (an idea that asks neighbours for support, or the municipality for money): idea →
  collecting → review → granted / rejected / other_fund → in_progress → done.

Every item can be withdrawn (the resident erased their data) or expire (nobody touched it for the whole
retention period) while it is open. Nothing else writes `Item.status` or appends to `Item.events`: the modules
that act on items (wijkbot.items, wijkbot.staff_loop, wijkbot.initiatives, wijkbot.privacy, wijkbot.staff,
wijkbot.workspace) call `move` and `record` here, and `notify_staff` for the messages to the item's staff.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot import purposes
from wijkbot.outbox import enqueue
from wijkbot.payloads import Buttons


class State(StrEnum):
    """The value stored in `Item.status` (and, for initiatives, the stage in the JSON contracts)."""

    NEW = "new"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    CLOSED = "closed"
    IDEA = "idea"
    COLLECTING = "collecting"
    REVIEW = "review"
    GRANTED = "granted"
    REJECTED = "rejected"
    OTHER_FUND = "other_fund"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class IllegalTransition(ValueError):
    """An item was asked to move to a state its lifecycle does not allow from where it is."""


@dataclass(frozen=True)
class Lifecycle:
    name: str
    initial: State
    transitions: Mapping[State, frozenset[State]]
    waiting: frozenset[State]  # states in which the item waits for staff: reminders and escalation apply

    @property
    def states(self) -> frozenset[State]:
        return frozenset(self.transitions)

    @property
    def open(self) -> frozenset[State]:
        """States in which the item is still being handled (it can still change)."""
        return frozenset(state for state, targets in self.transitions.items() if targets)

    def allows(self, current: State, to: State) -> bool:
        return to in self.transitions.get(current, frozenset())


S = State
_ENDINGS = frozenset({S.WITHDRAWN, S.EXPIRED})

TICKET = Lifecycle(
    name="ticket",
    initial=S.NEW,
    transitions={
        S.NEW: frozenset({S.CLAIMED, S.CLOSED}) | _ENDINGS,
        # back to new: forwarded to a colleague, or the claim released when its holder left
        S.CLAIMED: frozenset({S.NEW, S.ANSWERED, S.CLOSED}) | _ENDINGS,
        # answered again: a second reply in the same thread
        S.ANSWERED: frozenset({S.NEW, S.ANSWERED, S.CLOSED}) | _ENDINGS,
        S.CLOSED: frozenset(),
        S.WITHDRAWN: frozenset(),
        S.EXPIRED: frozenset(),
    },
    waiting=frozenset({S.NEW}),
)

INITIATIVE = Lifecycle(
    name="initiative",
    initial=S.IDEA,
    transitions={
        S.IDEA: frozenset({S.COLLECTING, S.REVIEW}) | _ENDINGS,
        S.COLLECTING: frozenset({S.REVIEW}) | _ENDINGS,
        # straight to in_progress: support without money ("ga je gang, wij helpen")
        S.REVIEW: frozenset({S.GRANTED, S.REJECTED, S.OTHER_FUND, S.IN_PROGRESS}) | _ENDINGS,
        S.GRANTED: frozenset({S.IN_PROGRESS}) | _ENDINGS,
        S.IN_PROGRESS: frozenset({S.DONE}) | _ENDINGS,
        S.REJECTED: frozenset(),
        S.OTHER_FUND: frozenset(),
        S.DONE: frozenset(),
        S.WITHDRAWN: frozenset(),
        S.EXPIRED: frozenset(),
    },
    waiting=frozenset({S.REVIEW}),
)

LIFECYCLES = {"ticket": TICKET, "initiative": INITIATIVE}
OPEN_STATES = tuple(sorted(TICKET.open | INITIATIVE.open))  # for queries over items of every kind
WAITING_STATES = tuple(sorted(TICKET.waiting | INITIATIVE.waiting))
FINISHED_STATES = tuple(sorted((TICKET.states | INITIATIVE.states) - set(OPEN_STATES)))

# What the resident reads in /mijnideeen and the assistant's status answer.
RESIDENT_LABELS: Mapping[State, str] = {
    S.NEW: "ontvangen, wacht op een reactie",
    S.CLAIMED: "opgepakt",
    S.ANSWERED: "beantwoord",
    S.CLOSED: "afgerond",
    S.IDEA: "idee, nog niet gedeeld",
    S.COLLECTING: "steun verzamelen",
    S.REVIEW: "wordt beoordeeld",
    S.GRANTED: "toegekend",
    S.REJECTED: "past niet",
    S.OTHER_FUND: "past bij een ander potje",
    S.IN_PROGRESS: "in uitvoering",
    S.DONE: "gerealiseerd",
    S.WITHDRAWN: "ingetrokken",
    S.EXPIRED: "gesloten na lange tijd zonder reactie",
}
# What staff read in /inbox, on the web and in notices: short.
STAFF_LABELS: Mapping[State, str] = {
    S.NEW: "nieuw",
    S.CLAIMED: "opgepakt",
    S.ANSWERED: "beantwoord",
    S.CLOSED: "afgerond",
    S.IDEA: "idee",
    S.COLLECTING: "steun verzamelen",
    S.REVIEW: "te beoordelen",
    S.GRANTED: "toegekend",
    S.REJECTED: "afgewezen",
    S.OTHER_FUND: "ander potje",
    S.IN_PROGRESS: "in uitvoering",
    S.DONE: "gerealiseerd",
    S.WITHDRAWN: "ingetrokken",
    S.EXPIRED: "verlopen",
}


def lifecycle_of(kind: str) -> Lifecycle:
    return INITIATIVE if kind == "initiative" else TICKET


def state_of(item: models.Item) -> State:
    return State(item.status)


def is_open(item: models.Item) -> bool:
    return state_of(item) in lifecycle_of(item.kind).open


def resident_label(status: str) -> str:
    """ "opgepakt", "steun verzamelen": the state in the resident's words."""
    return RESIDENT_LABELS.get(State(status), status) if status in _VALUES else status


def staff_label(status: str) -> str:
    """ "nieuw", "te beoordelen": the state in staff's words."""
    return STAFF_LABELS.get(State(status), status) if status in _VALUES else status


_VALUES = frozenset(state.value for state in State)


def start(item: models.Item, *, event: str, text: str | None = None, now: datetime | None = None) -> None:
    """Give a new item its lifecycle's first state and its first history event."""
    initial = lifecycle_of(item.kind).initial
    item.status = initial.value
    item.events.append(models.ItemEvent(kind=event, status=initial.value, text=text, at=now or utcnow()))


def become_initiative(item: models.Item, *, now: datetime | None = None) -> models.ItemEvent:
    """An open idea becomes an initiative: from here on it follows the initiative's lifecycle, starting as
    `idea` (wijkbot.initiatives moves it on at once)."""
    if item.kind != "idea" or not is_open(item):
        raise IllegalTransition(
            f"#{item.id} is not an open idea ({item.kind}, {item.status}): it cannot become an initiative"
        )
    item.kind = "initiative"
    item.status = INITIATIVE.initial.value
    return record(item, event="became_initiative", status=INITIATIVE.initial, now=now)


def move(
    item: models.Item,
    to: State,
    *,
    event: str,
    staff_id: int | None = None,
    text: str | None = None,
    now: datetime | None = None,
) -> models.ItemEvent:
    """Move the item to `to` and record why; IllegalTransition when its lifecycle does not allow it. A move
    into a finished state closes the item: no thread, no reminders, a closing time."""
    lifecycle = lifecycle_of(item.kind)
    current = State(item.status)
    if not lifecycle.allows(current, to):
        raise IllegalTransition(
            f"#{item.id} cannot go from {current.value} to {to.value} (the {lifecycle.name} lifecycle: "
            f"allowed from {current.value}: {', '.join(sorted(lifecycle.transitions.get(current, ()))) or 'nothing'})"
        )
    now = now or utcnow()
    item.status = to.value
    if to not in lifecycle.open:
        item.closed_at = now
        item.thread_staff_id = None
        item.thread_until = None
        item.remind_at = None
        item.escalate_at = None
    return record(item, event=event, status=to, staff_id=staff_id, text=text, now=now)


def record(
    item: models.Item,
    *,
    event: str,
    status: State | None = None,
    staff_id: int | None = None,
    text: str | None = None,
    now: datetime | None = None,
) -> models.ItemEvent:
    """Add a history event that does not change the state (a reminder, a note, a message in the thread)."""
    entry = models.ItemEvent(
        kind=event, status=status.value if status else None, staff_id=staff_id, text=text, at=now or utcnow()
    )
    item.events.append(entry)
    return entry


def notify_staff(
    session: Session,
    *,
    item: models.Item,
    tag: str,
    text: str,
    leave_out: int | None = None,
    buttons: Buttons | None = None,
    now: datetime | None = None,
) -> int:
    """Tell the item's staff (its recipients who are active and on Telegram; not `leave_out`, the one who
    acted) about it, once per tag; returns how many were queued."""
    queued = 0
    for member in staff_of(session, item=item, leave_out=leave_out):
        queued += enqueue(
            session,
            purpose=purposes.item_notice(item.id, tag, member.id),
            chat_id=int(member.telegram_id or 0),
            text=text,
            buttons=buttons,
            item_id=item.id,
            now=now,
        )
    return queued


def staff_of(session: Session, *, item: models.Item, leave_out: int | None = None) -> list[models.StaffMember]:
    """The item's recipients who are active and have a Telegram chat, in the item's order; `leave_out`: a staff
    id not to include (the one who acted)."""
    members = (session.get(models.StaffMember, r.staff_id) for r in item.recipients if r.staff_id != leave_out)
    return [m for m in members if m is not None and m.telegram_id is not None and m.active]
