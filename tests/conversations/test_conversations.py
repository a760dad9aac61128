"""Conversation tests: `rasa test core` over tests/conversations/*.yml against the trained model and the
session's running action server; every bot action in those stories must be predicted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.stack import MODEL, RASA, ROOT, Stack

STORIES = Path(__file__).with_name("test_stories.yml")


@pytest.mark.rasa
def test_the_conversation_stories_are_predicted(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        [
            str(RASA),
            "test",
            "core",
            "--stories",
            str(STORIES.parent),
            "--model",
            str(MODEL),
            "--endpoints",
            str(stack.endpoints),
            "--fail-on-prediction-errors",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    failed = out / "failed_test_stories.yml"
    failed_text = failed.read_text(encoding="utf-8") if failed.exists() else ""
    output = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"rasa test core failed:\n{failed_text}\n--- output ---\n{output}"
    assert "Failed Story" not in output
    assert not failed_text.strip() or "None of the test stories failed" in failed_text, failed_text
