"""`wijkbot outbox failed|retry` and the outbox summary `wijkbot run` logs at start."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from db import models
from db.models import utcnow
from db.session import transaction
from wijkbot.cli import app
from wijkbot.outbox import claim_due, enqueue, mark_failed
from wijkbot.services import open_services
from wijkbot.settings import Settings, get_settings


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def failed_rows(database_url: str, *texts: str) -> list[int]:
    """Queue one message per text and fail them all, as the sender would after its tries."""
    services = open_services(Settings(_env_file=None, database_url=database_url))  # type: ignore[call-arg]
    now = utcnow()
    try:
        with transaction(services.sessions) as session:
            for number, text in enumerate(texts):
                enqueue(session, purpose=f"reply:{number}:0", chat_id=4000 + number, text=text, now=now)
            enqueue(session, purpose="waiting", chat_id=4999, text="x", now=now - timedelta(minutes=5))
            claimed = [r for r in claim_due(session, worker="w", now=now) if r.purpose != "waiting"]
            for row in claimed:
                mark_failed(session, row_id=row.id, token=row.claim_token or "", error="Forbidden: bot was blocked")
            for row in session.query(models.OutboxMessage).filter_by(purpose="waiting"):
                row.status, row.claimed_by, row.claim_token = "pending", None, None
            return [r.id for r in claimed]
    finally:
        services.close()


def test_outbox_failed_lists_failed_messages_with_only_a_short_prefix_of_their_text(
    cli: CliRunner, database_url: str
) -> None:
    [row_id] = failed_rows(database_url, "Ik woon op Dorpsstraat 12 en mijn telefoon is 0612345678")
    listed = cli.invoke(app, ["outbox", "failed"])
    assert listed.exit_code == 0, listed.output
    assert "reply:0:0" in listed.stdout and "chat 4000" in listed.stdout and "Forbidden" in listed.stdout
    assert "[Ik woon op Dorpsstra…]" in listed.stdout and "0612345678" not in listed.stdout
    [row] = json.loads(cli.invoke(app, ["outbox", "failed", "--json"]).stdout)
    assert (row["id"], row["status"], row["chat_id"]) == (row_id, "failed", 4000)
    assert row["prefix"] == "Ik woon op Dorpsstra…"


def test_outbox_retry_queues_failed_messages_again_by_id_or_all(cli: CliRunner, database_url: str) -> None:
    first, second, third = failed_rows(database_url, "een", "twee", "drie")
    assert cli.invoke(app, ["outbox", "retry"]).exit_code == 2  # ids or --all
    one = cli.invoke(app, ["outbox", "retry", str(first)])
    assert one.exit_code == 0 and f"1 message(s) queued again: {first}" in one.stdout
    unknown = cli.invoke(app, ["outbox", "retry", str(first)])  # pending now, not failed
    assert unknown.exit_code == 1 and str(first) in unknown.output
    rest = cli.invoke(app, ["outbox", "retry", "--all"])
    assert rest.exit_code == 0 and f"2 message(s) queued again: {second}, {third}" in rest.stdout
    assert json.loads(cli.invoke(app, ["outbox", "failed", "--json"]).stdout) == []


def test_wijkbot_run_logs_failed_and_pending_messages_at_start(
    cli: CliRunner, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failed_rows(database_url, "een", "twee")
    monkeypatch.setattr("wijkbot.runner.run_stack", lambda settings: 0)
    with caplog.at_level(logging.INFO):
        result = cli.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    [line] = [r for r in caplog.records if r.getMessage().startswith("outbox:")]
    assert line.levelno == logging.WARNING
    assert "2 failed, 0 uncertain" in line.getMessage() and "1 pending (1 due now" in line.getMessage()
