"""Staff records through their life: invited, bound, given other areas, deactivated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from tests.factories import make_resident, make_staff
from wijkbot.items import file_item
from wijkbot.rights import NotAllowed
from wijkbot.services import Services
from wijkbot.staff import (
    StaffError,
    accept_invite,
    deactivate_staff,
    find_staff_by_telegram_id,
    invite_staff,
    is_staff,
    set_staff_areas,
)
from wijkbot.staff_loop import claim, inbox, open_thread_for, remind_and_escalate, reply


def _file(session: Session, services: Services, area: str = "WK082613", kind: str = "report") -> models.Item:
    return file_item(
        session, services.registry, services.rules, resident=make_resident(session), kind=kind, area_code=area, text="x"
    ).item


def test_an_invite_stops_working_after_seven_days(session: Session, services: Services) -> None:
    invited = invite_staff(session, services.registry, role="wijkmakelaar", area_codes=["WK082613"])
    code, made = invited.invite_code or "", invited.created_at
    assert (
        accept_invite(session, code=code, telegram_id=7001, name="Laat", now=made + timedelta(days=7, seconds=1))
        is None
    )
    assert invited.telegram_id is None
    bound = accept_invite(session, code=code, telegram_id=7001, name="Op tijd", now=made + timedelta(days=6))
    assert bound is not None and bound.telegram_id == 7001


def test_the_invite_period_is_configurable(session: Session, services: Services) -> None:
    invited = invite_staff(session, services.registry, role="wijkmakelaar", area_codes=["WK082613"])
    later = invited.created_at + timedelta(days=2)
    assert (
        accept_invite(
            session, code=invited.invite_code or "", telegram_id=7002, name="A", now=later, valid_for=timedelta(days=1)
        )
        is None
    )


def test_deactivating_closes_the_open_thread_and_gives_the_claimed_item_back(
    session: Session, services: Services
) -> None:
    sanne = make_staff(session, services.registry, areas=["WK082613"], name="Sanne")
    joost = make_staff(session, services.registry, areas=["WK082613"], name="Joost")
    item = _file(session, services)
    reply(session, services.registry, staff=sanne, item_id=item.id, text="Waar precies?")
    assert item.resident_id is not None and open_thread_for(session, resident_id=item.resident_id) is not None
    now = utcnow()
    done = deactivate_staff(session, staff_id=sanne.id, now=now)
    assert (done.threads_closed, done.items_released) == (1, 1)
    assert open_thread_for(session, resident_id=item.resident_id) is None  # the resident talks to the assistant
    assert (item.status, item.claimed_by_id, item.thread_staff_id) == ("new", None, None)
    assert find_staff_by_telegram_id(session, telegram_id=sanne.telegram_id or 0) is None
    assert remind_and_escalate(session, services.registry, now=now) == (1, 0)
    reminded = session.scalars(
        select(models.OutboxMessage.recipient_chat_id).where(models.OutboxMessage.purpose.contains(":remind:"))
    ).all()
    assert reminded == [joost.telegram_id]  # not the deactivated member
    assert claim(session, staff=joost, item_id=item.id).message == f"Je hebt #{item.id} opgepakt."
    with pytest.raises(NotAllowed):
        inbox(session, staff=sanne)


def test_a_deactivated_member_receives_no_new_items(session: Session, services: Services) -> None:
    sanne = make_staff(session, services.registry, areas=["WK082613"], name="Sanne")
    joost = make_staff(session, services.registry, areas=["WK082613"], name="Joost")
    deactivate_staff(session, staff_id=sanne.id)
    assert [r.staff_id for r in _file(session, services).recipients] == [joost.id]


def test_set_areas_moves_where_new_items_go(session: Session, services: Services) -> None:
    sanne = make_staff(session, services.registry, areas=["WK082613"], name="Sanne")
    set_staff_areas(session, services.registry, staff_id=sanne.id, area_codes=["WK082611", "WK082612"])
    assert sanne.area_codes == ["WK082611", "WK082612"]
    assert [r.staff_id for r in _file(session, services, area="WK082611").recipients] == [sanne.id]
    assert sanne.id not in [r.staff_id for r in _file(session, services, area="WK082613").recipients]
    with pytest.raises(StaffError, match="unknown area"):
        set_staff_areas(session, services.registry, staff_id=sanne.id, area_codes=["WK999999"])
    with pytest.raises(StaffError, match="no staff member"):
        deactivate_staff(session, staff_id=999_999)


def test_only_an_active_staff_member_s_account_counts_as_staff(session: Session, services: Services) -> None:
    member = make_staff(session, services.registry, areas=["WK082613"], telegram_id=7301)
    make_resident(session, telegram_id=7302)
    assert (is_staff(session, telegram_id=7301), is_staff(session, telegram_id=7302)) == (True, False)
    member.active = False
    session.flush()
    assert is_staff(session, telegram_id=7301) is False
