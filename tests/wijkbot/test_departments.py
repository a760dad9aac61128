"""Departments (profiles.yaml) as a role `afdeling:<key>` with its own queue and rights: forwarding an item to a
department puts it in every member's inbox with its reminders, and they can take it on like any colleague
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from tests.factories import make_resident, make_staff
from wijkbot.departments import department_choices, forward_to_department
from wijkbot.items import file_item
from wijkbot.municipalities import Registry
from wijkbot.rights import DEPARTMENT, NotAllowed, may_see, rights_of
from wijkbot.routing import load_rules
from wijkbot.staff import StaffError, add_staff
from wijkbot.staff_loop import claim, close, remind_and_escalate, reply
from wijkbot.staff_loop import inbox as telegram_inbox
from wijkbot.workspace import inbox, item_view

DEN_HOUT = "WK082611"


def report(session: Session, registry: Registry) -> models.Item:
    resident = make_resident(session, first_name="Anna", telegram_id=8800)
    return file_item(
        session, registry, load_rules(registry), resident=resident, kind="report", area_code=DEN_HOUT, text="Boom om"
    ).item


def test_a_department_role_names_a_department_of_the_municipality_of_its_areas(
    session: Session, registry: Registry
) -> None:
    groen = add_staff(session, registry, name="Gert", role="afdeling:groen", area_codes=[DEN_HOUT], telegram_id=8801)
    assert rights_of(groen) == DEPARTMENT and not DEPARTMENT.area_items
    with pytest.raises(StaffError, match="Oosterhout has no department 'parkeren'; its departments: afdeling:gebied"):
        add_staff(session, registry, name="P", role="afdeling:parkeren", area_codes=[DEN_HOUT])
    with pytest.raises(StaffError, match="unknown role 'afdeling:'"):
        add_staff(session, registry, name="P", role="afdeling:", area_codes=[DEN_HOUT])


def test_forwarding_to_a_department_puts_it_in_every_members_queue_with_reminders(
    session: Session, registry: Registry
) -> None:
    sanne = make_staff(session, registry, areas=[DEN_HOUT], name="Sanne", telegram_id=8810)
    item = report(session, registry)
    gert = make_staff(session, registry, areas=[DEN_HOUT], name="Gert", role="afdeling:groen", telegram_id=8811)
    gea = make_staff(session, registry, areas=["WK082613"], name="Gea", role="afdeling:groen", telegram_id=8812)
    oud = make_staff(session, registry, areas=[DEN_HOUT], name="Oud", role="afdeling:groen", telegram_id=8813)
    oud.active = False
    oss = make_staff(session, registry, areas=["WK082801"], name="Oss", role="afdeling:groen", telegram_id=8814)
    add_staff(session, registry, name="Afval", role="afdeling:afval", area_codes=[DEN_HOUT])  # no Telegram: no queue
    session.flush()
    assert [m.name for m in (gert, gea, oss) if may_see(m, item)] == []  # a department sees only what it is sent
    choices = department_choices(session, registry, staff=sanne, item_id=item.id)
    assert [d.key for d in choices] == ["groen"]  # the municipality's departments that have staff
    with pytest.raises(NotAllowed):
        forward_to_department(session, registry, staff=sanne, item_id=item.id, key="afval")

    now = utcnow()
    done = forward_to_department(session, registry, staff=sanne, item_id=item.id, key="groen", now=now)
    assert done.message == f"#{item.id} is doorgestuurd naar de afdeling Groen."
    assert item.status == "new" and item.remind_at == now + timedelta(hours=24)
    department = {r.staff_id for r in item.recipients if r.reason == "department"}
    assert department == {gert.id, gea.id}  # active, in Oosterhout; not the deactivated one, not Oss's
    for member in (gert, gea):
        assert [row.id for row in inbox(session, registry, staff=member).rows] == [item.id]
        assert [found.id for found in telegram_inbox(session, staff=member)] == [item.id]
    notified = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.purpose.contains(f"item:{item.id}:forward"))
    ).all()
    assert sorted(row.recipient_chat_id for row in notified) == [8811, 8812]
    assert all("Boom om" in row.payload["text"] and row.payload.get("buttons") for row in notified)

    reminded, _ = remind_and_escalate(session, registry, now=now + timedelta(hours=25))
    assert reminded == 1
    reminders = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.purpose.startswith(f"item:{item.id}:remind:"))
    ).all()
    assert {8811, 8812} <= {row.recipient_chat_id for row in reminders}

    claim(session, staff=gea, item_id=item.id, now=now)
    answer = reply(session, registry, staff=gea, item_id=item.id, text="We zagen de boom morgen.", now=now)
    assert "naar de inwoner gestuurd" in answer.message
    to_resident = session.scalars(
        select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == 8800)
    ).one()
    assert "Gea (afdeling Groen)" in to_resident.payload["text"]
    close(session, staff=gert, item_id=item.id, outcome="done")
    assert item_view(session, registry, staff=gert, item_id=item.id).departments == []  # closed: nothing to forward


def test_a_council_member_cannot_forward_to_a_department(session: Session, registry: Registry) -> None:
    item = report(session, registry)
    kees = make_staff(session, registry, areas=[DEN_HOUT], name="Kees", role="council")
    item.recipients.append(models.ItemRecipient(staff_id=kees.id, reason="council"))
    make_staff(session, registry, areas=[DEN_HOUT], name="Gert", role="afdeling:groen", telegram_id=8821)
    session.flush()
    with pytest.raises(NotAllowed):
        forward_to_department(session, registry, staff=kees, item_id=item.id, key="groen")
    with pytest.raises(NotAllowed):
        department_choices(session, registry, staff=kees, item_id=item.id)
