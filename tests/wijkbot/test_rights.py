"""Who may see and do what, per role: the rights table as a specification (pure functions, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from wijkbot.rights import (
    Action,
    NotAllowed,
    check,
    check_decide,
    inbox_kinds,
    may,
    may_see,
    poll_areas,
    roles_that_may,
)
from wijkbot.staff import ROLES

HANDLING = (Action.CLAIM, Action.REPLY, Action.FORWARD, Action.CLOSE)


@dataclass
class Staff:
    role: str
    area_codes: list[str] = field(default_factory=lambda: ["WK082806"])
    active: bool = True
    id: int = 1


@dataclass
class Recipient:
    staff_id: int
    reason: str = "route"


@dataclass
class Item:
    kind: str
    area_code: str | None = "WK082806"
    recipients: list[Recipient] = field(default_factory=list)


def test_every_role_of_the_staff_table_has_its_rights() -> None:
    for role in ROLES:
        assert may(Staff(role), Action.INBOX), role


@pytest.mark.parametrize("role", ["wijkmakelaar", "wijkcoordinator", "lead", "inbox"])
def test_handling_staff_see_and_handle_every_kind_in_their_areas(role: str) -> None:
    staff = Staff(role)
    assert inbox_kinds(staff) == {"idea", "report", "question", "contact", "initiative"}
    for kind in ("idea", "report", "question", "contact", "initiative"):
        item = Item(kind)
        assert may_see(staff, item)
        for action in HANDLING:
            check(staff, action, item)


def test_handling_staff_cannot_touch_an_item_of_another_area_unless_it_was_sent_to_them() -> None:
    staff = Staff("wijkmakelaar", area_codes=["WK082613"])
    elsewhere = Item("report", area_code="WK082611")
    assert not may_see(staff, elsewhere)
    with pytest.raises(NotAllowed, match="gebied"):
        check(staff, Action.CLAIM, elsewhere)
    forwarded = Item("report", area_code="WK082611", recipients=[Recipient(staff.id, "forward")])
    assert may_see(staff, forwarded)
    check(staff, Action.CLAIM, forwarded)


def test_council_members_see_only_the_ideas_and_initiatives_sent_to_them() -> None:
    council = Staff("council")
    assert inbox_kinds(council) == {"idea", "initiative"}
    assert may_see(council, Item("idea", recipients=[Recipient(council.id, "council")]))
    assert not may_see(council, Item("idea"))  # in their area, but routing did not send it to them
    for kind in ("report", "question", "contact"):
        assert not may_see(council, Item(kind, recipients=[Recipient(council.id, "council")]))


def test_council_members_answer_and_advise_on_their_copy_but_do_not_handle_it() -> None:
    council = Staff("council")
    copy = Item("idea", recipients=[Recipient(council.id, "council")])
    for action in (Action.CLAIM, Action.FORWARD, Action.CLOSE):
        assert not may(council, action)
        with pytest.raises(NotAllowed):
            check(council, action, copy)
    for action in (Action.REPLY, Action.ADVISE):
        check(council, action, copy)
        with pytest.raises(NotAllowed, match="gebied"):  # not sent to them
            check(council, action, Item("idea", recipients=[Recipient(999, "council")]))
    assert "council" not in roles_that_may(Action.RECEIVE_FORWARD)
    assert roles_that_may(Action.ADVISE) == ("council",)


def test_deciding_on_an_initiative_is_for_the_profiles_deciding_role_in_its_area_only() -> None:
    assert set(roles_that_may(Action.DECIDE)) == {"wijkmakelaar", "wijkcoordinator", "council"}
    initiative = Item("initiative", area_code="WK082806")
    check_decide(Staff("council"), initiative, deciding_role="council", deciders="de wijkraad")
    with pytest.raises(NotAllowed, match="Over dit initiatief beslist de wijkraad"):
        check_decide(Staff("wijkcoordinator"), initiative, deciding_role="council", deciders="de wijkraad")
    with pytest.raises(NotAllowed, match="Over dit initiatief beslist"):
        check_decide(Staff("lead"), initiative, deciding_role="lead", deciders="de wethouder")  # no right at all
    with pytest.raises(NotAllowed, match="niet bij jouw gebied"):
        check_decide(Staff("council", area_codes=["WK082800"]), initiative, deciding_role="council", deciders="x")
    with pytest.raises(NotAllowed, match="geen buurtinitiatief"):
        check_decide(Staff("council"), Item("idea", area_code="WK082806"), deciding_role="council", deciders="x")
    with pytest.raises(NotAllowed, match=r"niet \(meer\) actief"):
        check_decide(Staff("council", active=False), initiative, deciding_role="council", deciders="x")


def test_polls_are_for_area_staff_leads_and_council_not_the_fallback_inbox() -> None:
    assert set(roles_that_may(Action.POLL)) == {"wijkmakelaar", "wijkcoordinator", "lead", "council"}
    assert set(roles_that_may(Action.LINK)) == {"wijkmakelaar", "wijkcoordinator", "lead", "council"}
    assert poll_areas(Staff("council")) == ["WK082806"]
    with pytest.raises(NotAllowed):
        poll_areas(Staff("inbox"))
    with pytest.raises(NotAllowed, match="eigen gebied"):
        poll_areas(Staff("wijkcoordinator"), ["WK082800"])


def test_a_deactivated_staff_member_may_do_nothing() -> None:
    gone = Staff("wijkmakelaar", active=False)
    item = Item("idea", recipients=[Recipient(gone.id)])
    assert not any(may(gone, action) for action in Action)
    assert not may_see(gone, item)
    with pytest.raises(NotAllowed, match="niet \\(meer\\) actief"):
        check(gone, Action.CLAIM, item)


def test_an_unknown_role_may_do_nothing() -> None:
    assert not any(may(Staff("webmaster"), action) for action in Action)
