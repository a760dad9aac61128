"""Writing to the outbox and claiming from it (wijkbot.outbox), on SQLite and PostgreSQL."""

from __future__ import annotations

from db import models
from db.models import utcnow
from db.session import transaction
from wijkbot.outbox import claim_due, enqueue
from wijkbot.services import Services


def test_a_message_queued_twice_is_queued_once_and_known_as_queued_on_every_database(services: Services) -> None:
    with transaction(services.sessions) as session:
        first = enqueue(session, purpose="reply:5:0", chat_id=77, text="hoi")
    with transaction(services.sessions) as session:
        again = enqueue(session, purpose="reply:5:0", chat_id=77, text="hoi")
        rows = session.query(models.OutboxMessage).filter_by(recipient_chat_id=77).count()
    assert (first, again, rows) == (True, False, 1)


def test_a_claim_for_one_chat_takes_only_its_due_rows_and_nothing_while_another_claim_holds_one(
    services: Services,
) -> None:
    now = utcnow()
    with transaction(services.sessions) as session:
        enqueue(session, purpose="a", chat_id=77, text="een", now=now)
        enqueue(session, purpose="b", chat_id=78, text="ander", now=now)
    with transaction(services.sessions) as session:
        claimed = [(r.recipient_chat_id, r.status) for r in claim_due(session, worker="w1", now=now, chat_id=77)]
    assert claimed == [(77, "sending")]
    with transaction(services.sessions) as session:
        enqueue(session, purpose="c", chat_id=77, text="twee", now=now)
    with transaction(services.sessions) as session:
        assert claim_due(session, worker="w2", now=now, chat_id=77) == []  # "een" is being sent
        assert [r.recipient_chat_id for r in claim_due(session, worker="w2", now=now, chat_id=78)] == [78]
    with transaction(services.sessions) as session:
        states = {r.purpose: r.status for r in session.query(models.OutboxMessage)}
    assert states == {"a": "sending", "b": "sending", "c": "pending"}
