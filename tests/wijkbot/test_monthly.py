"""The monthly message per wijk (wijkbot.monthly, issue 12): reach with a chart and the anonymous "wat speelt
er in de wijk", to the area's raad and staff, once, on the 1st from 09:00 (a moved clock)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from tests.factories import make_staff
from tests.polls_support import DEN_HOUT, SLOTJES, ZONE, make_subscriber
from wijkbot.items import file_item
from wijkbot.monthly import previous_month, send_monthly_reports
from wijkbot.services import Services

FIRST = datetime(2026, 12, 1, 10, 0, tzinfo=ZONE)
NOVEMBER = datetime(2026, 11, 10, 12, 0, tzinfo=ZONE)
OCTOBER = datetime(2026, 10, 20, 12, 0, tzinfo=ZONE)


def rows(session: Session) -> list[models.OutboxMessage]:
    return list(
        session.scalars(
            select(models.OutboxMessage)
            .where(models.OutboxMessage.purpose.like("monthly:%"))
            .order_by(models.OutboxMessage.id)
        )
    )


def item(session: Session, services: Services, kind: str, at: datetime, *, closed: datetime | None = None) -> int:
    resident = make_subscriber(session, SLOTJES, opted_in=False, first_name="Geheim")
    filed = file_item(
        session, services.registry, services.rules, resident=resident, kind=kind, area_code=SLOTJES,
        text="Mijn buurman Jansen parkeert altijd op de stoep",
    ).item  # fmt: skip
    filed.created_at = at
    if closed is not None:
        filed.status, filed.closed_at = "closed", closed
    session.flush()
    return filed.id


def test_the_month_before_is_the_whole_calendar_month_in_local_time() -> None:
    start, end = previous_month(FIRST, ZONE)
    assert (start, end) == (datetime(2026, 11, 1, tzinfo=ZONE), datetime(2026, 12, 1, tzinfo=ZONE))
    start, end = previous_month(datetime(2027, 1, 1, 9, 30, tzinfo=ZONE), ZONE)
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=ZONE), datetime(2027, 1, 1, tzinfo=ZONE))


def test_on_the_first_the_raad_and_staff_of_each_wijk_get_reach_and_what_plays_once(
    session: Session, services: Services
) -> None:
    registry = services.registry
    raad = make_staff(session, registry, areas=[SLOTJES], role="council", telegram_id=951)
    maker = make_staff(session, registry, areas=[SLOTJES], telegram_id=952)
    lead = make_staff(session, registry, areas=[SLOTJES, DEN_HOUT], role="lead", telegram_id=953)
    make_staff(session, registry, areas=[DEN_HOUT], telegram_id=954)  # Den Hout's own report, not Slotjes'
    make_staff(session, registry, areas=[SLOTJES], role="inbox", telegram_id=955)  # the inbox: not
    for source in ("flyer", "flyer", None):
        resident = make_subscriber(session, SLOTJES)
        resident.source, resident.consent_at = source, NOVEMBER
    old = make_subscriber(session, SLOTJES)
    old.consent_at = OCTOBER
    oldest = item(session, services, "report", OCTOBER)
    item(session, services, "idea", NOVEMBER)
    item(session, services, "idea", NOVEMBER)
    item(session, services, "question", NOVEMBER, closed=NOVEMBER)
    session.flush()

    assert send_monthly_reports(session, registry, now=FIRST.replace(hour=8, minute=59), zone=ZONE) == 0
    assert send_monthly_reports(session, registry, now=datetime(2026, 12, 2, 10, tzinfo=ZONE), zone=ZONE) == 0
    assert send_monthly_reports(session, registry, now=FIRST, zone=ZONE) == 2  # Slotjes and Den Hout
    slotjes = [r for r in rows(session) if r.purpose.startswith(f"monthly:{SLOTJES}:2026-11")]
    texts = {r.recipient_chat_id: r.payload["text"] for r in slotjes if r.method == "sendMessage"}
    photos = {r.recipient_chat_id for r in slotjes if r.method == "sendPhoto"}
    assert set(texts) == photos == {raad.telegram_id, maker.telegram_id, lead.telegram_id}
    text = texts[raad.telegram_id]
    assert "Slotjes in november 2026" in text
    assert "4 inwoners aangemeld van de " in text and "3 nieuw in november 2026" in text
    assert "(none) 2" in text and "flyer 2" in text  # the October subscriber came without a link too
    assert "Binnengekomen: 2 idee, 1 vraag" in text and "Afgerond: 1 vraag" in text
    assert f"#{oldest} melding, 41 dagen open" in text
    assert "Jansen" not in text and "Geheim" not in text
    # once: the job runs again every ten minutes that day
    assert send_monthly_reports(session, registry, now=FIRST.replace(hour=11), zone=ZONE) == 0
    assert len(rows(session)) == 2 * (3 + 2)  # text and chart: Slotjes 3, Den Hout 2 (its staff and the lead)
