"""Fenced outbox claims, what an uncertain or failed send leads to, and the inbox being told (wijkbot.delivery)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from tests.factories import make_resident, make_staff
from wijkbot.delivery import (
    MAYBE_DELIVERED_AFTER,
    record_failure,
    record_uncertain,
    requeue,
    summary,
    undelivered,
)
from wijkbot.municipalities import Registry
from wijkbot.outbox import begin_send, claim_due, enqueue, mark_failed, mark_sent, postpone
from wijkbot.payloads import Edit

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def outbox(session: Session) -> list[models.OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))


def test_a_row_taken_over_by_another_claim_is_changed_only_by_the_new_claimant(session: Session) -> None:
    enqueue(session, purpose="reply:1:0", chat_id=42, text="hallo", now=NOW)
    [first] = claim_due(session, worker="a", now=NOW)
    old_token = first.claim_token or ""
    [second] = claim_due(session, worker="b", now=NOW + timedelta(minutes=3))  # a looked dead: reclaimed
    new_token = second.claim_token or ""
    assert new_token and new_token != old_token
    assert not begin_send(session, row_id=first.id, token=old_token, now=NOW + timedelta(minutes=3))
    assert not mark_sent(session, row_id=first.id, token=old_token, telegram_message_id=7, now=NOW)
    assert not mark_failed(session, row_id=first.id, token=old_token, error="late")
    assert not postpone(session, row_id=first.id, token=old_token, until=NOW)
    [row] = outbox(session)
    assert (row.status, row.claimed_by, row.telegram_message_id) == ("sending", "b", None)
    assert mark_sent(session, row_id=row.id, token=new_token, telegram_message_id=8, now=NOW)
    [row] = outbox(session)
    assert (row.status, row.telegram_message_id) == ("sent", 8)


def test_a_staff_member_who_cannot_be_reached_is_reported_to_the_inbox_at_most_once_a_day(
    session: Session, registry: Registry
) -> None:
    sanne = make_staff(session, registry, areas=["WK082611"], name="Sanne", telegram_id=5001)
    make_staff(session, registry, areas=["WK082613"], role="inbox", name="Loket", telegram_id=5002)
    make_staff(session, registry, areas=["WK082806"], role="inbox", name="Loket Oss", telegram_id=5003)
    for number, at in enumerate([NOW, NOW + timedelta(hours=23), NOW + timedelta(hours=25)]):
        enqueue(session, purpose=f"item:{number}:new:{sanne.id}", chat_id=5001, text="Nieuw idee", now=at)
        for row in claim_due(session, worker="w", now=at):  # the notification, and an alert sent earlier
            if row.purpose.startswith("delivery-alert:"):
                mark_sent(session, row_id=row.id, token=row.claim_token or "", telegram_message_id=1, now=at)
                continue
            error = "Forbidden: bot was blocked by the user"
            assert record_failure(session, row_id=row.id, token=row.claim_token or "", error=error, now=at)
    alerts = [r for r in outbox(session) if r.purpose.startswith("delivery-alert:")]
    assert [(a.recipient_chat_id, a.created_at) for a in alerts] == [
        (5002, NOW),
        (5002, NOW + timedelta(hours=25)),
    ]  # the inbox of Oosterhout only, not Oss's; none at 23 hours
    assert "Sanne" in alerts[0].payload["text"] and "geblokkeerd" in alerts[0].payload["text"]


def test_a_resident_s_failed_message_does_not_alert_the_inbox(session: Session, registry: Registry) -> None:
    make_staff(session, registry, areas=["WK082613"], role="inbox", telegram_id=5102)
    anna = make_resident(session, telegram_id=5101)
    enqueue(session, purpose="reply:9:0", chat_id=anna.telegram_id, text="Dank je", now=NOW)
    [row] = claim_due(session, worker="w", now=NOW)
    assert record_failure(session, row_id=row.id, token=row.claim_token or "", error="Bad Request", now=NOW)
    assert [r.status for r in outbox(session)] == ["failed"]


def test_an_uncertain_reply_to_a_resident_is_sent_once_more_only_after_the_maybe_delivered_delay(
    session: Session,
) -> None:
    enqueue(session, purpose="reply:1:0", chat_id=6001, text="Je idee is doorgestuurd", now=NOW)
    [row] = claim_due(session, worker="w", now=NOW)
    assert record_uncertain(session, row_id=row.id, token=row.claim_token or "", error="Timed out", now=NOW) is None
    assert claim_due(session, worker="w", now=NOW + MAYBE_DELIVERED_AFTER - timedelta(seconds=1)) == []
    [again] = claim_due(session, worker="w", now=NOW + MAYBE_DELIVERED_AFTER)
    later = NOW + MAYBE_DELIVERED_AFTER
    record_uncertain(session, row_id=again.id, token=again.claim_token or "", error="Timed out", now=later)
    [row] = outbox(session)
    assert row.status == "uncertain" and (row.error or "").startswith("maybe delivered")  # not a third time


def test_an_uncertain_staff_notification_is_held_and_reported_but_an_uncertain_edit_is_retried(
    session: Session, registry: Registry
) -> None:
    sanne = make_staff(session, registry, areas=["WK082611"], telegram_id=7001)
    make_staff(session, registry, areas=["WK082611"], role="inbox", telegram_id=7002)
    enqueue(session, purpose=f"item:3:new:{sanne.id}", chat_id=7001, text="Melding", now=NOW)
    enqueue(
        session,
        purpose="item:3:withdrawn:edit:1",
        chat_id=7001,
        message=Edit(message_id=12, text="#3 is ingetrokken."),
        now=NOW,
    )
    notification, edit = claim_due(session, worker="w", now=NOW)
    assert (
        record_uncertain(session, row_id=notification.id, token=notification.claim_token or "", error="x", now=NOW)
        is None
    )
    retry_at = record_uncertain(session, row_id=edit.id, token=edit.claim_token or "", error="x", now=NOW)
    assert retry_at == NOW + timedelta(seconds=2)
    rows = {r.purpose: r for r in outbox(session)}
    assert rows[f"item:3:new:{sanne.id}"].status == "uncertain"
    assert rows["item:3:withdrawn:edit:1"].status == "pending"
    assert [r.recipient_chat_id for r in rows.values() if r.purpose.startswith("delivery-alert:")] == [7002]


def test_failed_rows_are_listed_with_a_short_prefix_and_can_be_queued_again(session: Session) -> None:
    enqueue(session, purpose="reply:5:0", chat_id=8001, text="<b>Mijn adres is Dorpsstraat 12</b> en verder", now=NOW)
    enqueue(session, purpose="reply:6:0", chat_id=8002, text="nog onderweg", now=NOW + timedelta(hours=1))
    [failing] = claim_due(session, worker="w", now=NOW)  # the other is not due yet
    mark_failed(session, row_id=failing.id, token=failing.claim_token or "", error="Bad Request: chat not found\nmore")
    [listed] = undelivered(session, now=NOW + timedelta(hours=2))
    assert (listed.id, listed.status, listed.purpose, listed.chat_id) == (failing.id, "failed", "reply:5:0", 8001)
    assert listed.age == timedelta(hours=2) and listed.error == "Bad Request: chat not found"
    assert listed.prefix == "Mijn adres is Dorpss…" and "12" not in listed.prefix

    done = requeue(session, row_ids=[failing.id, 999], now=NOW + timedelta(hours=2))
    assert (done.requeued, done.not_undelivered) == ([failing.id], [999])
    row = outbox(session)[0]
    assert (row.status, row.attempts, row.not_before, row.error) == ("pending", 0, NOW + timedelta(hours=2), None)
    assert undelivered(session, now=NOW) == []


def test_the_summary_counts_failed_uncertain_and_waiting_rows(session: Session) -> None:
    for number in range(4):
        enqueue(session, purpose=f"reply:{number}:0", chat_id=9000 + number, text="x", now=NOW)
    enqueue(session, purpose="later", chat_id=9100, text="x", not_before=NOW + timedelta(days=1), now=NOW)
    first, second, *_ = claim_due(session, worker="w", limit=2, now=NOW)
    mark_failed(session, row_id=first.id, token=first.claim_token or "", error="x")
    record_uncertain(session, row_id=second.id, token=second.claim_token or "", error="x", now=NOW)  # resident: later
    counts = summary(session, now=NOW + timedelta(minutes=10))
    assert (counts.failed, counts.uncertain, counts.pending, counts.due) == (1, 0, 4, 2)
    assert counts.oldest_due == timedelta(minutes=10)
    assert "1 failed" in counts.describe() and "wijkbot outbox failed" in counts.describe()
