"""Who may see and do what, per staff role. Pure functions: the role, areas and active flag come from the
staff table, the item from the item table; nothing here comes from the chat, and nothing here touches the
database or Telegram.

The web workspace (web/, wijkbot.workspace) asks the same functions: its inbox and item pages show what
`may_see` allows, its buttons do what `check` allows; internal notes there go with the handling rights.

| role | /inbox shows | Oppakken, Beantwoorden, Doorsturen, Afronden | receives forwards | /peiling, /wijklink |
|---|---|---|---|---|
| wijkmakelaar, wijkcoordinator | every kind, in their areas or sent to them | yes | yes | yes |
| lead | every kind, in their areas or sent to them (escalations) | yes | yes | yes |
| inbox | every kind, in their areas or sent to them (the fallback) | yes | yes | no |
| council | ideas and initiatives sent to them (the routing rules' copy) | Beantwoorden, and Advies geven | no | yes |
| afdeling:<key> (a department) | every kind forwarded to their department | yes | as a department | no |

Deciding on an initiative (Toekennen, Ander potje, Past niet, Start uitvoering, Gerealiseerd) is for the role
the municipality's profile names (`initiatives.decides`: its own area staff, or the council), in the
initiative's area only: `check_decide`.

A deactivated staff member may do nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Action(StrEnum):
    """What a staff member can do; each staff command and button names one."""

    INBOX = "inbox"  # /inbox
    CLAIM = "claim"  # Oppakken
    REPLY = "reply"  # Beantwoorden, or a reply on the item's message
    FORWARD = "forward"  # Doorsturen
    CLOSE = "close"  # Afronden
    RECEIVE_FORWARD = "receive_forward"  # be picked as the colleague an item is forwarded to
    POLL = "poll"  # /peiling
    NOTE = "note"  # an internal note on the item page of the web workspace (never sent to the resident)
    LINK = "link"  # /wijklink: the wijk's link and QR code to recruit residents
    DECIDE = "decide"  # decide on an initiative (only as the deciding role of its area: check_decide)
    ADVISE = "advise"  # Advies geven: a raad member's advice on an item, to its staff (never to the resident)


ALL_KINDS = frozenset({"idea", "report", "question", "contact", "initiative"})
HANDLING = frozenset({Action.CLAIM, Action.REPLY, Action.FORWARD, Action.CLOSE, Action.RECEIVE_FORWARD, Action.NOTE})


class NotAllowed(PermissionError):
    """This staff member may not do this (with this item); the message is safe to show them."""


@dataclass(frozen=True)
class RoleRights:
    """What one role may do, and which items it sees."""

    actions: frozenset[Action]
    kinds: frozenset[str]  # the item kinds it sees in /inbox and may act on
    area_items: bool  # True: every item in its areas; False: only the items sent to it


OUTREACH = frozenset({Action.POLL, Action.LINK})
# what a council member may do with the copy of an item the routing rules sent them
ON_A_COPY = frozenset({Action.REPLY, Action.ADVISE})
RIGHTS: dict[str, RoleRights] = {
    "wijkmakelaar": RoleRights(HANDLING | OUTREACH | {Action.INBOX, Action.DECIDE}, ALL_KINDS, area_items=True),
    "wijkcoordinator": RoleRights(HANDLING | OUTREACH | {Action.INBOX, Action.DECIDE}, ALL_KINDS, area_items=True),
    "lead": RoleRights(HANDLING | OUTREACH | {Action.INBOX}, ALL_KINDS, area_items=True),
    "inbox": RoleRights(HANDLING | {Action.INBOX}, ALL_KINDS, area_items=True),
    "council": RoleRights(
        OUTREACH | ON_A_COPY | {Action.INBOX, Action.DECIDE}, frozenset({"idea", "initiative"}), area_items=False
    ),
}
NOTHING = RoleRights(frozenset(), frozenset(), area_items=False)
# A department's staff (role `afdeling:<key>`, the departments are data: wijkbot/data/profiles.yaml): they handle
# what is forwarded to their department and see nothing else; not in RIGHTS, so never a colleague to forward to.
DEPARTMENT_PREFIX = "afdeling:"
DEPARTMENT = RoleRights(HANDLING | {Action.INBOX}, ALL_KINDS, area_items=False)


def department_key(role: str) -> str | None:
    """The department of a role `afdeling:<key>`; None for any other role."""
    key = role.removeprefix(DEPARTMENT_PREFIX)
    return key if role.startswith(DEPARTMENT_PREFIX) and key else None


def department_role(key: str) -> str:
    return f"{DEPARTMENT_PREFIX}{key}"


class StaffLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def area_codes(self) -> list[str]: ...


class RecipientLike(Protocol):
    @property
    def staff_id(self) -> int: ...
    @property
    def reason(self) -> str: ...


class ItemLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def area_code(self) -> str | None: ...
    @property
    def recipients(self) -> Sequence[RecipientLike]: ...


def rights_of(staff: StaffLike) -> RoleRights:
    """The rights of this staff member's role; none at all once deactivated or for an unknown role."""
    if not staff.active:
        return NOTHING
    if department_key(staff.role) is not None:
        return DEPARTMENT
    return RIGHTS.get(staff.role, NOTHING)


