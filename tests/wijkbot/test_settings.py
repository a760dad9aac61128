"""The municipality's settings: its time zone is its own, whatever zone the machine runs in."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from wijkbot.settings import Settings


def test_the_machine_s_tz_does_not_become_the_municipality_s_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")  # what many servers and containers set
    monkeypatch.delenv("MUNICIPALITY_TZ", raising=False)
    assert Settings(_env_file=None).zone == ZoneInfo("Europe/Amsterdam")  # type: ignore[call-arg]


def test_the_municipality_s_zone_is_set_with_municipality_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNICIPALITY_TZ", "Europe/Brussels")
    assert Settings(_env_file=None).zone == ZoneInfo("Europe/Brussels")  # type: ignore[call-arg]


def test_an_unknown_zone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNICIPALITY_TZ", "Europe/Oss")
    with pytest.raises(ValueError):
        Settings(_env_file=None)  # type: ignore[call-arg]
