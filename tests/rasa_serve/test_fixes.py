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
