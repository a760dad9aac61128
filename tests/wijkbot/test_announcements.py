"""Announcements (wijkbot.announcements, issue 12): only the subscribers of the creator's own wijk, within the
weekly cap and quiet hours; Ik kom and Herinner me counted once; the reminder the day before; counts for the
sender; export and erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from tests.factories import make_staff
from tests.polls_support import DEN_HOUT, NOW, POLICY, SLOTJES, ZONE, make_subscriber, outbox_rows
from wijkbot.announcements import (
    AnnouncementError,
    Draft,
    answer,
    count_recipients,
    counts,
    counts_text,
    create_announcement,
)
from wijkbot.municipalities import Registry
from wijkbot.outbox import claim_due
from wijkbot.outreach import add_contacts, screen_claimed
from wijkbot.privacy import erase_resident, export_resident
from wijkbot.residents import set_outreach

DAY = timedelta(days=1)
MEETING = datetime(2026, 12, 3, 19, 30, tzinfo=ZONE)  # NOW is 24 november, 11:00 in Amsterdam


def draft(**changes: object) -> Draft:
    values: dict[str, object] = {
        "title": "Openbare vergadering wijkraad",
        "starts_at": MEETING,
        "place": "Wijkcentrum De Slotjes",
        "text": "Op de agenda: het park en de nieuwe speeltuin.",
        "area_codes": [SLOTJES],
    }
    values.update(changes)
    return Draft(**values)  # type: ignore[arg-type]


def raad(session: Session, registry: Registry, areas: list[str] | None = None) -> models.StaffMember:
    return make_staff(session, registry, areas=areas or [SLOTJES], role="council", name="Wim")


def test_it_reaches_only_the_opted_in_residents_of_the_creators_wijk(session: Session, registry: Registry) -> None:
    member = raad(session, registry)
    anna = make_subscriber(session, SLOTJES)
    make_subscriber(session, SLOTJES, opted_in=False)
    make_subscriber(session, SLOTJES, blocked=True)
    make_subscriber(session, DEN_HOUT)  # another wijk
    assert count_recipients(session, area_codes=[SLOTJES]) == 1
    announcement = create_announcement(session, registry, creator=member, draft=draft(), policy=POLICY, now=NOW)
    [row] = outbox_rows(session, purpose_prefix="announce:")
    assert (row.recipient_chat_id, row.purpose, announcement.recipients) == (anna.telegram_id, "announce:1", 1)
    text = row.payload["text"]
    assert "Openbare vergadering wijkraad" in text and "3 december om 19:30" in text and "De Slotjes" in text
    assert "/stop" in text and "Wim" in text
    labels = [b["text"] for line in row.payload["buttons"] for b in line]
    assert labels == ["Ik kom", "Herinner me"]
    assert row.payload["outreach"]["kind"] == "announcement"


def test_only_to_ones_own_area_and_only_by_those_who_may(session: Session, registry: Registry) -> None:
    member = raad(session, registry)
    with pytest.raises(AnnouncementError, match="eigen gebied"):
        create_announcement(
            session, registry, creator=member, draft=draft(area_codes=[DEN_HOUT]), policy=POLICY, now=NOW
        )
    inbox = make_staff(session, registry, areas=[SLOTJES], role="inbox")
    with pytest.raises(AnnouncementError, match="medewerker of raadslid"):
        create_announcement(session, registry, creator=inbox, draft=draft(), policy=POLICY, now=NOW)
    with pytest.raises(AnnouncementError, match="een uur in de toekomst"):
        create_announcement(
            session, registry, creator=member, draft=draft(starts_at=NOW + timedelta(minutes=30)), policy=POLICY,
            now=NOW,
        )  # fmt: skip
    with pytest.raises(AnnouncementError, match="leeg"):
        create_announcement(session, registry, creator=member, draft=draft(title="  "), policy=POLICY, now=NOW)
    assert outbox_rows(session, purpose_prefix="announce:") == []


def test_the_weekly_cap_delays_it_or_leaves_a_resident_out_and_quiet_hours_hold_it(
    session: Session, registry: Registry
) -> None:
    member = raad(session, registry)
    free = make_subscriber(session, SLOTJES)
    polled_2_days_ago = make_subscriber(session, SLOTJES)
    polled_today = make_subscriber(session, SLOTJES)
    add_contacts(
        session,
        [
            {"resident_id": polled_2_days_ago.id, "kind": "poll", "ref": "poll:9", "at": NOW - 2 * DAY},
            {"resident_id": polled_today.id, "kind": "poll", "ref": "poll:9", "at": NOW},
        ],
    )
    late = NOW.replace(hour=20, minute=30)  # 21:30 in Amsterdam: quiet
    soon = draft(starts_at=datetime(2026, 11, 30, 19, 30, tzinfo=ZONE))
    create_announcement(session, registry, creator=member, draft=soon, policy=POLICY, now=late)
    rows = {row.recipient_chat_id: row for row in outbox_rows(session, purpose_prefix="announce:")}
    # free: held to the morning; 2 days ago: when the week is over (before the meeting); today: the week ends
    # after the meeting, so not at all
    assert set(rows) == {free.telegram_id, polled_2_days_ago.telegram_id}
    assert rows[free.telegram_id].not_before == datetime(2026, 11, 25, 9, 0, tzinfo=ZONE)
    assert rows[polled_2_days_ago.telegram_id].not_before == NOW + 5 * DAY
    # the announcement counts for the cap of the next outreach
    contacts = session.scalars(
        select(models.OutreachContact).where(models.OutreachContact.kind == "announcement")
    ).all()
    assert len(contacts) == 2


def test_an_opt_out_stops_a_queued_announcement(session: Session, registry: Registry) -> None:
    member = raad(session, registry)
    anna = make_subscriber(session, SLOTJES)
    create_announcement(session, registry, creator=member, draft=draft(), policy=POLICY, now=NOW)
    set_outreach(session, anna, opt_in=False, via="/stop", now=NOW)
    claimed = claim_due(session, worker="test", now=NOW)
    assert screen_claimed(session, claimed, policy=POLICY, now=NOW) == []
    assert [row.status for row in outbox_rows(session, purpose_prefix="announce:")] == ["skipped"]


def test_ik_kom_and_herinner_me_are_counted_once_and_the_reminder_comes_the_day_before(
    session: Session, registry: Registry
) -> None:
    member = raad(session, registry)
    anna, bram = make_subscriber(session, SLOTJES), make_subscriber(session, SLOTJES)
    stranger = make_subscriber(session, DEN_HOUT)
    made = create_announcement(session, registry, creator=member, draft=draft(), policy=POLICY, now=NOW)

    def press(resident: models.Resident, choice: str, at: datetime = NOW) -> str:
        return answer(
            session, registry, announcement_id=made.id, telegram_id=resident.telegram_id, choice=choice, zone=ZONE,
            now=at,
        )  # fmt: skip

    assert "Fijn dat je komt" in press(anna, "come")
    assert "Fijn dat je komt" in press(anna, "come")  # twice: counted once
    assert "herinnering" in press(bram, "remind")
    assert "werkt niet" in press(stranger, "come")  # it was not sent to them
    [reminder] = outbox_rows(session, purpose_prefix="announce:1:remind")
    assert reminder.recipient_chat_id == bram.telegram_id
    assert reminder.not_before == datetime(2026, 12, 2, 10, 0, tzinfo=ZONE)
    assert "Herinnering: Openbare vergadering wijkraad" in reminder.payload["text"]
    # on the day itself it is nearly time: no reminder; after the meeting: no answers any more
    assert "bijna zover" in press(anna, "remind", MEETING - timedelta(hours=3))
    assert "al geweest" in press(anna, "come", MEETING + DAY)
    found = counts(session, announcement_id=made.id)
    assert (found.recipients, found.sent, found.waiting, found.come, found.remind) == (2, 0, 2, 1, 2)
    text = counts_text(session, staff=member, announcement_id=made.id)
    assert "Verstuurd: 0 van 2" in text and "Ik kom: 1" in text and "Herinner me: 2" in text
    outsider = make_staff(session, registry, areas=[DEN_HOUT])
    assert "niet bekijken" in counts_text(session, staff=outsider, announcement_id=made.id)


def test_the_answers_are_in_the_export_and_gone_after_erasure(session: Session, registry: Registry) -> None:
    member = raad(session, registry)
    anna = make_subscriber(session, SLOTJES)
    made = create_announcement(session, registry, creator=member, draft=draft(), policy=POLICY, now=NOW)
    answer(session, registry, announcement_id=made.id, telegram_id=anna.telegram_id, choice="come", zone=ZONE, now=NOW)
    exported = export_resident(session, telegram_id=anna.telegram_id)
    assert exported is not None
    assert exported["announcement_answers"] == [
        {"announcement": made.id, "title": "Openbare vergadering wijkraad", "answer": "come", "at": NOW.isoformat()}
    ]
    erase_resident(session, telegram_id=anna.telegram_id)
    assert session.scalars(select(models.AnnouncementReply)).all() == []
    assert counts(session, announcement_id=made.id).come == 0
    assert NOW.tzinfo is UTC
