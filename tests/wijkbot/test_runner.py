"""`wijkbot run`: Rasa's HTTP API is started behind a token the bot shares, one per run unless configured."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from wijkbot import runner
from wijkbot.settings import Settings, with_rasa_token


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
    assert args[args.index("--auth-token") + 1] == "t0ken"
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

    monkeypatch.setattr(runner, "start_backends", fake_backends)
    monkeypatch.setattr("bot.main.serve", fake_serve)
    assert runner.run_stack(_settings()) == 0
    token = seen["rasa"].rasa_token
    assert token is not None and seen["bot"].rasa_token == token
