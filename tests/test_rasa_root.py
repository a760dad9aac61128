"""Rasa's own tools work from the repository's root, as in any Rasa project: no environment to set first.

Run by the Rasa environment's Python (.venv-rasa), without ACTION_SERVER_URL or RASA_TRACKER_DB (or any
other variable of ours) in its environment; nothing is trained or served.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

READ_ENDPOINTS = """
import json
from rasa.core.utils import AvailableEndpoints
from rasa.shared.constants import DEFAULT_ENDPOINTS_PATH

endpoints = AvailableEndpoints.read_endpoints(DEFAULT_ENDPOINTS_PATH)
print(json.dumps({
    "path": DEFAULT_ENDPOINTS_PATH,
    "action": endpoints.action.url,
    "tracker_store": {"type": endpoints.tracker_store.type, **endpoints.tracker_store.kwargs},
    "lock_store": endpoints.lock_store is not None,
}))
"""


def _bare_environment() -> dict[str, str]:
    """The developer's shell before they set anything of ours: none of our variables, telemetry off."""
    ours = ("ACTION_SERVER_URL", "RASA_", "DATABASE_URL", "SANIC_HOST")
    env = {name: value for name, value in os.environ.items() if not name.startswith(ours)}
    return env | {"RASA_TELEMETRY_ENABLED": "false", "PYTHONWARNINGS": "ignore"}


def _in_rasa_environment(args: list[str]) -> subprocess.CompletedProcess[str]:
    if not RASA_PYTHON.exists():
        pytest.fail("the Rasa environment is missing: run `make setup`")
    return subprocess.run(
        args, cwd=ROOT, env=_bare_environment(), capture_output=True, text=True, timeout=300, check=False
    )


def test_rasa_reads_endpoints_yml_from_the_root_with_no_variables_set() -> None:
    """What `rasa shell`, `rasa run` and `rasa test` do first: the default endpoints file, read as Rasa reads it."""
    done = _in_rasa_environment([str(RASA_PYTHON), "-c", READ_ENDPOINTS])
    assert done.returncode == 0, done.stderr[-3000:]
    endpoints = json.loads(done.stdout.strip().splitlines()[-1])
    assert endpoints == {
        "path": "endpoints.yml",
        "action": "http://127.0.0.1:5055/webhook",  # the action server `make run` starts (ACTION_SERVER_URL)
        "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": "var/rasa_tracker.db"},  # RASA_TRACKER_DB
        "lock_store": False,
    }


def test_rasa_data_validate_passes_from_the_root_with_no_variables_set() -> None:
    rasa = RASA_PYTHON.parent / "rasa"
    done = _in_rasa_environment(
        [str(rasa), "data", "validate", "--config", "config.yml", "--domain", "domain", "--data", "nlu", "dialogue"]
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
