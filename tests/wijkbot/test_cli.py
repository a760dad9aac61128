"""The `wijkbot` command, as an administrator uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from wijkbot.cli import app
from wijkbot.settings import get_settings


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "OosterhoutWijkBot")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_areas_resolve_prints_the_contract_json(cli: CliRunner) -> None:
    result = cli.invoke(app, ["areas", "resolve", "4911 ab"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "unique" and body["municipality"] == "GM0826"
    assert body["areas"] == [{"code": "WK082611", "name": "Den Hout"}]


def test_areas_resolve_reports_invalid_input_as_json(cli: CliRunner) -> None:
    result = cli.invoke(app, ["areas", "resolve", "hallo"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"status": "invalid", "municipality": None, "areas": []}


def test_areas_list_shows_every_area(cli: CliRunner) -> None:
    result = cli.invoke(app, ["areas", "list", "--json"])
    rows = json.loads(result.stdout)
    assert len(rows) == 37
    ruwaard = next(r for r in rows if r["code"] == "WK082806")
    assert ruwaard["council"] == "Wijkraad Ruwaard" and ruwaard["postcodes"] == ["5343", "5344"]


def test_staff_add_then_list(cli: CliRunner) -> None:
    added = cli.invoke(
        app,
        [
            "staff",
            "add",
            "--name",
            "Sanne de Vries",
            "--telegram-id",
            "4242",
            "--area",
            "WK082613",
            "--area",
            "WK082611",
        ],
    )
    assert added.exit_code == 0, added.output
    listed = json.loads(cli.invoke(app, ["staff", "list", "--json"]).stdout)
    assert listed == [
        {
            "id": 1,
            "name": "Sanne de Vries",
            "role": "wijkmakelaar",
            "areas": ["WK082611", "WK082613"],
            "telegram_bound": True,
            "active": True,
            "invite_expired": False,
        }
    ]


def test_the_default_role_is_the_municipality_s_own(cli: CliRunner) -> None:
    cli.invoke(app, ["staff", "add", "--name", "Kees", "--telegram-id", "77", "--area", "WK082806"])
    assert json.loads(cli.invoke(app, ["staff", "list", "--json"]).stdout)[0]["role"] == "wijkcoordinator"


def test_staff_invite_prints_a_deep_link(cli: CliRunner) -> None:
    result = cli.invoke(app, ["staff", "invite", "--area", "WK082613", "--role", "council"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("https://t.me/OosterhoutWijkBot?start=")
    listed = json.loads(cli.invoke(app, ["staff", "list", "--json"]).stdout)
    assert listed[0]["telegram_bound"] is False and listed[0]["role"] == "council"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--area", "WK999999"], "unknown area"),
        (["--area", "WK082613", "--role", "koning"], "unknown role"),
        ([], "--area"),
    ],
)
def test_staff_commands_explain_bad_input(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, ["staff", "invite", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_staff_deactivate_and_set_areas(cli: CliRunner) -> None:
    cli.invoke(app, ["staff", "add", "--name", "Sanne", "--telegram-id", "61", "--area", "WK082613"])
    moved = cli.invoke(app, ["staff", "set-areas", "1", "--area", "WK082611", "--area", "WK082612"])
    assert moved.exit_code == 0, moved.output
    assert json.loads(cli.invoke(app, ["staff", "list", "--json"]).stdout)[0]["areas"] == ["WK082611", "WK082612"]
    gone = cli.invoke(app, ["staff", "deactivate", "1"])
    assert gone.exit_code == 0 and "deactivated" in gone.stdout, gone.output
    assert json.loads(cli.invoke(app, ["staff", "list", "--json"]).stdout)[0]["active"] is False
    assert "deactivated" in cli.invoke(app, ["staff", "list"]).stdout
    unknown = cli.invoke(app, ["staff", "deactivate", "42"])
    assert unknown.exit_code == 2 and "no staff member 42" in unknown.output


def test_a_telegram_account_cannot_be_staff_twice(cli: CliRunner) -> None:
    cli.invoke(app, ["staff", "add", "--name", "A", "--telegram-id", "5", "--area", "WK082613"])
    again = cli.invoke(app, ["staff", "add", "--name", "B", "--telegram-id", "5", "--area", "WK082611"])
    assert again.exit_code == 2 and "already belongs" in again.output


def test_db_upgrade_downgrade_and_load(cli: CliRunner) -> None:
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert cli.invoke(app, ["db", "downgrade", "base"]).exit_code == 0
    loaded = cli.invoke(app, ["db", "load"])  # migrates first, so a downgraded database just works
    assert loaded.exit_code == 0 and "37 areas" in loaded.stdout
    again = cli.invoke(app, ["db", "load"])
    assert "0 rows changed" in again.stdout


def test_the_installed_command_runs_on_a_fresh_database(tmp_path: pytest.TempPathFactory) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "wijkbot.cli", "areas", "resolve", "5341AB"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["areas"] == [{"code": "WK082800", "name": "Centrum"}]
