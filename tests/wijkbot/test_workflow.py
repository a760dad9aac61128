"""The item lifecycles: every allowed transition works, every other one is refused, and nothing else writes
an item's state or history."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from db import models
from wijkbot.workflow import (
    INITIATIVE,
    LIFECYCLES,
    OPEN_STATES,
    RESIDENT_LABELS,
    STAFF_LABELS,
    TICKET,
    IllegalTransition,
    Lifecycle,
    State,
    is_open,
    lifecycle_of,
    move,
    start,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _item(kind: str, status: State) -> models.Item:
    item = models.Item(id=7, kind=kind, text="x", details={}, status=status.value)
    item.thread_staff_id, item.thread_until, item.remind_at = 3, NOW, NOW
    return item


def _pairs(lifecycle: Lifecycle, *, allowed: bool) -> list[tuple[State, State]]:
    return [(a, b) for a in lifecycle.states for b in lifecycle.states if lifecycle.allows(a, b) == allowed]


KIND = {"ticket": "report", "initiative": "initiative"}


@pytest.mark.parametrize(
    ("name", "current", "to"),
    [(lc.name, a, b) for lc in LIFECYCLES.values() for a, b in sorted(_pairs(lc, allowed=True))],
)
def test_every_allowed_transition_moves_the_item_and_records_it(name: str, current: State, to: State) -> None:
    item = _item(KIND[name], current)
    event = move(item, to, event="test", staff_id=4, text="waarom", now=NOW)
    assert item.status == to
    assert (event.kind, event.status, event.staff_id, event.text, event.at) == ("test", to.value, 4, "waarom", NOW)
    assert item.events == [event]
    finished = to not in LIFECYCLES[name].open
    assert (item.closed_at == NOW) is finished
    assert (item.thread_staff_id is None and item.remind_at is None) is finished


@pytest.mark.parametrize(
    ("name", "current", "to"),
    [(lc.name, a, b) for lc in LIFECYCLES.values() for a, b in sorted(_pairs(lc, allowed=False))],
)
def test_every_other_transition_is_refused_and_changes_nothing(name: str, current: State, to: State) -> None:
    item = _item(KIND[name], current)
    with pytest.raises(IllegalTransition, match=f"cannot go from {current.value} to {to.value}"):
        move(item, to, event="test", now=NOW)
    assert item.status == current and item.events == [] and item.closed_at is None


def test_a_state_of_another_lifecycle_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="the ticket lifecycle"):
        move(_item("idea", State.NEW), State.GRANTED, event="granted", now=NOW)
    with pytest.raises(IllegalTransition, match="the initiative lifecycle"):
        move(_item("initiative", State.REVIEW), State.CLOSED, event="closed", now=NOW)


@pytest.mark.parametrize("lifecycle", [TICKET, INITIATIVE], ids=lambda lc: lc.name)
def test_every_state_can_be_reached_from_the_first_and_every_open_one_can_finish(lifecycle: Lifecycle) -> None:
    reached, frontier = {lifecycle.initial}, [lifecycle.initial]
    while frontier:
        for nxt in lifecycle.transitions[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == lifecycle.states
    assert all(lifecycle.allows(state, State.WITHDRAWN) for state in lifecycle.open)
    assert lifecycle.waiting <= lifecycle.open


def test_the_initiative_stages_are_the_contract_values() -> None:
    assert {s.value for s in INITIATIVE.states} - {"withdrawn", "expired"} == {
        "idea",
        "collecting",
        "review",
        "granted",
        "rejected",
        "other_fund",
        "in_progress",
        "done",
    }


def test_every_state_has_a_label_for_residents_and_for_staff() -> None:
    assert set(RESIDENT_LABELS) == set(State) == set(STAFF_LABELS)


def test_start_gives_each_kind_its_lifecycles_first_state() -> None:
    for kind, first in (("idea", State.NEW), ("question", State.NEW), ("initiative", State.IDEA)):
        item = models.Item(kind=kind, text="x", details={})
        start(item, event="filed", text="regel", now=NOW)
        assert item.status == first and [(e.kind, e.status) for e in item.events] == [("filed", first.value)]
        assert is_open(item) and item.status in OPEN_STATES and lifecycle_of(kind).initial == first


WRITES_STATE = re.compile(r"\.status\s*=[^=]|ItemEvent\(|\.events\.append\(")


def test_only_the_workflow_writes_an_items_state_or_history() -> None:
    offenders = []
    for package in ("wijkbot", "bot", "web", "actions"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "workflow.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if WRITES_STATE.search(line) and re.search(r"\bitem\b|Item", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
