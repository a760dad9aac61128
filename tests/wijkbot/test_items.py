"""Filing an item: stored, routed and its notifications queued in one transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from db.session import transaction
from tests.factories import make_resident, make_staff
from wijkbot.items import file_item, items_of_resident, render_notification
from wijkbot.services import Services


def test_a_filed_idea_is_stored_with_its_area_and_notifies_its_staff(session: Session, services: Services) -> None:
    staff = make_staff(session, services.registry, areas=["WK082613"])
    resident = make_resident(session)
    filed = file_item(
        session,
        services.registry,
        services.rules,
        resident=resident,
        kind="idea",
        area_code="WK082613",
        text="Een jeu de boules baan bij het dorpshuis",
    )
    assert filed.item.area_code == "WK082613" and filed.item.assigned_staff_id == staff.id
    assert [e.kind for e in filed.item.events] == ["filed"]
    rows = session.scalars(select(models.OutboxMessage)).all()
    assert [(r.recipient_chat_id, r.item_id) for r in rows] == [(staff.telegram_id, filed.item.id)]
    assert "jeu de boules" in rows[0].payload["text"]
    assert rows[0].payload["buttons"][0][0]["callback_data"] == f"item:{filed.item.id}:claim"


def test_a_failed_transaction_leaves_neither_item_nor_notification(services: Services) -> None:
    with pytest.raises(RuntimeError), transaction(services.sessions) as session:
        make_staff(session, services.registry, areas=["WK082613"])
        resident = make_resident(session)
        file_item(
            session,
            services.registry,
            services.rules,
            resident=resident,
            kind="report",
            area_code="WK082613",
            text="Kapotte lantaarnpaal",
        )
        raise RuntimeError("crash before commit")
    with transaction(services.sessions) as session:
        assert session.scalars(select(models.Item)).all() == []
        assert session.scalars(select(models.OutboxMessage)).all() == []


def test_resident_text_is_escaped_for_staff(session: Session, services: Services) -> None:
    resident = make_resident(session, first_name="<b>Piet</b>")
    filed = file_item(
        session,
        services.registry,
        services.rules,
        resident=resident,
        kind="question",
        area_code="WK082613",
        text="<script>alert(1)</script> & meer",
    )
    html = render_notification(services.registry, item=filed.item, resident=resident)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; meer" in html
    assert "&lt;b&gt;Piet&lt;/b&gt;" in html


def test_a_resident_only_sees_their_own_items(session: Session, services: Services) -> None:
    anna, bram = make_resident(session, first_name="Anna"), make_resident(session, first_name="Bram")
    for resident, text in ((anna, "bankje"), (bram, "speeltuin")):
        file_item(
            session, services.registry, services.rules, resident=resident, kind="idea", area_code="WK082611", text=text
        )
    assert [i.text for i in items_of_resident(session, resident_id=anna.id)] == ["bankje"]
