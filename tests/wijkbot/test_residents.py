"""A resident's turn finds (or creates) the resident and notes they were seen (wijkbot.residents)."""

from __future__ import annotations

from datetime import timedelta

from db import models
from db.models import utcnow
from db.session import transaction
from tests.factories import make_resident
from wijkbot.residents import resident_seen
from wijkbot.services import Services


def test_a_known_resident_is_seen_now_unblocked_and_keeps_a_name_the_turn_does_not_carry(services: Services) -> None:
    now = utcnow() + timedelta(days=3)
    with transaction(services.sessions) as session:
        known = make_resident(session, telegram_id=501, first_name="Anna")
        known.blocked = True
    with transaction(services.sessions) as session:
        assert resident_seen(session, telegram_id=501, first_name=None, language="nl", now=now) == known.id
    with transaction(services.sessions) as session:
        row = session.get_one(models.Resident, known.id)
        assert (row.first_name, row.language, row.blocked, row.last_seen_at) == ("Anna", "nl", False, now)


def test_a_new_resident_is_created_on_their_first_turn(services: Services) -> None:
    with transaction(services.sessions) as session:
        new_id = resident_seen(session, telegram_id=502, first_name="Bram", language=None, now=utcnow())
    with transaction(services.sessions) as session:
        row = session.get_one(models.Resident, new_id)
        assert (row.telegram_id, row.first_name) == (502, "Bram")
