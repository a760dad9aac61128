"""Writing to the outbox and claiming from it (wijkbot.outbox), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from db.session import transaction
from wijkbot.outbox import ClaimedRow, claim_due, enqueue, enqueue_claimed, mark_sent
from wijkbot.payloads import Text
from wijkbot.purposes import Purpose
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


def test_a_claim_takes_no_more_of_one_chat_than_asked_and_leaves_the_rest_of_that_chat_queued(
    services: Services,
) -> None:
    now = utcnow()
    with transaction(services.sessions) as session:
        for number in range(3):
            enqueue(session, purpose=f"groep:{number}", chat_id=-77, text=f"bericht {number}", now=now)
        enqueue(session, purpose="ander", chat_id=78, text="ander", now=now)
    with transaction(services.sessions) as session:
        claimed = [r.purpose for r in claim_due(session, worker="w1", now=now, per_chat=2)]
    assert claimed == ["groep:0", "groep:1", "ander"]
    with transaction(services.sessions) as session:
        states = {r.purpose: r.status for r in session.query(models.OutboxMessage)}
        # the sender claims again once its batch is sent: then the rest of the chat
        assert [r.purpose for r in claim_due(session, worker="w1", now=now, per_chat=2)] == ["groep:2"]
    assert states == {"groep:0": "sending", "groep:1": "sending", "groep:2": "pending", "ander": "sending"}


def _claim(session: Session, chat_id: int, *texts: str, now: datetime, begin: bool = True) -> list[ClaimedRow] | None:
    messages = [(Purpose(f"reply:9:{i}"), Text(text=text)) for i, text in enumerate(texts)]
    return enqueue_claimed(
        session, worker="w1", chat_id=chat_id, messages=messages, priority=10, now=now, begin_first=lambda _: begin
    )


def test_replies_queued_claimed_are_held_by_that_worker_and_only_the_first_is_begun(services: Services) -> None:
    now = utcnow()
    with transaction(services.sessions) as session:
        claimed = _claim(session, 77, "een", "twee", now=now)
    assert claimed is not None
    assert [(c.message.text, c.begun, c.channel) for c in claimed] == [  # type: ignore[attr-defined]
        ("een", True, "telegram"),
        ("twee", False, "telegram"),
    ]
    with transaction(services.sessions) as session:
        rows = session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)).all()
        found = [(r.id, r.status, r.claimed_by, r.claim_token, r.send_started_at is not None) for r in rows]
        # held: the sender's own claim, not another's
        assert claim_due(session, worker="w2", now=now) == []
    assert found == [(c.id, "sending", "w1", c.token, c.begun) for c in claimed]


def test_a_chat_s_first_reply_is_not_begun_when_its_chat_may_not_send_now(services: Services) -> None:
    with transaction(services.sessions) as session:
        claimed = _claim(session, 77, "een", now=utcnow(), begin=False)
    assert claimed is not None and [c.begun for c in claimed] == [False]


def test_replies_are_not_claimed_and_nothing_is_written_behind_a_due_or_sending_message_of_their_chat(
    services: Services,
) -> None:
    now = utcnow()
    with transaction(services.sessions) as session:
        enqueue(session, purpose="eerder", chat_id=77, text="eerder", now=now)  # due: goes first
        enqueue(session, purpose="morgen", chat_id=78, text="later", not_before=now + timedelta(days=1), now=now)
    with transaction(services.sessions) as session:
        assert _claim(session, 77, "antwoord", now=now) is None
        # a message not due yet does not stand in the way
        assert _claim(session, 78, "antwoord", now=now) is not None
    with transaction(services.sessions) as session:
        claim_due(session, worker="w2", now=now, chat_id=77)  # "eerder" is now being sent
    with transaction(services.sessions) as session:
        assert _claim(session, 77, "antwoord", now=now) is None
        purposes = sorted(r.purpose for r in session.scalars(select(models.OutboxMessage)))
    assert purposes == ["eerder", "morgen", "reply:9:0"]  # the one for chat 78 only


def test_a_reply_queued_before_is_not_queued_again_nor_claimed(services: Services) -> None:
    now = utcnow()
    with transaction(services.sessions) as session:
        first = _claim(session, 77, "een", now=now)
    with transaction(services.sessions) as session:
        mark_sent(session, row_id=first[0].id, token=first[0].token, telegram_message_id=1, now=now)  # type: ignore[index]
    with transaction(services.sessions) as session:
        again = _claim(session, 77, "een", now=now)
        count = session.scalar(select(func.count()).select_from(models.OutboxMessage))
    assert (again, count) == ([], 1)


def test_a_long_reply_queued_claimed_is_split_in_order(services: Services) -> None:
    text = ("Een zin over de straat. " * 300).strip()
    with transaction(services.sessions) as session:
        claimed = _claim(session, 77, text, now=utcnow())
    assert claimed is not None and len(claimed) > 1
    assert " ".join(c.message.text for c in claimed).split() == text.split()  # type: ignore[attr-defined]
    with transaction(services.sessions) as session:
        purposes = [r.purpose for r in session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id))]
    assert purposes[:2] == ["reply:9:0", "reply:9:0#2"]
