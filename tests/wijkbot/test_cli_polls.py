"""`wijkbot poll create` and `wijkbot poll results`, as the contract in DESIGN.md says."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from db import models
from db.session import transaction
from tests.factories import make_staff
from tests.polls_support import DEN_HOUT, SLOTJES, make_subscriber
from wijkbot.cli import app
from wijkbot.payloads import Ballot, Delivery, Poll
from wijkbot.polls import record_poll_message, record_vote
from wijkbot.services import Services, open_services
from wijkbot.settings import Settings, get_settings


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
def db(cli: CliRunner, database_url: str) -> Iterator[Services]:
    opened = open_services(Settings(_env_file=None, database_url=database_url))  # type: ignore[call-arg]
    yield opened
    opened.close()


def create(cli: CliRunner, *args: str) -> int:
    result = cli.invoke(app, ["poll", "create", "--question", "Meer groen in de straat?", *args])
    assert result.exit_code == 0, result.output
    return int(result.stdout.strip())


def test_create_starts_now_and_results_follow_the_contract(cli: CliRunner, db: Services) -> None:
    with transaction(db.sessions) as session:
        slotjes = [make_subscriber(session, SLOTJES) for _ in range(5)]
        den_hout = make_subscriber(session, DEN_HOUT)
    poll_id = create(cli, "--area", SLOTJES, "--area", DEN_HOUT, "--option", "Ja", "--option", "Nee")
    with transaction(db.sessions) as session:
        poll = session.get(models.Poll, poll_id)
        assert poll is not None and poll.status == "open" and poll.created_via == "cli"
        ballots = list(session.scalars(select(models.PollBallot).where(models.PollBallot.poll_id == poll_id)))
        assert len(ballots) == 6
        chats = {r.id: r.telegram_id for r in [*slotjes, den_hout]}
        for number, ballot in enumerate(ballots):
            message = Poll(question="?", options=["Ja", "Nee"], ballot=Ballot(poll_id, ballot.resident_id))
            record_poll_message(session, message=message, delivery=Delivery(1, poll_id=f"p{number}"))
            record_vote(
                session, telegram_poll_id=f"p{number}", user_id=chats[ballot.resident_id], option_ids=[number % 2]
            )
    result = cli.invoke(app, ["poll", "results", str(poll_id), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "poll": poll_id,
        "question": "Meer groen in de straat?",
        "total": 6,
        "options": [{"text": "Ja", "votes": 3}, {"text": "Nee", "votes": 3}],
        "areas": [
            # Den Hout's one vote would be the total minus Slotjes: both are hidden
            {"code": SLOTJES, "total": None, "options": None},
            {"code": DEN_HOUT, "total": None, "options": None},
        ],
    }
    text = cli.invoke(app, ["poll", "results", str(poll_id)])
    assert "Den Hout: not shown (groups under 5 votes)" in text.stdout
    assert str(poll_id) in cli.invoke(app, ["poll", "list"]).stdout


def test_create_with_a_start_time_schedules_it(cli: CliRunner, db: Services) -> None:
    poll_id = create(
        cli,
        "--area",
        SLOTJES,
        "--option",
        "Ja",
        "--option",
        "Nee",
        "--at",
        "2099-01-05T10:00",
        "--closes",
        "2099-01-12T10:00+01:00",
    )
    with transaction(db.sessions) as session:
        poll = session.get(models.Poll, poll_id)
        assert poll is not None and poll.status == "scheduled"
        assert poll.starts_at.isoformat() == "2099-01-05T09:00:00+00:00"  # local time without a zone
    body = json.loads(cli.invoke(app, ["poll", "results", str(poll_id), "--json"]).stdout)
    assert body["total"] == 0 and body["areas"] == [{"code": SLOTJES, "total": None, "options": None}]


def test_create_checks_its_input_and_the_creator_s_rights(cli: CliRunner, db: Services) -> None:
    one_option = cli.invoke(app, ["poll", "create", "--area", SLOTJES, "--question", "?", "--option", "Ja"])
    assert one_option.exit_code == 2 and "2 tot 10" in one_option.output
    bad_time = cli.invoke(
        app, ["poll", "create", "--area", SLOTJES, "--question", "?", "--option", "a", "--option", "b", "--at", "ooit"]
    )
    assert bad_time.exit_code == 2 and "ISO" in bad_time.output
    with transaction(db.sessions) as session:
        staff_id = make_staff(session, db.registry, areas=[DEN_HOUT]).id
    foreign = cli.invoke(
        app,
        [
            "poll",
            "create",
            "--area",
            SLOTJES,
            "--question",
            "?",
            "--option",
            "a",
            "--option",
            "b",
            "--staff",
            str(staff_id),
        ],
    )
    assert foreign.exit_code == 2 and "eigen gebied" in foreign.output
    assert cli.invoke(app, ["poll", "results", "999", "--json"]).exit_code == 2
