"""A turn Rasa runs twice, through the REAL Rasa and action server: Rasa dropped the first run of "Ja,
insturen" without saving it (its caller had gone), though the action server had filed the report; the bot
sends the same update again. The second run files nothing and answers with the first receipt."""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

import pytest
from sqlalchemy import select

from db import models
from db.session import transaction
from tests.factories import make_staff
from tests.stack import Stack, telegram_metadata

pytestmark = pytest.mark.rasa
_senders = itertools.count(890_000_001)


def turn(stack: Stack, sender: str, text: str, update_id: int) -> str:
    metadata: dict[str, Any] = {**telegram_metadata(sender), "update_id": update_id}
    return "\n".join(r.get("text") or "" for r in stack.say(sender, text, metadata))


def last_event_id(stack: Stack) -> int:
    with sqlite3.connect(stack.tracker_db) as connection:
        return int(connection.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


def forget_events_after(stack: Stack, sender: str, event_id: int) -> int:
    """What Rasa does to a turn it drops: none of its events are saved."""
    with sqlite3.connect(stack.tracker_db, timeout=30) as connection:
        return connection.execute("DELETE FROM events WHERE sender_id = ? AND id > ?", (sender, event_id)).rowcount


def test_ja_insturen_run_again_by_rasa_files_one_report_and_repeats_its_receipt(stack: Stack) -> None:
    sender = str(next(_senders))
    with transaction(stack.services.sessions) as session:
        staff = [make_staff(session, stack.services.registry, areas=["WK082611"], name=n) for n in ("Sanne", "Joost")]
        staff_chats = sorted(s.telegram_id for s in staff if s.telegram_id is not None)
    turn(stack, sender, "ik wil iets melden", 1)
    turn(stack, sender, "er ligt een losse stoeptegel voor ons huis", 2)
    assert "Dit is je melding" in turn(stack, sender, "4911AB", 3)
    before = last_event_id(stack)

    first = turn(stack, sender, "/affirm", 4)
    assert forget_events_after(stack, sender, before) > 0
    again = turn(stack, sender, "/affirm", 4)

    with transaction(stack.services.sessions) as session:
        [item] = session.scalars(
            select(models.Item).join(models.Resident).where(models.Resident.telegram_id == int(sender))
        ).all()
        notified = session.scalars(
            select(models.OutboxMessage.recipient_chat_id).where(models.OutboxMessage.item_id == item.id)
        ).all()
    assert f"Dank je wel voor je melding (nummer {item.id})" in first
    assert again == first
    # one notification per staff member of the area (other tests' staff there too), nobody notified twice
    assert set(staff_chats) <= set(notified) and len(notified) == len(set(notified))


def test_the_same_words_in_a_new_update_are_a_new_report(stack: Stack) -> None:
    sender = str(next(_senders))
    for update_id in (11, 21):
        turn(stack, sender, "ik wil iets melden", update_id)
        turn(stack, sender, "er ligt een losse stoeptegel voor ons huis", update_id + 1)
        turn(stack, sender, "4911AB", update_id + 2)
        assert "Dank je wel voor je melding" in turn(stack, sender, "/affirm", update_id + 3)
    with transaction(stack.services.sessions) as session:
        reports = session.scalars(
            select(models.Item).join(models.Resident).where(models.Resident.telegram_id == int(sender))
        ).all()
    assert len(reports) == 2