def may(staff: StaffLike, action: Action) -> bool:
    """Whether the role may do this at all (whatever the item)."""
    return action in rights_of(staff).actions


def roles_that_may(action: Action) -> tuple[str, ...]:
    """The roles with this right, e.g. for a database query of who can receive a forward."""
    return tuple(role for role, rights in RIGHTS.items() if action in rights.actions)


def inbox_kinds(staff: StaffLike) -> frozenset[str]:
    """The item kinds /inbox shows this staff member."""
    return rights_of(staff).kinds if may(staff, Action.INBOX) else frozenset()


def sees_area_items(staff: StaffLike) -> bool:
    """True: /inbox shows every item in the staff member's areas; False: only the items sent to them."""
    return rights_of(staff).area_items


def may_see(staff: StaffLike, item: ItemLike) -> bool:
    """Whether /inbox may show this item to this staff member."""
    if item.kind not in inbox_kinds(staff):
        return False
    sent_to_them = any(r.staff_id == staff.id for r in item.recipients)
    return sent_to_them or (sees_area_items(staff) and item.area_code in staff.area_codes)


def check(staff: StaffLike, action: Action, item: ItemLike | None = None) -> None:
    """Raise NotAllowed unless this staff member may do this (to this item): role first, then the item's kind
    and whether it is theirs (sent to them other than as a council copy, or in one of their areas)."""
    rights = rights_of(staff)
    if not staff.active:
        raise NotAllowed("Je bent niet (meer) actief als medewerker.")
    if action not in rights.actions:
        raise NotAllowed("Je hebt geen rechten om dit te doen.")
    if item is None:
        return
    if item.kind not in rights.kinds:
        raise NotAllowed("Je hebt geen rechten om dit item te behandelen.")
    handled_by_them = any(
        r.staff_id == staff.id and (r.reason != "council" or action in ON_A_COPY) for r in item.recipients
    )
    if not handled_by_them and not (rights.area_items and item.area_code in staff.area_codes):
        raise NotAllowed("Dit item hoort niet bij jouw gebied.")


def poll_areas(staff: StaffLike, wanted: Iterable[str] | None = None) -> list[str]:
    """The areas this staff member may poll (their own), or raise NotAllowed; `wanted` must lie within them."""
    if not may(staff, Action.POLL) or not staff.area_codes:
        raise NotAllowed("Peilingen maken kan alleen als medewerker of raadslid met een eigen wijk of dorp.")
    if wanted is None:
        return list(staff.area_codes)
    foreign = [code for code in wanted if code not in staff.area_codes]
    if foreign:
        raise NotAllowed(f"Je kunt alleen je eigen gebied peilen, niet {', '.join(foreign)}.")
    return list(wanted)


def check_decide(staff: StaffLike, item: ItemLike, *, deciding_role: str, deciders: str) -> None:
    """Raise NotAllowed unless this staff member decides on this initiative: active, of the deciding role the
    profile names, and covering its area. `deciders` says who does, in the message ("de dorpsraad")."""
    if not staff.active:
        raise NotAllowed("Je bent niet (meer) actief als medewerker.")
    if Action.DECIDE not in rights_of(staff).actions or staff.role != deciding_role:
        raise NotAllowed(f"Over dit initiatief beslist {deciders}.")
    if item.kind != "initiative":
        raise NotAllowed("Dit is geen buurtinitiatief.")
    if item.area_code not in staff.area_codes:
        raise NotAllowed("Dit initiatief hoort niet bij jouw gebied.")
