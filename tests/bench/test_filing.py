"""Counting items, staff notifications and receipts per resident (bench.filing), on a real database."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.orm import Session

from bench.filing import items_and_notices, tally
from tests.factories import make_resident, make_staff
from wijkbot.items import file_item
from wijkbot.services import Services


def file_report(session: Session, services: Services, telegram_id: int, text: str) -> None:
    resident = make_resident(session, telegram_id=telegram_id)
    file_item(
        session,
        services.registry,
        services.rules,
        resident=resident,
        kind="report",
        area_code="WK082613",
        text=text,
    )


def test_a_report_filed_twice_counts_as_a_duplicate_item_and_a_second_notification(
    session: Session, services: Services
) -> None:
    staff = make_staff(session, services.registry, areas=["WK082613"])
    file_report(session, services, 501, "lamp kapot bij de kerk")
    file_report(session, services, 501, "lamp kapot bij de kerk")  # the same turn run twice
    file_report(session, services, 502, "losse tegel op de stoep")
    items, notices = items_and_notices(session, [501, 502, 503])
    assert items == Counter({501: 2, 502: 1})
    assert notices == Counter({(501, staff.telegram_id): 2, (502, staff.telegram_id): 1})

    counts = tally([501, 502, 503], items, notices, {501: 1, 502: 2})
    assert counts == {
        "residents": 3,
        "items": 3,
        "residents_without_item": 1,
        "duplicate_items": 1,
        "staff_notified": 1,
        "notifications_twice": 1,
        "receipts": 3,
        "residents_without_receipt": 1,
        "receipts_twice": 1,
    }


def test_one_item_and_one_receipt_each_is_a_clean_round(session: Session, services: Services) -> None:
    make_staff(session, services.registry, areas=["WK082613"])
    for telegram_id in (601, 602):
        file_report(session, services, telegram_id, "grofvuil naast de container")
    items, notices = items_and_notices(session, [601, 602])
    counts = tally([601, 602], items, notices, {601: 1, 602: 1})
    assert counts["duplicate_items"] == counts["notifications_twice"] == counts["receipts_twice"] == 0
    assert counts["items"] == counts["receipts"] == 2
