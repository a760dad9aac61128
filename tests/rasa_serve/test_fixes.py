"""rasa_serve.fixes: Rasa with its action-answer check done by one kept validator (ADR 0009).

Run by the Rasa environment's own Python (Rasa and jsonschema live there), once for all checks of this file:
importing Rasa takes a while.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from wijkbot.runner import rasa_serve_command

ROOT = Path(__file__).resolve().parents[2]

CHECK = r"""
import json
import jsonschema.validators
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa_serve import fixes

GOOD = {
    "events": [{"event": "slot", "name": "area_code", "value": "GM0828_01"}, {"event": "action", "name": "x"}],
    "responses": [{"text": "Waar is het?", "buttons": [{"title": "Ja", "payload": "/affirm"}]}],
}
BAD = [
    {"events": "niet een lijst"},
    {"events": [{"event": "slot", "value": "naam ontbreekt"}]},
    {"events": [{"event": "geen_event"}]},
    {"responses": "geen lijst"},
]
action = RemoteAction("validate_report_form", None)
checked = {"schema": 0}
original_check = jsonschema.validators.Draft202012Validator.check_schema


def counting_check(schema, *args, **kwargs):
    checked["schema"] += 1
    return original_check(schema, *args, **kwargs)


def outcome(answer):
    try:
        return action._validate_action_result(answer)
    except ValidationError as error:
        return ["rejected", error.message, list(error.absolute_path)]


jsonschema.validators.Draft202012Validator.check_schema = staticmethod(counting_check)
rasa = {"good": outcome(GOOD), "bad": [outcome(answer) for answer in BAD], "schema_checks": 0}
rasa["schema_checks"] = checked["schema"]
fixes.install()
fixes.install()  # idempotent
checked["schema"] = 0
fixed = {"good": outcome(GOOD), "bad": [outcome(answer) for answer in BAD]}
for _ in range(5):
    outcome(GOOD)
fixed["schema_checks"] = checked["schema"]
print(json.dumps({"rasa": rasa, "fixed": fixed}))
"""


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Any]:
    python = ROOT / ".venv-rasa" / "bin" / "python"
    assert python.exists(), "the Rasa environment is missing: run `make setup`"
    done = subprocess.run([str(python), "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_rasa_itself_checks_the_schema_again_for_every_answer(outcomes: dict[str, Any]) -> None:
    """What the fix is for: without it, each of the 5 checks re-validates Rasa's own schema."""
    assert outcomes["rasa"]["schema_checks"] >= 5


def test_with_the_fix_the_schema_is_checked_once_not_per_answer(outcomes: dict[str, Any]) -> None:
    assert outcomes["fixed"]["schema_checks"] == 0  # checked at install, before the count started


def test_a_good_answer_passes_as_before(outcomes: dict[str, Any]) -> None:
    assert outcomes["rasa"]["good"] is True
    assert outcomes["fixed"]["good"] is True


def test_a_wrong_answer_is_rejected_with_rasa_s_own_message(outcomes: dict[str, Any]) -> None:
    assert all(result[0] == "rejected" for result in outcomes["rasa"]["bad"])
    assert outcomes["fixed"]["bad"] == outcomes["rasa"]["bad"]
    assert "Failed to validate Action server response" in outcomes["fixed"]["bad"][0][1]


def test_the_project_starts_rasa_through_the_fixes() -> None:
    assert rasa_serve_command()[-2:] == ["-m", "rasa_serve"]
    assert Path(rasa_serve_command()[0]).parent == ROOT / ".venv-rasa" / "bin"


TRACKERS = r"""
import asyncio, json, sqlite3, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_serve import fixes

folder = sys.argv[1]


def visit(start):
    return [
        ActionExecuted("action_session_start", timestamp=start),
        SessionStarted(timestamp=start + 0.1),
        ActionExecuted("action_listen", timestamp=start + 0.2),
        UserUttered("hoi", {"name": "greet"}, timestamp=start + 1),
        SlotSet("area_code", "WK082613", timestamp=start + 2),
        ActionExecuted("utter_greet", timestamp=start + 3),
    ]


async def seen(store, sender):
    tracker = await store.retrieve(sender)
    with store.session_scope() as session:
        counted = store._event_query(session, sender, fetch_events_from_all_sessions=False).count()
    return {"events": [e.as_dict() for e in tracker.events], "counted": counted}


async def main():
    events = visit(1000.0) + visit(5000.0) + visit(9000.0)
    before = [UserUttered("eerder", {"name": "greet"}, timestamp=10.0)]  # a conversation without a session start
    made_by_rasa = SQLTrackerStore(dialect="sqlite", db=f"{folder}/old.db")
    await made_by_rasa.save(DialogueStateTracker.from_events("lang", events))
    await made_by_rasa.save(DialogueStateTracker.from_events("zonder", before))
    rasa = {sender: await seen(made_by_rasa, sender) for sender in ("lang", "zonder")}
    fixes.install()
    reopened = SQLTrackerStore(dialect="sqlite", db=f"{folder}/old.db")  # a database Rasa made before the fix
    fixed = {sender: await seen(reopened, sender) for sender in ("lang", "zonder")}
    tracker = await reopened.retrieve("lang")
    tracker.update(UserUttered("nog iets", {"name": "greet"}, timestamp=9100.0))
    await reopened.save(tracker)  # saving counts what is stored with the fixed query
    after_save = await seen(reopened, "lang")
    SQLTrackerStore(dialect="sqlite", db=f"{folder}/new.db")
    indexes = {}
    for name in ("old", "new"):
        connection = sqlite3.connect(f"{folder}/{name}.db")
        indexes[name] = sorted(row[1] for row in connection.execute("PRAGMA index_list(events)"))
    plan = [row[-1] for row in connection.execute(
        "EXPLAIN QUERY PLAN SELECT max(timestamp) FROM events WHERE sender_id = 'x' AND type_name = 'session_started'"
    )]
    print(json.dumps({"rasa": rasa, "fixed": fixed, "after_save": after_save, "indexes": indexes, "plan": plan}))


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def trackers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    python = ROOT / ".venv-rasa" / "bin" / "python"
    assert python.exists(), "the Rasa environment is missing: run `make setup`"
    folder = tmp_path_factory.mktemp("trackers")
    done = subprocess.run(
        [str(python), "-c", TRACKERS, str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_tracker_store_loads_and_counts_the_same_session_events_as_rasa_s_own_query(
    trackers: dict[str, Any],
) -> None:
    assert trackers["fixed"] == trackers["rasa"]
    latest = trackers["fixed"]["lang"]
    # the last visit only, from its session start on (as Rasa's own query: its action comes just before)
    assert [e["timestamp"] for e in latest["events"]][:2] == [9000.1, 9000.2]
    assert latest["counted"] == 5
    assert trackers["fixed"]["zonder"]["counted"] == 1  # no session start: every event of the conversation


def test_a_saved_turn_is_stored_once_with_the_fixed_count(trackers: dict[str, Any]) -> None:
    saved = trackers["after_save"]
    assert saved["counted"] == 6
    assert [e.get("text") for e in saved["events"]].count("nog iets") == 1


def test_the_session_start_is_found_by_index_on_new_and_older_databases(trackers: dict[str, Any]) -> None:
    for name in ("old", "new"):
        assert {"ix_events_sender_type_time", "ix_events_sender_time"} <= set(trackers["indexes"][name]), name
    assert any("ix_events_sender_type_time" in step for step in trackers["plan"])
