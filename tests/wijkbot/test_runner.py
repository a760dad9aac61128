"""`wijkbot run`: Rasa's HTTP API is started behind a token the bot shares, one per run unless configured."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from wijkbot import runner
from wijkbot.settings import Settings, rasa_environment, with_rasa_token

ROOT = Path(__file__).resolve().parents[2]


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_a_run_without_rasa_token_gets_a_fresh_random_one() -> None:
    first, second = with_rasa_token(_settings()), with_rasa_token(_settings())
    assert first.rasa_token is not None and second.rasa_token is not None
    assert len(first.rasa_token.get_secret_value()) >= 32
    assert first.rasa_token.get_secret_value() != second.rasa_token.get_secret_value()


def test_a_configured_rasa_token_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_TOKEN", "geheim-token")
    assert with_rasa_token(Settings(_env_file=None)).rasa_token == SecretStr("geheim-token")  # type: ignore[call-arg]
    monkeypatch.setenv("RASA_TOKEN", "")
    assert Settings(_env_file=None).rasa_token is None  # type: ignore[call-arg]


def test_rasa_is_started_with_the_auth_token() -> None:
    args = runner.rasa_arguments(_settings(rasa_token="t0ken", rasa_url="http://127.0.0.1:5123"))
    assert "--auth-token=t0ken" in args
    assert args[:4] == [*runner.rasa_serve_command(), "run"]  # Rasa's command line behind rasa_serve's fixes
    assert "--enable-api" in args and args[args.index("-i") + 1] == "127.0.0.1"
    with pytest.raises(ValueError, match="token"):
        runner.rasa_arguments(_settings())


def test_the_bot_and_rasa_of_one_run_share_its_token(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Settings] = {}

    def fake_backends(settings: Settings) -> list[Any]:
        seen["rasa"] = settings
        return []

    def fake_serve(settings: Settings) -> None:
        seen["bot"] = settings

    class FakeWeb:
        stopped = False

        def stop(self) -> None:
            FakeWeb.stopped = True

    def fake_web(settings: Settings) -> FakeWeb:
        seen["web"] = settings
        return FakeWeb()

    monkeypatch.setattr(runner, "start_backends", fake_backends)
    monkeypatch.setattr(runner, "start_web", fake_web)
    monkeypatch.setattr("bot.main.serve", fake_serve)
    assert runner.run_stack(_settings()) == 0
    token = seen["rasa"].rasa_token
    assert token is not None and seen["bot"].rasa_token == token
    assert seen["web"] is seen["bot"] and FakeWeb.stopped  # the workspace is served beside the bot, then stopped


def test_a_token_that_begins_with_a_dash_reaches_rasa_as_the_token() -> None:
    """argparse takes a separate "-abc" for an option: Rasa would stop with "expected one argument"."""
    args = runner.rasa_arguments(_settings(rasa_token="-Xy_token"))
    assert "--auth-token=-Xy_token" in args and "-Xy_token" not in args


def test_one_replica_keeps_its_conversations_in_a_sqlite_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runner, "GENERATED_ENDPOINTS", tmp_path)
    settings = _settings(rasa_token="t", rasa_tracker_db="var/t.db")
    args = runner.rasa_arguments(settings)
    endpoints = Path(args[args.index("--endpoints") + 1])
    assert endpoints.parent == tmp_path  # a copy of endpoints.yml with this tracker file
    assert yaml.safe_load(endpoints.read_text())["tracker_store"]["db"] == "var/t.db"
    assert settings.rasa_replicas == ["http://127.0.0.1:5005"]
    assert settings.rasa_tracker_url == "sqlite:///var/t.db"


def test_the_default_settings_start_rasa_with_endpoints_yml_itself(tmp_path: Path) -> None:
    """What `rasa shell` from the root reads is what `make run` starts Rasa with."""
    args = runner.rasa_arguments(_settings(rasa_token="t"))
    assert args[args.index("--endpoints") + 1] == str(ROOT / "endpoints.yml")
    assert runner.endpoints_for(_settings(), tmp_path) == ROOT / "endpoints.yml"
    assert not list(tmp_path.iterdir())
    assert "${" not in (ROOT / "endpoints.yml").read_text()  # Rasa would refuse to start with one unset


def test_other_settings_start_rasa_with_a_copy_of_endpoints_yml_holding_them(tmp_path: Path) -> None:
    settings = _settings(action_server_url="http://127.0.0.1:6123/", rasa_tracker_db="/srv/tracker.db")
    path = runner.endpoints_for(settings, tmp_path)
    assert path.parent == tmp_path
    original, copy = yaml.safe_load((ROOT / "endpoints.yml").read_text()), yaml.safe_load(path.read_text())
    assert copy["action_endpoint"] == {"url": "http://127.0.0.1:6123/webhook"}
    assert copy["tracker_store"] == original["tracker_store"] | {"db": "/srv/tracker.db"}
    assert copy.keys() == original.keys()
    assert runner.endpoints_for(settings, tmp_path) == path  # the same settings, the same file
    other = runner.endpoints_for(_settings(rasa_tracker_db="/srv/other.db"), tmp_path)
    assert other != path and path.exists()  # another run's file is left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, other.name])  # no temporary left


def test_replicas_share_postgresql_and_redis_and_each_runs_on_its_own_port() -> None:
    settings = _settings(
        rasa_token="t",
        rasa_urls="http://127.0.0.1:5005, http://127.0.0.1:5006/,http://rasa-3.intern:5005",
        rasa_tracker_store_url="postgresql://rasa:ge%40heim@db.intern:5433/rasa",
        rasa_lock_store_url="redis://:slot@cache.intern:6380/2",
    )
    assert settings.rasa_replicas == ["http://127.0.0.1:5005", "http://127.0.0.1:5006", "http://rasa-3.intern:5005"]
    assert runner.local_replicas(settings) == ["http://127.0.0.1:5005", "http://127.0.0.1:5006"]
    args = runner.rasa_arguments(settings, "http://127.0.0.1:5006")
    assert args[args.index("-p") + 1] == "5006"
    assert args[args.index("--endpoints") + 1] == str(ROOT / "endpoints.replicas.yml")
    env = rasa_environment(settings)
    assert {k: v for k, v in env.items() if k.startswith(("RASA_TRACKER_", "RASA_LOCK_"))} == {
        "RASA_TRACKER_HOST": "db.intern",
        "RASA_TRACKER_PORT": "5433",
        "RASA_TRACKER_NAME": "rasa",
        "RASA_TRACKER_USER": "rasa",
        "RASA_TRACKER_PASSWORD": "ge@heim",
        "RASA_LOCK_HOST": "cache.intern",
        "RASA_LOCK_PORT": "6380",
        "RASA_LOCK_DB": "2",
        "RASA_LOCK_PASSWORD": "slot",
    }
    assert settings.rasa_tracker_url == "postgresql://rasa:ge%40heim@db.intern:5433/rasa"  # erasure reaches it


def test_every_variable_the_replicas_endpoints_file_reads_is_set() -> None:
    settings = _settings(
        rasa_urls="http://127.0.0.1:5005,http://127.0.0.1:5006",
        rasa_tracker_store_url="postgresql://postgres@127.0.0.1/rasa",
        rasa_lock_store_url="redis://127.0.0.1",
    )
    wanted = set(re.findall(r"\$\{(\w+)\}", (ROOT / "endpoints.replicas.yml").read_text()))
    assert wanted <= set(rasa_environment(settings))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rasa_urls": "http://127.0.0.1:5005,http://127.0.0.1:5006"}, "need RASA_TRACKER_STORE_URL"),
        ({"rasa_tracker_store_url": "sqlite:///var/rasa.db"}, "RASA_TRACKER_STORE_URL must look like"),
        ({"rasa_tracker_store_url": "postgresql://db.intern"}, "RASA_TRACKER_STORE_URL must look like"),
        ({"rasa_lock_store_url": "memcached://cache"}, "RASA_LOCK_STORE_URL must look like"),
    ],
)
def test_replicas_without_shared_stores_or_with_wrong_store_urls_are_refused_clearly(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _settings(**values)
