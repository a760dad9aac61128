"""One-time login links into the web workspace: stored as a hash, valid 10 minutes, usable once, only for
active staff (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from db import models
from tests.factories import make_resident, make_staff
from wijkbot.cli import app
from wijkbot.municipalities import Registry
from wijkbot.settings import get_settings
from wijkbot.staff import deactivate_staff
from wijkbot.web_login import LoginRefused, create_login_link, redeem, token_hash

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def token_of(url: str) -> str:
    return url.rsplit("/login/", 1)[1]


def test_a_link_signs_its_staff_member_in_once(session: Session, registry: Registry) -> None:
    sanne = make_staff(session, registry, areas=["WK082611"], telegram_id=501)
    link = create_login_link(session, telegram_id=501, base_url="https://werkplek.example/", now=T0)
    assert link.url.startswith("https://werkplek.example/login/") and link.expires_at == T0 + timedelta(minutes=10)
    stored = session.scalars(select(models.WebLogin)).one()
    assert stored.token_hash == token_hash(token_of(link.url)) and token_of(link.url) not in stored.token_hash
    assert redeem(session, token=token_of(link.url), now=T0 + timedelta(minutes=9)) == sanne.id
    with pytest.raises(LoginRefused, match="al gebruikt"):
        redeem(session, token=token_of(link.url), now=T0 + timedelta(minutes=9))


def test_an_expired_unknown_or_orphaned_link_is_refused(session: Session, registry: Registry) -> None:
    sanne = make_staff(session, registry, areas=["WK082611"], telegram_id=502)
    late = create_login_link(session, telegram_id=502, base_url="http://w", now=T0)
    with pytest.raises(LoginRefused, match="verlopen"):
        redeem(session, token=token_of(late.url), now=T0 + timedelta(minutes=10))
    with pytest.raises(LoginRefused, match="bestaat niet"):
        redeem(session, token="made-up", now=T0)
    fresh = create_login_link(session, telegram_id=502, base_url="http://w", now=T0)
    deactivate_staff(session, staff_id=sanne.id)
    with pytest.raises(LoginRefused, match="niet \\(meer\\) actief"):
        redeem(session, token=token_of(fresh.url), now=T0)


def test_only_active_staff_get_a_link_and_old_links_are_cleared(session: Session, registry: Registry) -> None:
    resident = make_resident(session)
    with pytest.raises(LoginRefused):
        create_login_link(session, telegram_id=resident.telegram_id, base_url="http://w", now=T0)
    make_staff(session, registry, areas=["WK082611"], telegram_id=503)
    create_login_link(session, telegram_id=503, base_url="http://w", now=T0)
    create_login_link(session, telegram_id=503, base_url="http://w", now=T0 + timedelta(days=2))
    assert len(session.scalars(select(models.WebLogin)).all()) == 1


def test_the_cli_prints_the_link_on_its_last_line(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WEB_BASE_URL", "https://werkplek.example")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        added = runner.invoke(app, ["staff", "add", "--name", "Sanne", "--telegram-id", "4242", "--area", "WK082611"])
        assert added.exit_code == 0, added.output
        result = runner.invoke(app, ["staff", "login-link", "--telegram-id", "4242"])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip().splitlines()[-1].startswith("https://werkplek.example/login/")
        refused = runner.invoke(app, ["staff", "login-link", "--telegram-id", "999"])
        assert refused.exit_code == 2 and "actieve medewerkers" in refused.output
    finally:
        get_settings.cache_clear()
