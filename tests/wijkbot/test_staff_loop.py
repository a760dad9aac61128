"""The staff loop in plain functions: claim, reply, relay, forward, close, remind and escalate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from db.session import transaction
from tests.factories import make_resident, make_staff
from wijkbot.items import file_item
from wijkbot.services import Services
from wijkbot.staff_loop import (
    NotAllowed,
    advise,
    awaiting_of,
    claim,
    close,
    expired_text,
    forward,
    forward_candidates,
    inbox,
    open_thread_for,
    relay_resident_message,
    remind_and_escalate,
    reply,
    set_awaiting,
)


def _outbox(session: Session) -> list[models.OutboxMessage]:
    return list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))


@pytest.fixture
def filed(
    session: Session, services: Services
) -> tuple[models.Item, models.StaffMember, models.StaffMember, models.Resident]:
    first = make_staff(session, services.registry, areas=["WK082613"], name="Sanne")
    second = make_staff(session, services.registry, areas=["WK082613"], name="Joost")
    resident = make_resident(session, first_name="Anna")
    item = file_item(
        session,
        services.registry,
        services.rules,
        resident=resident,
        kind="idea",
        area_code="WK082613",
        text="Een bankje bij de vijver",
    ).item
    return item, first, second, resident


def test_claiming_tells_the_colleagues_who_took_it(session: Session, filed: tuple) -> None:  # type: ignore[type-arg]
    item, sanne, joost, _ = filed
    assert claim(session, staff=sanne, item_id=item.id).message == f"Je hebt #{item.id} opgepakt."
    assert item.status == "claimed" and item.claimed_by_id == sanne.id
    told = [r for r in _outbox(session) if r.purpose.startswith(f"item:{item.id}:claimed")]
    assert [r.recipient_chat_id for r in told] == [joost.telegram_id]
    assert "opgepakt door Joost" in claim(session, staff=joost, item_id=item.id).message.replace("Sanne", "Joost")


def test_a_staff_member_of_another_area_cannot_touch_the_item(
    session: Session, services: Services, filed: tuple
) -> None:  # type: ignore[type-arg]
    item = filed[0]
    outsider = make_staff(session, services.registry, areas=["WK082611"], name="Den Hout")
    with pytest.raises(NotAllowed):
        claim(session, staff=outsider, item_id=item.id)
    with pytest.raises(NotAllowed):
        reply(session, services.registry, staff=outsider, item_id=item.id, text="hoi")
    council = make_staff(session, services.registry, areas=["WK082613"], role="council", name="Raadslid")
    with pytest.raises(NotAllowed):
        close(session, staff=council, item_id=item.id, outcome="done")


def test_reply_reaches_the_resident_and_their_answer_comes_back(
    session: Session, services: Services, filed: tuple
) -> None:  # type: ignore[type-arg]
    item, sanne, _, anna = filed
    reply(session, services.registry, staff=sanne, item_id=item.id, text="Leuk idee! Waar precies?")
    to_resident = [r for r in _outbox(session) if r.recipient_chat_id == anna.telegram_id]
    assert len(to_resident) == 1 and "Leuk idee! Waar precies?" in to_resident[0].payload["text"]
    assert item.status == "answered" and item.claimed_by_id == sanne.id
    thread = open_thread_for(session, resident_id=anna.id)
    assert thread is not None and thread.id == item.id
    relay_resident_message(session, services.registry, item=thread, resident=anna, text="Bij de <vijver>", update_id=1)
    back = [r for r in _outbox(session) if r.purpose == f"item:{item.id}:resident:1"]
    assert back[0].recipient_chat_id == sanne.telegram_id and "&lt;vijver&gt;" in back[0].payload["text"]


def test_a_quiet_thread_no_longer_captures_the_resident(session: Session, services: Services, filed: tuple) -> None:  # type: ignore[type-arg]
    item, sanne, _, anna = filed
    reply(session, services.registry, staff=sanne, item_id=item.id, text="Dank je")
    assert open_thread_for(session, resident_id=anna.id, now=utcnow() + timedelta(days=3)) is None


def test_closing_tells_the_resident_what_was_done(session: Session, filed: tuple) -> None:  # type: ignore[type-arg]
    item, sanne, _, anna = filed
    close(session, staff=sanne, item_id=item.id, outcome="done")
    row = next(r for r in _outbox(session) if r.purpose == f"item:{item.id}:closed")
    assert row.recipient_chat_id == anna.telegram_id
    assert "Je zei: «Een bankje bij de vijver»" in row.payload["text"]
    assert "Wij deden: Het is opgepakt en uitgevoerd." in row.payload["text"]
    assert item.status == "closed" and open_thread_for(session, resident_id=anna.id) is None
    assert "al afgerond" in close(session, staff=sanne, item_id=item.id, outcome="done").message


def test_forwarding_to_a_colleague_of_another_area_moves_the_item(
    session: Session, services: Services, filed: tuple
) -> None:  # type: ignore[type-arg]
    item, sanne, _, _ = filed
    den_hout = make_staff(session, services.registry, areas=["WK082611"], name="Den Hout")
    forward(session, services.registry, staff=sanne, item_id=item.id, to_staff_id=den_hout.id)
    assert item.area_code == "WK082611" and item.assigned_staff_id == den_hout.id
    assert any(r.recipient_chat_id == den_hout.telegram_id and "buttons" in r.payload for r in _outbox(session))
    assert item in inbox(session, staff=den_hout)
    oss = make_staff(session, services.registry, areas=["WK082806"], role="wijkcoordinator", name="Oss")
    with pytest.raises(NotAllowed):
        forward(session, services.registry, staff=den_hout, item_id=item.id, to_staff_id=oss.id)


def test_an_unclaimed_item_reminds_then_escalates(session: Session, services: Services, filed: tuple) -> None:  # type: ignore[type-arg]
    item, sanne, joost, _ = filed
    lead = make_staff(session, services.registry, areas=["WK082613"], role="lead", name="Wethouder")
    assert remind_and_escalate(session, services.registry, now=utcnow()) == (0, 0)
    assert remind_and_escalate(session, services.registry, now=utcnow() + timedelta(hours=25)) == (1, 0)
    reminders = {r.recipient_chat_id for r in _outbox(session) if ":remind:" in r.purpose}
    assert reminders == {sanne.telegram_id, joost.telegram_id}
    assert remind_and_escalate(session, services.registry, now=utcnow() + timedelta(hours=73)) == (0, 1)
    escalations = [r for r in _outbox(session) if ":escalate:" in r.purpose]
    assert [r.recipient_chat_id for r in escalations] == [lead.telegram_id]
    assert claim(session, staff=lead, item_id=item.id).item.status == "claimed"


def test_a_claimed_item_is_not_reminded(session: Session, services: Services, filed: tuple) -> None:  # type: ignore[type-arg]
    item, sanne, _, _ = filed
    claim(session, staff=sanne, item_id=item.id)
    assert remind_and_escalate(session, services.registry, now=utcnow() + timedelta(days=5)) == (0, 0)


def test_a_council_member_s_inbox_shows_only_the_ideas_copied_to_them(session: Session, services: Services) -> None:
    ruwaard = "WK082806"  # Oss: ideas also go to the Wijkraad Ruwaard (routing.yaml)
    make_staff(session, services.registry, areas=[ruwaard], role="wijkcoordinator", name="Coördinator")
    council = make_staff(session, services.registry, areas=[ruwaard], role="council", name="Raadslid")
    resident = make_resident(session)
    filed = {
        kind: file_item(
            session, services.registry, services.rules, resident=resident, kind=kind, area_code=ruwaard, text=kind
        ).item
        for kind in ("idea", "report", "question", "contact")
    }
    assert [item.kind for item in inbox(session, staff=council)] == ["idea"]
    assert filed["idea"] in inbox(session, staff=council)


def _copied_to_the_raad(session: Session, services: Services) -> tuple[models.StaffMember, models.Item]:
    council = make_staff(session, services.registry, areas=["WK082806"], role="council", name="Raadslid")
    item = file_item(
        session,
        services.registry,
        services.rules,
        resident=make_resident(session),
        kind="idea",
        area_code="WK082806",
        text="Een moestuin",
    ).item
    assert any(r.staff_id == council.id and r.reason == "council" for r in item.recipients)
    return council, item


def test_a_council_member_cannot_handle_the_idea_copied_to_them(session: Session, services: Services) -> None:
    council, item = _copied_to_the_raad(session, services)
    for act in (
        lambda: claim(session, staff=council, item_id=item.id),
        lambda: close(session, staff=council, item_id=item.id, outcome="done"),
        lambda: forward_candidates(session, services.registry, staff=council, item_id=item.id),
    ):
        with pytest.raises(NotAllowed):
            act()
    assert item.status == "new"


def test_of_two_colleagues_pressing_oppakken_together_one_claims_it_and_the_other_hears_who(
    services: Services,
) -> None:
    with transaction(services.sessions) as session:
        sanne = make_staff(session, services.registry, areas=["WK082613"], name="Sanne")
        joost = make_staff(session, services.registry, areas=["WK082613"], name="Joost")
        item_id = file_item(
            session,
            services.registry,
            services.rules,
            resident=make_resident(session),
            kind="idea",
            area_code="WK082613",
            text="Een bankje",
        ).item.id
    # both presses read the item while it is still unclaimed; Sanne's commits first
    with services.sessions() as first, services.sessions() as second:
        first_item, second_item = first.get(models.Item, item_id), second.get(models.Item, item_id)
        assert first_item is not None and second_item is not None
        assert first_item.claimed_by_id is None and second_item.claimed_by_id is None
        won = claim(first, staff=first.get(models.StaffMember, sanne.id), item_id=item_id)  # type: ignore[arg-type]
        first.commit()
        lost = claim(second, staff=second.get(models.StaffMember, joost.id), item_id=item_id)  # type: ignore[arg-type]
        second.commit()
    assert won.message == f"Je hebt #{item_id} opgepakt."
    assert lost.message == f"#{item_id} is al opgepakt door Sanne."
    with transaction(services.sessions) as session:
        item = session.get(models.Item, item_id)
        assert item is not None and item.claimed_by_id == sanne.id
        assert [e.kind for e in item.events].count("claimed") == 1


def test_a_forwarded_item_reminds_its_new_holder_then_escalates_to_the_lead_of_its_area(
    session: Session, services: Services, filed: tuple
) -> None:  # type: ignore[type-arg]
    item, sanne, joost, _ = filed
    den_hout = make_staff(session, services.registry, areas=["WK082611"], name="Den Hout")
    lead = make_staff(session, services.registry, areas=["WK082611"], role="lead", name="Wethouder")
    claim(session, staff=sanne, item_id=item.id)  # a claimed item is not reminded ...
    start = utcnow()
    forward(session, services.registry, staff=sanne, item_id=item.id, to_staff_id=den_hout.id, now=start)
    assert remind_and_escalate(session, services.registry, now=start + timedelta(hours=23)) == (0, 0)
    assert remind_and_escalate(session, services.registry, now=start + timedelta(hours=25)) == (1, 0)
    reminders = [r.recipient_chat_id for r in _outbox(session) if ":remind:" in r.purpose]
    assert reminders == [den_hout.telegram_id]  # ... but the forwarded one reminds whoever has it now
    assert remind_and_escalate(session, services.registry, now=start + timedelta(hours=73)) == (0, 1)
    escalations = [r.recipient_chat_id for r in _outbox(session) if ":escalate:" in r.purpose]
    assert escalations == [lead.telegram_id]
    assert joost.telegram_id not in reminders


def test_a_pressed_beantwoorden_waits_thirty_minutes_for_the_text(filed: tuple) -> None:  # type: ignore[type-arg]
    item, sanne, _, _ = filed
    pressed = utcnow()
    set_awaiting(sanne, action="reply", item_id=item.id, now=pressed)
    soon = awaiting_of(sanne, now=pressed + timedelta(minutes=29))
    assert soon is not None and (soon.action, soon.item_id, soon.expired) == ("reply", item.id, False)
    late = awaiting_of(sanne, now=pressed + timedelta(minutes=31))
    assert late is not None and late.expired
    assert "niet verstuurd" in expired_text(late)
    set_awaiting(sanne, action=None)
    assert awaiting_of(sanne) is None


def test_the_raad_answers_the_resident_on_its_copy_marked_as_the_raad_and_the_staff_see_it(
    session: Session, services: Services
) -> None:
    coordinator = make_staff(session, services.registry, areas=["WK082806"], role="wijkcoordinator", name="Co")
    council, item = _copied_to_the_raad(session, services)
    copy = next(r for r in _outbox(session) if r.recipient_chat_id == council.telegram_id)
    assert [b["callback_data"] for row in copy.payload["buttons"] for b in row] == [
        f"item:{item.id}:reply",
        f"item:{item.id}:advise",
    ]
    assert "kopie voor de raad" in copy.payload["text"] and "Advies geven" in copy.payload["text"]
    reply(session, services.registry, staff=council, item_id=item.id, text="Kom naar onze vergadering!")
    assert (item.status, item.claimed_by_id, item.thread_staff_id) == ("new", None, council.id)  # nobody's claim
    resident = session.get(models.Resident, item.resident_id)
    assert resident is not None
    to_resident = next(r for r in _outbox(session) if r.purpose.startswith(f"item:{item.id}:reply:"))
    assert to_resident.recipient_chat_id == resident.telegram_id
    assert "Antwoord van Raadslid (wijk- of dorpsraad)" in to_resident.payload["text"]
    told = [
        r
        for r in _outbox(session)
        if r.recipient_chat_id == coordinator.telegram_id and "antwoordde" in r.payload["text"]
    ]
    assert len(told) == 1 and "Kom naar onze vergadering!" in told[0].payload["text"]


def test_the_raad_advises_the_staff_on_an_item_and_the_resident_never_sees_it(
    session: Session, services: Services
) -> None:
    coordinator = make_staff(session, services.registry, areas=["WK082806"], role="wijkcoordinator", name="Co")
    council, item = _copied_to_the_raad(session, services)
    resident = session.get(models.Resident, item.resident_id)
    assert resident is not None
    before = {r.id for r in _outbox(session)}
    outcome = advise(session, services.registry, staff=council, item_id=item.id, text="Past bij de buurtmoestuin")
    assert "wijkcoördinator" in outcome.message
    assert [(e.kind, e.staff_id, e.text) for e in item.events][-1] == (
        "advice",
        council.id,
        "Past bij de buurtmoestuin",
    )
    new = [r for r in _outbox(session) if r.id not in before]
    assert [r.recipient_chat_id for r in new] == [coordinator.telegram_id]
    assert "Advies van Raadslid" in new[0].payload["text"] and "De inwoner ziet dit niet" in new[0].payload["text"]
    with pytest.raises(NotAllowed, match="leeg"):
        advise(session, services.registry, staff=council, item_id=item.id, text="  ")
    other = make_staff(session, services.registry, areas=["WK082800"], role="council", name="Andere raad")
    with pytest.raises(NotAllowed):
        advise(session, services.registry, staff=other, item_id=item.id, text="ook wat")
    with pytest.raises(NotAllowed):  # advice is the raad's; staff write notes
        advise(session, services.registry, staff=coordinator, item_id=item.id, text="notitie")
