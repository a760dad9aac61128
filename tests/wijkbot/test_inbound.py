"""The inbound log: every update stored once, whatever the database (wijkbot.inbound)."""

from __future__ import annotations

from db import models
from db.models import utcnow
from db.session import transaction
from wijkbot.inbound import backing_off, pending_updates, record_update, store_turn
from wijkbot.services import Services


def test_an_update_stored_again_is_known_as_stored_before_on_every_database(services: Services) -> None:
    found = []
    for text in ("eerste keer", "nog eens bezorgd"):
        with transaction(services.sessions) as session:
            found.append(
                record_update(session, update_id=4242, chat_id=77, kind="text", payload={"t": text}, now=utcnow())
            )
    assert found == [True, False]
    with transaction(services.sessions) as session:
        assert session.get(models.InboundUpdate, 4242).payload == {"t": "eerste keer"}  # type: ignore[union-attr]


def test_a_chat_backs_off_only_while_its_oldest_waiting_turn_is_not_due(services: Services) -> None:
    now = utcnow()
    with transaction(services.sessions) as session:
        for update_id in (10, 11):
            record_update(session, update_id=update_id, chat_id=77, kind="text", payload={}, now=now)
            store_turn(session, update_id=update_id, chat_id=77, user_id=77, text="hoi", meta={})
        session.get(models.InboundUpdate, 10).next_attempt_at = now.replace(year=now.year + 1)  # type: ignore[union-attr]
    with transaction(services.sessions) as session:
        pending = pending_updates(session, chat_id=77)
        assert backing_off(pending, before=11, now=now) is True
        assert backing_off(pending, before=10, now=now) is False  # nothing older than the oldest
        assert backing_off(pending, before=11, now=now.replace(year=now.year + 2)) is False  # due again
