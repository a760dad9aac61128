"""A new session carries each slot's last value only (issue 17): Rasa 3.6's own session start copied every
earlier SlotSet into each new session, so a resident who keeps coming back got slower with every visit."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet

from actions.fallback import recent_user_texts
from actions.session import CARRIED_SLOTS, SESSION_METADATA, ActionSessionStart, carried_slot_events
from tests.actions.support import domain, latest, run, tracker, user_event

METADATA = {"telegram": {"user_id": 555000111, "chat_id": 555000111, "first_name": "Anna", "language_code": "nl"}}


def slot_event(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def replayed(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slot values these events leave, the way Rasa applies them (a session start resets every slot)."""
    slots: dict[str, Any] = {name: None for name in domain()["slots"]}
    slots.update(requested_slot=None, session_started_metadata=None)
    for event in events:
        if event["event"] in ("session_started", "restart"):
            slots = dict.fromkeys(slots)
        elif event["event"] == "slot":
            slots[event["name"]] = event["value"]
    return slots


def visit(number: int) -> list[dict[str, Any]]:
    """One visit's turns as Rasa stores them: a contact question answered with a postcode, then an idea
    started and left half-way (its form slots set, `kind` too)."""
    area = f"WK0826{number % 20:02d}"
    return [
        user_event("wie is mijn wijkmakelaar?", "ask_contact"),
        {"event": "action", "name": "action_prefill_area"},
        slot_event("area_code", None),
        slot_event("area_candidates", None),
        {"event": "action", "name": "contact_form"},
        user_event("4911 AB"),
        slot_event("area_code", area),
        slot_event("postcode", "4911AB"),
        slot_event("location", "4911AB"),
        slot_event("last_area", area),
        {"event": "action", "name": "action_contact"},
        slot_event("area_code", None),
        slot_event("postcode", None),
        slot_event("location", None),
        user_event("ik heb een idee voor een bankje", "share_idea"),
        {"event": "action", "name": "action_triage"},
        slot_event("kind", "idea"),
        {"event": "action", "name": "action_start_idea"},
        slot_event("idea_what", "een bankje"),
        slot_event("requested_slot", "area_code"),
    ]


async def test_a_new_session_carries_the_last_area_and_the_starting_metadata_only() -> None:
    earlier = [
        SessionStarted(),
        slot_event("last_area", "WK082601"),
        *visit(11),
        slot_event(SESSION_METADATA, METADATA),  # Rasa sets it just before running action_session_start
    ]
    t = tracker(slots=replayed(earlier), events=earlier, message=latest("hallo", "greet"))
    events, messages = await run(ActionSessionStart(), t)
    assert events == [
        SessionStarted(),
        SlotSet("last_area", "WK082611"),
        SlotSet(SESSION_METADATA, METADATA),
        ActionExecuted("action_listen"),
    ]
    assert messages == []


async def test_a_resident_without_anything_to_carry_starts_like_a_new_one() -> None:
    events, _ = await run(ActionSessionStart(), tracker(slots={"kind": None}))
    assert events == [SessionStarted(), ActionExecuted("action_listen")]


async def test_the_events_of_a_session_start_stay_the_same_however_many_sessions_came_before() -> None:
    """40 visits, each a new session started by the action's own events: the 40th start emits what the
    second did (one SlotSet per carried slot), and every session after the first holds the same number of
    events."""
    history: list[dict[str, Any]] = []
    starts: list[list[dict[str, Any]]] = []
    session_sizes: list[int] = []
    for number in range(40):
        history.append(slot_event(SESSION_METADATA, {**METADATA, "visit": number}))
        # Rasa sends the tracker as its store loaded it: the previous session, then the metadata slot
        previous = history[max((i for i, e in enumerate(history) if e["event"] == "session_started"), default=0) :]
        events, _ = await run(ActionSessionStart(), tracker(slots=replayed(history), events=previous))
        starts.append(events)
        history += events + visit(number)
        session_sizes.append(len(events) + len(visit(number)))
    assert starts[0] == [
        SessionStarted(),
        SlotSet(SESSION_METADATA, {**METADATA, "visit": 0}),
        ActionExecuted("action_listen"),
    ]
    assert starts[-1] == [
        SessionStarted(),
        SlotSet("last_area", "WK082618"),
        SlotSet(SESSION_METADATA, {**METADATA, "visit": 39}),
        ActionExecuted("action_listen"),
    ]
    assert [len(events) for events in starts[1:]] == [2 + len(CARRIED_SLOTS)] * 39
    assert set(session_sizes[1:]) == {session_sizes[1]}
    assert session_sizes[1] == session_sizes[0] + 1  # the first visit had no area to carry yet


def test_only_slots_that_differ_from_their_initial_value_are_carried() -> None:
    with_initial = {
        **domain(),
        "slots": {**domain()["slots"], "last_area": {"type": "text", "initial_value": "WK082601"}},
    }
    slots = {"last_area": "WK082601", SESSION_METADATA: None, "kind": "idea"}
    assert carried_slot_events(slots, with_initial) == []
    assert carried_slot_events({**slots, "last_area": None}, with_initial) == [SlotSet("last_area", None)]
    assert carried_slot_events({**slots, "last_area": "WK082611"}, domain()) == [SlotSet("last_area", "WK082611")]


def test_without_carry_over_nothing_is_carried() -> None:
    no_carry = {**domain(), "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": False}}
    assert carried_slot_events({"last_area": "WK082611", SESSION_METADATA: METADATA}, no_carry) == []


def test_the_carried_slots_are_the_domains_and_rasa_calls_this_session_start() -> None:
    assert "action_session_start" in domain()["actions"]
    assert set(CARRIED_SLOTS) - {SESSION_METADATA} <= set(domain()["slots"])


async def test_what_the_resident_typed_before_the_session_started_is_not_context() -> None:
    earlier = [user_event("de lamp is kapot", "report_issue"), slot_event(SESSION_METADATA, METADATA)]
    events, _ = await run(ActionSessionStart(), tracker(slots=replayed(earlier), events=earlier))
    now = tracker(events=[*earlier, *events, user_event("help me", "nlu_fallback")])
    assert recent_user_texts(now) == ["help me"]
