"""`wijkbot initiatives list` and `wijkbot budget show`: the JSON contracts, and clear refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from db.session import transaction
from tests.factories import make_resident, make_staff
from wijkbot.cli import app
from wijkbot.initiatives import decide, start_initiative, support
from wijkbot.items import file_item
from wijkbot.services import Services
from wijkbot.settings import get_settings

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_initiatives_and_budget_as_json(cli: CliRunner, services: Services) -> None:
    with transaction(services.sessions) as session:
        wim = make_staff(session, services.registry, areas=["WK082613"], name="Wim")
        anna = make_resident(session)
        item = file_item(
            session,
            services.registry,
            services.rules,
            resident=anna,
            kind="idea",
            area_code="WK082613",
            text="Een pluktuin\nmet bessen",
        ).item
        initiative = start_initiative(
            session, services.registry, telegram_id=anna.telegram_id, item_id=item.id, requested=900, now=NOW
        )
        initiative.support_needed = 1
        buur = make_resident(session)
        support(
            session,
            services.registry,
            code=initiative.share_code,
            telegram_id=buur.telegram_id,
            first_name="B",
            joins=False,
            postcode="4849 AB",
            now=NOW,
        )
        decide(session, services.registry, staff=wim, item_id=item.id, decision="grant", amount=600, now=NOW)
        item_id, year = item.id, initiative.budget_year

    listed = cli.invoke(app, ["initiatives", "list", "--area", "WK082613", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == [
        {
            "id": item_id,
            "title": "Een pluktuin",
            "area": "WK082613",
            "stage": "granted",
            "supporters": 1,
            "requested": 900,
            "granted": 600,
        }
    ]
    assert json.loads(cli.invoke(app, ["initiatives", "list", "--stage", "done", "--json"]).stdout) == []
    shown = cli.invoke(app, ["budget", "show", "--municipality", "GM0826", "--year", str(year), "--json"])
    assert shown.exit_code == 0, shown.output
    [pot] = json.loads(shown.stdout)["budgets"]
    assert (pot["area"], pot["granted"], pot["remaining"]) == (None, 600, pot["available"] - 600)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["initiatives", "list", "--stage", "klaar"], "unknown stage 'klaar'"),
        (["initiatives", "list", "--area", "WK999999"], "unknown area 'WK999999'"),
        (["budget", "show", "--municipality", "GM9999"], "unknown municipality 'GM9999'"),
    ],
)
def test_bad_options_get_a_clear_message(cli: CliRunner, args: list[str], said: str) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code == 2 and said in result.output
