"""The fake Bot API speaks only the official Bot API: every method it serves and every parameter it accepts has
its official name (tests/devtools/bot_api_reference.json, written from https://core.telegram.org/bots/api).

A misspelt method or parameter in the fake would otherwise let the bot's tests pass against a call Telegram does
not know. The reverse is not required: the fake accepts only the official parameters it handles, and refuses the
others (see test_fake_telegram.py)."""

from __future__ import annotations

import json
from pathlib import Path

from devtools.fake_telegram import SEND_METHODS, FakeTelegramServer
from devtools.fake_telegram.params import PARAMETERS

REFERENCE = json.loads((Path(__file__).parent / "bot_api_reference.json").read_text(encoding="utf-8"))
OFFICIAL: dict[str, list[str]] = REFERENCE["methods"]


def test_every_method_the_fake_serves_is_an_official_one() -> None:
    assert set(FakeTelegramServer.METHODS) - set(OFFICIAL) == set()


def test_every_parameter_the_fake_accepts_is_an_official_one_of_that_method() -> None:
    unofficial = {method: sorted(set(names) - set(OFFICIAL.get(method, []))) for method, names in PARAMETERS.items()}
    assert {method: names for method, names in unofficial.items() if names} == {}


def test_each_served_method_has_its_parameters_and_its_handler() -> None:
    assert set(PARAMETERS) == set(FakeTelegramServer.METHODS)
    for attribute in FakeTelegramServer.METHODS.values():
        assert callable(getattr(FakeTelegramServer, attribute)), attribute


def test_the_send_methods_are_served() -> None:
    assert set(SEND_METHODS) <= set(FakeTelegramServer.METHODS)


def test_the_reference_names_look_like_the_bot_apis() -> None:
    """camelCase methods, snake_case parameters, none twice: a slip in the data shows here."""
    for method, names in OFFICIAL.items():
        assert method[0].islower() and "_" not in method, method
        assert len(names) == len(set(names)), method
        assert all(name == name.lower() and " " not in name for name in names), method
