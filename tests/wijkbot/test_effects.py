"""A side effect of a resident turn happens once per (resident, Telegram update, action), however often Rasa
runs the turn, also when two runs meet in the database at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from db import models
from db.session import transaction
from tests.factories import make_resident
from wijkbot.effects import TurnKey, effects_of, forget_effects, run_once, update_id_from_metadata
from wijkbot.privacy import erase_resident, expire_old_data, export_resident
from wijkbot.services import Services

KEY = TurnKey(telegram_id=555000111, update_id=7001, action="file_idea")


def counting_work(calls: list[int]) -> Any:
    """Work that adds a resident (a real write) and answers with how many times it ran."""

    def work(session: Session) -> dict[str, Any]:
        calls.append(1)
        make_resident(session, first_name=f"Run{len(calls)}")
        return {"run": len(calls)}

    return work


def residents(services: Services) -> int:
    with transaction(services.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(models.Resident)) or 0)


def test_a_turn_run_again_gets_the_first_result_and_does_nothing_twice(services: Services) -> None:
    calls: list[int] = []
    first = run_once(services.sessions, KEY, counting_work(calls))
    again = run_once(services.sessions, KEY, counting_work(calls))
    assert first == again == {"run": 1}
    assert calls == [1] and residents(services) == 1


def test_another_update_or_another_action_is_done_again(services: Services) -> None:
    calls: list[int] = []
    run_once(services.sessions, KEY, counting_work(calls))
    run_once(services.sessions, TurnKey(KEY.telegram_id, 7002, KEY.action), counting_work(calls))
    run_once(services.sessions, TurnKey(KEY.telegram_id, KEY.update_id, "subscribe"), counting_work(calls))
    assert len(calls) == 3 and residents(services) == 3


def test_without_a_key_the_work_runs_every_time(services: Services) -> None:
    calls: list[int] = []
    run_once(services.sessions, None, counting_work(calls))
    run_once(services.sessions, None, counting_work(calls))
    assert len(calls) == 2
    with transaction(services.sessions) as session:
        assert session.scalars(select(models.TurnEffect)).all() == []


def test_work_that_fails_leaves_no_result_behind_so_the_next_run_does_it(services: Services) -> None:
    def failing(session: Session) -> dict[str, Any]:
        make_resident(session, first_name="Half")
        raise RuntimeError("routing failed")

    with pytest.raises(RuntimeError):
        run_once(services.sessions, KEY, failing)
    assert residents(services) == 0
    calls: list[int] = []
    assert run_once(services.sessions, KEY, counting_work(calls)) == {"run": 1}


def test_two_runs_at_the_same_moment_do_the_work_once(services: Services) -> None:
    """Run A has claimed the key and is inside its work; run B reads no result yet, then tries to claim: the
    claim waits for A's transaction, fails on the key, and B answers with A's result."""
    calls: list[int] = []
    a_working, b_claiming = threading.Event(), threading.Event()
    results: dict[str, dict[str, Any]] = {}

    def slow_work(session: Session) -> dict[str, Any]:
        a_working.set()
        assert b_claiming.wait(30), "run B never tried to claim the key"
        return counting_work(calls)(session)

    def seen_by_b(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread().name == "B" and statement.lstrip().upper().startswith("INSERT INTO TURN_EFFECT"):
            b_claiming.set()  # A may commit now; B's INSERT waits for it or finds its row

    event.listen(services.engine, "before_cursor_execute", seen_by_b)
    try:
        a = threading.Thread(target=lambda: results.update(a=run_once(services.sessions, KEY, slow_work)), name="A")
        b = threading.Thread(
            target=lambda: results.update(b=run_once(services.sessions, KEY, counting_work(calls))), name="B"
        )
        a.start()
        assert a_working.wait(30)
        b.start()
        a.join(60)
        b.join(60)
    finally:
        event.remove(services.engine, "before_cursor_execute", seen_by_b)
    assert b_claiming.is_set()
    assert results == {"a": {"run": 1}, "b": {"run": 1}}
    assert calls == [1] and residents(services) == 1


def test_the_update_id_comes_from_the_metadata_the_bot_sends() -> None:
    assert update_id_from_metadata({"telegram": {}, "update_id": 812}) == 812
    for metadata in (None, {}, {"update_id": "812"}, {"update_id": True}, ["update_id", 812]):
        assert update_id_from_metadata(metadata) is None


def test_erasure_forgets_a_residents_kept_results_and_the_export_lists_them(services: Services) -> None:
    with transaction(services.sessions) as session:
        make_resident(session, telegram_id=KEY.telegram_id)
    run_once(services.sessions, KEY, lambda session: {"item_id": 3})
    run_once(services.sessions, TurnKey(42, 1, "file_idea"), lambda session: {"item_id": 4})
    with transaction(services.sessions) as session:
        document = export_resident(session, telegram_id=KEY.telegram_id)
        assert document is not None
        assert [(e["update_id"], e["action"], e["result"]) for e in document["turns_done_once"]] == [
            (7001, "file_idea", {"item_id": 3})
        ]
        erase_resident(session, telegram_id=KEY.telegram_id)
    with transaction(services.sessions) as session:
        assert effects_of(session, telegram_id=KEY.telegram_id) == []
        assert len(effects_of(session, telegram_id=42)) == 1


def test_kept_results_older_than_the_retention_period_are_removed(services: Services) -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    run_once(services.sessions, KEY, lambda session: {"item_id": 3}, clock=lambda: now - timedelta(days=100))
    run_once(services.sessions, TurnKey(42, 1, "file_idea"), lambda session: {"item_id": 4}, clock=lambda: now)
    with transaction(services.sessions) as session:
        expire_old_data(session, retention=timedelta(days=90), now=now)
    with transaction(services.sessions) as session:
        assert [e.telegram_id for e in session.scalars(select(models.TurnEffect))] == [42]
    with transaction(services.sessions) as session, pytest.raises(ValueError):
        forget_effects(session)
