"""Buurtinitiatieven (issue 11): an idea that asks neighbours for support, or the municipality for money.

An initiative is an item of kind `initiative` (its stage is the item's status, wijkbot.workflow) with an
`Initiative` row (share code, amounts, decision) and its `Supporter` rows. Every write goes through here.

```mermaid
flowchart TD
    I["resident: /initiatief, picks an open idea"] --> M{"money?"}
    M -- "yes: amount, the profile's checklist" --> C
    M -- "no: neighbours' support" --> C["collecting: share link + QR"]
    C -- "neighbour opens t.me/bot?start=i_CODE" --> K["card: Ik steun dit / Ik doe mee"]
    K -- "postcode once; inside the wijk (or municipality)" --> S[(supporter)]
    K -- "outside" --> X[politely refused]
    S -- "count reaches support_needed" --> R["review: the deciders are told, with buttons"]
    R -- "Toekennen (bedrag) within the budget" --> G[granted]
    R -- "Past niet (reden)" --> RJ[rejected]
    R -- "Ander potje" --> OF[other_fund]
    R -- "Steunen zonder geld" --> P
    G -- "Start uitvoering" --> P[in_progress]
    P -- "Gerealiseerd" --> D[done: 'Gerealiseerd in jouw wijk']
```

Each change of stage is told to the initiator and every supporter in their chat, and to the item's staff.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from wijkbot import purposes
from wijkbot.municipalities import Budget, Fund, Municipality, Registry
from wijkbot.outbox import enqueue
from wijkbot.payloads import Buttons, Photo, Text
from wijkbot.postcodes import Status, resolve_postcode
from wijkbot.residents import find_resident, get_or_create_resident, set_home_area
from wijkbot.rights import NotAllowed, check_decide
from wijkbot.workflow import State, become_initiative, is_open, move, notify_staff, record, staff_label, staff_of

PREFIX = "i_"
CODE = re.compile(r"[a-z0-9]{8}")
STAGES = ("idea", "collecting", "review", "granted", "rejected", "other_fund", "in_progress", "done")
MAX_AMOUNT = 1_000_000
TITLE_LENGTH = 80
BUDGET_ZONE = ZoneInfo("Europe/Amsterdam")  # budget years are Dutch calendar years


class InitiativeError(ValueError):
    """An initiative cannot be started, supported or decided as asked; the message is for the person asking."""


def euros(amount: int | None) -> str:
    """ "€ 1.250" as Dutch write it."""
    return "—" if amount is None else "€ " + f"{amount:,}".replace(",", ".")


def parse_amount(text: str) -> int:
    """Whole euros from what a person types: "750", "€ 1.250", "1250,-", "2.500 euro"."""
    cleaned = text.lower().replace("euro", "").replace("€", "").replace(",-", "").replace(" ", "").strip()
    cleaned = re.sub(r",00$", "", cleaned)
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", cleaned):
        cleaned = cleaned.replace(".", "")
    if not cleaned.isdigit():
        raise InitiativeError("Typ een bedrag in hele euro's, bijvoorbeeld 750.")
    amount = int(cleaned)
    if not 0 < amount <= MAX_AMOUNT:
        raise InitiativeError(f"Een bedrag tussen € 1 en {euros(MAX_AMOUNT)}, graag.")
    return amount


def title_of(text: str) -> str:
    """The first line of the idea, cut at a word within TITLE_LENGTH characters."""
    first = " ".join(text.strip().splitlines()[0].split()) if text.strip() else "Buurtinitiatief"
    if len(first) <= TITLE_LENGTH:
        return first
    cut = first[: TITLE_LENGTH - 1].rsplit(" ", 1)[0]
    return cut + "…"


def share_link(bot_username: str, initiative: models.Initiative) -> str:
    return f"https://t.me/{bot_username}?start={PREFIX}{initiative.share_code}"


def parse_share(payload: str) -> str | None:
    """The share code of `/start i_<code>`; None when the payload is not an initiative link."""
    if not payload.startswith(PREFIX):
        return None
    code = payload.removeprefix(PREFIX)
    return code if CODE.fullmatch(code) else ""


def _new_code() -> str:
    return "".join(secrets.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(8))


# --- starting --------------------------------------------------------------------------------------------


def startable_ideas(session: Session, *, telegram_id: int) -> list[models.Item]:
    """The resident's own open ideas that can become an initiative, newest first."""
    resident = find_resident(session, telegram_id=telegram_id)
    if resident is None:
        return []
    return list(
        session.scalars(
            select(models.Item)
            .where(
                models.Item.resident_id == resident.id,
                models.Item.kind == "idea",
                models.Item.status.in_(sorted(s.value for s in (State.NEW, State.CLAIMED, State.ANSWERED))),
            )
            .order_by(models.Item.id.desc())
        )
    )


def own_idea(session: Session, *, telegram_id: int, item_id: int) -> models.Item:
    """One of `startable_ideas`, or InitiativeError (a forged or stale button)."""
    item = next((i for i in startable_ideas(session, telegram_id=telegram_id) if i.id == item_id), None)
    if item is None:
        raise InitiativeError("Dit idee kan ik niet (meer) tot buurtinitiatief maken.")
    return item


def start_initiative(
    session: Session,
    registry: Registry,
    *,
    telegram_id: int,
    item_id: int,
    requested: int | None,
    criteria: dict[str, bool] | None = None,
    now: datetime | None = None,
    new_code: Callable[[], str] = _new_code,
) -> models.Initiative:
    """Make the resident's open idea an initiative gathering support: its share code, the profile's threshold
    and period, the amount asked (None: support only) and the checklist's answers; its staff are told."""
    now = now or utcnow()
    item = own_idea(session, telegram_id=telegram_id, item_id=item_id)
    municipality = _municipality(registry, item)
    rules = municipality.initiatives
    if requested is not None and not 0 < requested <= MAX_AMOUNT:
        raise InitiativeError(f"Een bedrag tussen € 1 en {euros(MAX_AMOUNT)}, graag.")
    initiative = models.Initiative(
        item_id=item.id,
        share_code=new_code(),
        title=title_of(item.text),
        requested=requested,
        support_needed=rules.support_needed,
        support_until=now + timedelta(days=rules.support_days),
        scope=rules.support_from,
        criteria=dict(criteria or {}) if requested is not None else {},
        created_at=now,
    )
    session.add(initiative)
    become_initiative(item, now=now)
    move(item, State.COLLECTING, event="initiative_started", text=euros(requested) if requested else None, now=now)
    item.remind_at = item.escalate_at = None  # nothing to decide until the support is there
    session.flush()
    notify_staff(
        session,
        item=item,
        tag="initiative",
        text=f"<b>#{item.id} is nu een buurtinitiatief</b>: {escape(initiative.title)}\n"
        f"Gevraagd: {euros(requested) if requested else 'geen geld, steun van buren'}. Het verzamelt steun "
        f"({rules.support_needed} buren, tot {_day(initiative.support_until, registry)}); je hoort het als het "
        "zover is.",
        now=now,
    )
    return initiative


# --- supporting ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Supported:
    """What happened when a neighbour pressed Ik steun dit / Ik doe mee, in words for them."""

    outcome: str  # counted, already, outside, needs_postcode, closed, own
    message: str
    count: int = 0


def find_by_code(session: Session, code: str) -> models.Initiative | None:
    if not CODE.fullmatch(code or ""):
        return None
    return session.scalars(select(models.Initiative).where(models.Initiative.share_code == code)).one_or_none()


def supporter_count(initiative: models.Initiative) -> int:
    return len(initiative.supporters)


def card(session: Session, registry: Registry, initiative: models.Initiative, *, now: datetime | None = None) -> str:
    """The initiative as a neighbour sees it after opening the share link (Telegram HTML)."""
    item = _item(session, initiative)
    area = registry.find_area(item.area_code or "")
    resident = session.get(models.Resident, item.resident_id) if item.resident_id else None
    lines = [
        f"<b>Buurtinitiatief in {escape(area.label if area else 'de gemeente')}</b>",
        f"<b>{escape(initiative.title)}</b>",
        "",
        escape(item.text[:600]),
        "",
        f"Gestart door {escape((resident.first_name if resident else None) or 'een buurtbewoner')}.",
    ]
    if initiative.requested:
        lines.append(f"Er wordt {euros(initiative.requested)} gevraagd bij de gemeente.")
    lines.append(_count_line(registry, initiative, item, now=now))
    if is_open(item) and item.status == State.COLLECTING:
        who = "buren uit " + escape(area.name) if initiative.scope == "area" and area else "inwoners van de gemeente"
        lines.append(f"<i>Steun telt van {who}. Je steun staat op je naam; intrekken kan met /vergeetmij.</i>")
    return "\n".join(lines)


def card_buttons(initiative: models.Initiative) -> Buttons:
    return [
        [
            {"text": "Ik steun dit", "callback_data": f"is:{initiative.share_code}:support"},
            {"text": "Ik doe mee", "callback_data": f"is:{initiative.share_code}:join"},
        ]
    ]


def support(
    session: Session,
    registry: Registry,
    *,
    code: str,
    telegram_id: int,
    first_name: str | None,
    joins: bool,
    postcode: str | None = None,
    now: datetime | None = None,
) -> Supported:
    """A neighbour supports (and with `joins`, helps with) the initiative. Their postcode is asked once (kept as
    their home); their support counts only inside the initiative's area (or municipality, per profile)."""
    now = now or utcnow()
    initiative = find_by_code(session, code)
    if initiative is None:
        return Supported("closed", "Dit initiatief ken ik niet (meer).")
    item = _item(session, initiative)
    if not (is_open(item) and item.status in (State.COLLECTING, State.REVIEW)):
        return Supported("closed", "Dit initiatief verzamelt geen steun meer. Dank je wel voor je interesse!")
    resident = get_or_create_resident(session, telegram_id=telegram_id, first_name=first_name)
    if resident.id == item.resident_id:
        return Supported("own", "Dit is je eigen initiatief: deel de link met je buren.", supporter_count(initiative))
    if postcode is not None:
        refused = _set_postcode(session, registry, resident, postcode, item=item)
        if refused:
            return Supported("needs_postcode", refused)
    if resident.area_code is None:
        return Supported("needs_postcode", "Wat is je postcode? Dan weet ik of je steun hier meetelt.")
    if not _inside(registry, initiative, item, resident.area_code):
        area = registry.find_area(item.area_code or "")
        return Supported(
            "outside",
            f"Dank je wel! Maar steun voor dit initiatief telt alleen van bewoners van "
            f"{escape(area.label if area else 'de gemeente')}, en jij woont ergens anders. "
            "Heb je zelf een idee voor je eigen buurt? Vertel het me gewoon.",
        )
    existing = next((s for s in initiative.supporters if s.resident_id == resident.id), None)
    if existing is not None:
        if joins and not existing.joins:
            existing.joins = True
            _tell_initiator_supporter(session, initiative, item, existing, now=now, joined=True)
            return Supported(
                "counted", "Fijn dat je ook meedoet! De initiatiefnemer weet het.", len(initiative.supporters)
            )
        return Supported("already", "Je steunt dit initiatief al. Dank je wel!", supporter_count(initiative))
    supporter = models.Supporter(resident_id=resident.id, joins=joins, area_code=resident.area_code, created_at=now)
    initiative.supporters.append(supporter)
    session.flush()
    count = supporter_count(initiative)
    record(item, event="supported", text=f"{count} of {initiative.support_needed}", now=now)
    _tell_initiator_supporter(session, initiative, item, supporter, now=now, joined=joins)
    if item.status == State.COLLECTING and count >= initiative.support_needed:
        to_review(session, registry, initiative=initiative, reason="threshold", now=now)
    thanks = "Dank je wel, je doet mee!" if joins else "Dank je wel voor je steun!"
    return Supported(
        "counted",
        f"{thanks} Nu {count} van de {initiative.support_needed}. Je hoort hier wat er met het initiatief gebeurt.",
        count,
    )


def _set_postcode(
    session: Session, registry: Registry, resident: models.Resident, text: str, *, item: models.Item
) -> str | None:
    resolution = resolve_postcode(text, registry)
    if resolution.status == Status.INVALID:
        return "Dat is geen postcode. Typ je postcode, bijvoorbeeld 4941 AB."
    if resolution.status == Status.OUTSIDE:
        resident.postcode = resolution.postcode.replace(" ", "") if resolution.postcode else None
        resident.area_code = None
        return (
            "Die postcode ligt niet in de gemeente van dit initiatief, dus je steun telt hier helaas niet mee. "
            "Dank je wel voor je interesse!"
        )
    areas = [a.code for a in resolution.areas]
    home = item.area_code if item.area_code in areas else areas[0]
    set_home_area(session, resident, area_code=home, postcode=(resolution.postcode or "").replace(" ", ""))
    return None


def _inside(registry: Registry, initiative: models.Initiative, item: models.Item, area_code: str) -> bool:
    if initiative.scope == "municipality":
        home, there = registry.find_area(area_code), registry.find_area(item.area_code or "")
        return home is not None and there is not None and home.municipality_code == there.municipality_code
    return area_code == item.area_code


def _tell_initiator_supporter(
    session: Session,
    initiative: models.Initiative,
    item: models.Item,
    supporter: models.Supporter,
    *,
    now: datetime,
    joined: bool,
) -> None:
    initiator = session.get(models.Resident, item.resident_id) if item.resident_id else None
    if initiator is None:
        return
    count = supporter_count(initiative)
    what = "doet mee met" if joined else "steunt"
    enqueue(
        session,
        purpose=purposes.initiative_supporter(item.id, supporter.id, joined),
        chat_id=initiator.telegram_id,
        text=f"Een buurtbewoner {what} je buurtinitiatief #{item.id} «{escape(initiative.title)}». "
        f"Steun: {count} van de {initiative.support_needed}.",
        item_id=item.id,
        now=now,
    )


def withdraw_support(session: Session, *, resident_id: int) -> int:
    """The resident's support is gone (erasure): it no longer counts. Returns how many were removed."""
    rows = list(session.scalars(select(models.Supporter).where(models.Supporter.resident_id == resident_id)))
    for row in rows:
        session.delete(row)
    return len(rows)


def support_of(session: Session, *, resident_id: int) -> list[dict[str, Any]]:
    """What /mijngegevens shows of the resident's support."""
    rows = session.execute(
        select(models.Supporter, models.Initiative)
        .join(models.Initiative, models.Initiative.item_id == models.Supporter.item_id)
        .where(models.Supporter.resident_id == resident_id)
        .order_by(models.Supporter.id)
    ).all()
    return [
        {
            "initiative": initiative.item_id,
            "title": initiative.title,
            "joins": supporter.joins,
            "area": supporter.area_code,
            "at": supporter.created_at.isoformat(),
        }
        for supporter, initiative in rows
    ]


# --- deciding --------------------------------------------------------------------------------------------


def to_review(
    session: Session, registry: Registry, *, initiative: models.Initiative, reason: str, now: datetime
) -> None:
    """Enough support (or the initiator asked): the deciders are told, with their buttons; the initiator too."""
    item = _item(session, initiative)
    move(item, State.REVIEW, event="review", text=reason, now=now)
    item.remind_at = now + timedelta(hours=24)
    item.escalate_at = now + timedelta(hours=72)
    municipality = _municipality(registry, item)
    deciders = _deciders(session, registry, item)
    for member in deciders:
        if not any(r.staff_id == member.id for r in item.recipients):
            item.recipients.append(models.ItemRecipient(staff_id=member.id, reason="decides"))
    session.flush()
    text = review_text(session, registry, initiative=initiative, now=now)
    decider_ids = {m.id for m in deciders}
    for member in staff_of(session, item=item):
        decides = member.id in decider_ids
        enqueue(
            session,
            purpose=purposes.item_notice(item.id, "review", member.id),
            chat_id=int(member.telegram_id or 0),
            text=text
            + (
                ""
                if decides
                else f"\n\n<i>Hierover beslist {escape(_deciders_word(municipality))}; jij kunt meedenken.</i>"
            ),
            buttons=decision_buttons(item.id, municipality) if decides else None,
            item_id=item.id,
            now=now,
        )
    _tell_people(
        session,
        initiative,
        item,
        stage=State.REVIEW,
        text=f"Je buurtinitiatief «{escape(initiative.title)}» heeft {supporter_count(initiative)} steunbetuigingen "
        f"en wordt nu beoordeeld door {escape(_deciders_word(municipality))}.",
        supporters_text=f"Het buurtinitiatief «{escape(initiative.title)}» dat je steunt, heeft genoeg steun en "
        "wordt nu beoordeeld.",
        now=now,
    )


def end_support_periods(session: Session, registry: Registry, *, now: datetime) -> int:
    """Initiatives whose support period ended without reaching the threshold go to review all the same: the
    deciders see how much support there was, and the initiator hears it. Returns how many."""
    ended = list(
        session.scalars(
            select(models.Initiative)
            .join(models.Item, models.Item.id == models.Initiative.item_id)
            .where(models.Item.status == State.COLLECTING.value, models.Initiative.support_until <= now)
        )
    )
    for initiative in ended:
        to_review(session, registry, initiative=initiative, reason="period ended", now=now)
    return len(ended)


def review_text(session: Session, registry: Registry, *, initiative: models.Initiative, now: datetime) -> str:
    """What the deciders see: the initiative, its support, the checklist's answers and the budget left."""
    item = _item(session, initiative)
    area = registry.find_area(item.area_code or "")
    municipality = _municipality(registry, item)
    joined = sum(1 for s in initiative.supporters if s.joins)
    lines = [
        f"<b>Buurtinitiatief #{item.id} · {escape(area.label if area else '?')}: tijd voor een besluit</b>",
        f"<b>{escape(initiative.title)}</b>",
        escape(item.text[:800]),
        "",
        f"Steun: {supporter_count(initiative)} (van wie {joined} meedoen); nodig {initiative.support_needed}.",
        f"Gevraagd: {euros(initiative.requested) if initiative.requested else 'geen geld'}",
    ]
    answers = initiative.criteria or {}
    for criterion in municipality.initiative_criteria:
        if criterion.key in answers:
            mark = "ja" if answers[criterion.key] else "<b>nee</b>"
            lines.append(f"• {escape(criterion.question)} {mark}")
    ledger = ledger_for(session, registry, item=item, year=_year(now, registry))
    if ledger is not None:
        lines.append(f"Budget {ledger.year}: nog {euros(ledger.remaining)} van {euros(ledger.available)} over.")
    elif initiative.requested:
        lines.append(f"Er is nog geen budget voor {_year(now, registry)} ingesteld.")
    return "\n".join(lines)


def decision_buttons(item_id: int, municipality: Municipality) -> Buttons:
    rows: Buttons = [
        [
            {"text": "Toekennen (bedrag)", "callback_data": f"ini:{item_id}:grant"},
            {"text": "Meedenken", "callback_data": f"item:{item_id}:reply"},
        ],
        [
            {"text": "Steunen zonder geld", "callback_data": f"ini:{item_id}:support"},
            {"text": "Past niet (reden)", "callback_data": f"ini:{item_id}:reject"},
        ],
    ]
    if municipality.initiatives.other_funds:
        rows.append([{"text": "Ander potje", "callback_data": f"ini:{item_id}:funds"}])
    return rows


def fund_buttons(item_id: int, municipality: Municipality) -> Buttons:
    return [
        [{"text": fund.name[:60], "callback_data": f"ini:{item_id}:fund:{index}"}]
        for index, fund in enumerate(municipality.initiatives.other_funds)
    ]


@dataclass(frozen=True)
class Decided:
    item: models.Item
    message: str  # for the staff member who decided


def load_for_decision(
    session: Session, registry: Registry, *, staff: models.StaffMember, item_id: int
) -> tuple[models.Item, models.Initiative]:
    """The initiative, if this staff member decides on it (the profile's deciding role of its area)."""
    item = session.get(models.Item, item_id)
    initiative = session.get(models.Initiative, item_id)
    if item is None or initiative is None:
        raise NotAllowed("Dit initiatief bestaat niet (meer).")
    municipality = _municipality(registry, item)
    check_decide(staff, item, deciding_role=_deciding_role(municipality), deciders=_deciders_word(municipality))
    return item, initiative


def decide(
    session: Session,
    registry: Registry,
    *,
    staff: models.StaffMember,
    item_id: int,
    decision: str,
    amount: int | None = None,
    reason: str | None = None,
    fund: int | None = None,
    now: datetime | None = None,
) -> Decided:
    """Grant (an amount within the budget), support without money, point to another fund, reject (with a
    reason), start the work or mark it realised; recorded with who and when and told to everyone involved."""
    now = now or utcnow()
    item, initiative = load_for_decision(session, registry, staff=staff, item_id=item_id)
    step = STEPS.get(decision)
    if step is None:
        raise InitiativeError(f"unknown decision {decision!r}")
    if not is_open(item):
        return Decided(item, f"#{item.id} is al afgehandeld ({escape(item.status)}).")
    if item.status != step.source:
        raise InitiativeError(f"#{item.id} staat op {item.status}; dit kan alleen bij {step.source.value}.")
    values: dict[str, object] = {"title": escape(initiative.title), "staff": escape(staff.name), "id": item.id}
    noted = None
    if decision == "grant":
        noted = _grant(session, registry, item, initiative, amount=amount, now=now, values=values)
    elif decision == "fund":
        noted = _other_fund(registry, item, initiative, fund=fund, values=values)
    elif decision == "reject":
        noted = _reject(initiative, reason=reason, values=values)
    elif decision == "done":
        item.outcome = "Gerealiseerd"
    if step.decides:
        initiative.decided_by_id = staff.id
        initiative.decided_at = now
    move(item, step.target, event=step.event, staff_id=staff.id, text=noted, now=now)
    _tell_people(
        session,
        initiative,
        item,
        stage=step.target,
        text=step.to_initiator.format(**values),
        supporters_text=step.to_supporters.format(**values),
        now=now,
    )
    if step.decides:
        told = f"#{item.id}: {staff_label(step.target)} door {escape(staff.name)}" + (
            f" ({escape(noted)})" if noted else ""
        )
        notify_staff(session, item=item, tag=f"decided{len(item.events)}", text=told, leave_out=staff.id, now=now)
    return Decided(item, step.to_decider.format(**values))


@dataclass(frozen=True)
class Step:
    """One decision: the stage it needs, the stage it leads to, and what each person hears ({title}, {staff},
    {id}, and per decision {amount} {left} {year}, {fund} {purpose} {how}, {reason})."""

    source: State
    target: State
    event: str
    to_initiator: str
    to_supporters: str
    to_decider: str
    decides: bool = True  # recorded as the decision (who, when) and told to colleagues


STEPS: dict[str, Step] = {
    "grant": Step(
        State.REVIEW,
        State.GRANTED,
        "granted",
        "<b>Goed nieuws!</b> Voor je buurtinitiatief «{title}» is {amount} toegekend door {staff}. Jullie horen "
        "hier hoe het verder gaat.",
        "<b>Goed nieuws!</b> Het buurtinitiatief «{title}» dat je steunt, krijgt {amount}.",
        "{amount} toegekend aan #{id}. Nog {left} over in {year}.",
    ),
    "support": Step(
        State.REVIEW,
        State.IN_PROGRESS,
        "supported_without_money",
        "Je buurtinitiatief «{title}» kan van start: {staff} steunt het en helpt je verder (zonder geld uit het "
        "budget).",
        "Het buurtinitiatief «{title}» dat je steunt, gaat van start.",
        "#{id} gaat van start, zonder geld uit het budget.",
    ),
    "fund": Step(
        State.REVIEW,
        State.OTHER_FUND,
        "other_fund",
        "Je buurtinitiatief «{title}» past beter bij een ander potje: <b>{fund}</b>, voor {purpose}. Zo vraag je "
        "het aan: {how}.",
        "Het buurtinitiatief «{title}» dat je steunt, gaat verder via {fund}.",
        "#{id} is doorverwezen naar {fund}.",
    ),
    "reject": Step(
        State.REVIEW,
        State.REJECTED,
        "rejected",
        "Je buurtinitiatief «{title}» past helaas niet. {staff} legt uit waarom:\n\n{reason}",
        "Het buurtinitiatief «{title}» dat je steunt, past helaas niet: {reason}",
        "#{id} is afgewezen; de initiatiefnemer en wie steunden hebben de reden gekregen.",
    ),
    "start": Step(
        State.GRANTED,
        State.IN_PROGRESS,
        "in_progress",
        "Je buurtinitiatief «{title}» is in uitvoering. Succes!",
        "Het buurtinitiatief «{title}» dat je steunt, is in uitvoering.",
        "#{id} staat op in uitvoering.",
        decides=False,
    ),
    "done": Step(
        State.IN_PROGRESS,
        State.DONE,
        "done",
        "<b>Gerealiseerd!</b> Je buurtinitiatief «{title}» is af. Dank je wel voor je inzet! Stuur gerust een foto "
        "van het resultaat, dan laten we het aan de buurt zien.",
        "<b>Gerealiseerd!</b> Het buurtinitiatief «{title}» dat je steunde, is af.",
        "#{id} is gerealiseerd.",
        decides=False,
    ),
}
DECISIONS = tuple(STEPS)


def _grant(
    session: Session,
    registry: Registry,
    item: models.Item,
    initiative: models.Initiative,
    *,
    amount: int | None,
    now: datetime,
    values: dict[str, object],
) -> str:
    """Check the amount against this year's pot and record it; InitiativeError (nothing changed) otherwise."""
    if amount is None or not 0 < amount <= MAX_AMOUNT:
        raise InitiativeError("Geef een bedrag in hele euro's, bijvoorbeeld 750.")
    year = _year(now, registry)
    ledger = ledger_for(session, registry, item=item, year=year)
    if ledger is None:
        raise InitiativeError(
            f"Er is geen budget voor initiatieven in {year} ingesteld voor dit gebied (profiles.yaml, "
            "initiatives.budgets); er is niets toegekend."
        )
    if amount > ledger.remaining:
        raise InitiativeError(
            f"{euros(amount)} past niet: er is in {year} nog {euros(ledger.remaining)} over van "
            f"{euros(ledger.available)}. Er is niets toegekend."
        )
    initiative.granted = amount
    initiative.budget_year = year
    values.update(amount=euros(amount), left=euros(ledger.remaining - amount), year=year)
    return euros(amount)


def _other_fund(
    registry: Registry, item: models.Item, initiative: models.Initiative, *, fund: int | None, values: dict[str, object]
) -> str:
    funds: Sequence[Fund] = _municipality(registry, item).initiatives.other_funds
    if fund is None or not 0 <= fund < len(funds):
        raise InitiativeError("Kies een van de potjes.")
    chosen = funds[fund]
    initiative.fund = chosen.name[:80]
    values.update(fund=escape(chosen.name), purpose=escape(chosen.purpose), how=escape(chosen.how))
    return chosen.name


def _reject(initiative: models.Initiative, *, reason: str | None, values: dict[str, object]) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InitiativeError("Geef een reden: de initiatiefnemer en wie steunden krijgen die te lezen.")
    initiative.reason = reason[:2000]
    values["reason"] = escape(reason)
    return reason


def stage_buttons(item: models.Item, municipality: Municipality) -> Buttons | None:
    """The deciders' next button after a decision: start the work, mark it realised."""
    if item.status == State.GRANTED:
        return [[{"text": "Start uitvoering", "callback_data": f"ini:{item.id}:start"}]]
    if item.status == State.IN_PROGRESS:
        return [[{"text": "Gerealiseerd", "callback_data": f"ini:{item.id}:done"}]]
    if item.status == State.REVIEW:
        return decision_buttons(item.id, municipality)
    return None


def _tell_people(
    session: Session,
    initiative: models.Initiative,
    item: models.Item,
    *,
    stage: State,
    text: str,
    supporters_text: str,
    now: datetime,
) -> None:
    """The initiator and every supporter hear of a new stage, once each."""
    initiator = session.get(models.Resident, item.resident_id) if item.resident_id else None
    if initiator is not None and not initiator.blocked:
        enqueue(
            session,
            purpose=purposes.initiative_stage(item.id, stage.value, initiator.id),
            chat_id=initiator.telegram_id,
            text=text,
            item_id=item.id,
            now=now,
        )
    for supporter in initiative.supporters:
        resident = session.get(models.Resident, supporter.resident_id)
        if resident is None or resident.blocked:
            continue
        enqueue(
            session,
            purpose=purposes.initiative_stage(item.id, stage.value, resident.id),
            chat_id=resident.telegram_id,
            text=supporters_text,
            item_id=item.id,
            now=now,
        )


def _deciding_role(municipality: Municipality) -> str:
    return "council" if municipality.initiatives.decides == "council" else municipality.staff_role


def _deciders_word(municipality: Municipality) -> str:
    return (
        f"de {municipality.council_title}"
        if municipality.initiatives.decides == "council"
        else (f"de {municipality.staff_title}")
    )


def _deciders(session: Session, registry: Registry, item: models.Item) -> list[models.StaffMember]:
    from wijkbot.staff import staff_for_area

    role = _deciding_role(_municipality(registry, item))
    members = staff_for_area(session, area_code=item.area_code or "", role=role)
    return [m for m in members if m.active and m.telegram_id is not None]


# --- the budget ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    municipality: str
    area: str | None
    year: int
    available: int
    granted: int

    @property
    def remaining(self) -> int:
        return self.available - self.granted

    def as_json(self) -> dict[str, Any]:
        return {
            "municipality": self.municipality,
            "area": self.area,
            "year": self.year,
            "available": self.available,
            "granted": self.granted,
            "remaining": self.remaining,
        }


def _granted(session: Session, *, area_codes: Sequence[str], year: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(models.Initiative.granted), 0))
        .join(models.Item, models.Item.id == models.Initiative.item_id)
        .where(models.Initiative.budget_year == year, models.Item.area_code.in_(list(area_codes)))
    )
    return int(total or 0)


def _budget_for(municipality: Municipality, *, area_code: str, year: int) -> Budget | None:
    budgets = [b for b in municipality.initiatives.budgets if b.year == year]
    return next((b for b in budgets if b.area == area_code), None) or next((b for b in budgets if b.area is None), None)


def _ledger(session: Session, municipality: Municipality, budget: Budget) -> Ledger:
    if budget.area is not None:
        codes: Sequence[str] = [budget.area]
    else:  # the municipality's pot: every area without a pot of its own that year
        own = {b.area for b in municipality.initiatives.budgets if b.year == budget.year and b.area}
        codes = [a.code for a in municipality.areas if a.code not in own]
    return Ledger(
        municipality.code,
        budget.area,
        budget.year,
        budget.amount,
        _granted(session, area_codes=codes, year=budget.year),
    )


def ledger_for(session: Session, registry: Registry, *, item: models.Item, year: int) -> Ledger | None:
    """The pot this initiative's grant comes from: its area's own that year, else its municipality's."""
    municipality = _municipality(registry, item)
    budget = _budget_for(municipality, area_code=item.area_code or "", year=year)
    return _ledger(session, municipality, budget) if budget else None


def budgets(
    session: Session, registry: Registry, *, municipality: str | None = None, year: int | None = None
) -> list[Ledger]:
    """Every configured pot (`wijkbot budget show`): available, granted, remaining."""
    rows = []
    for m in registry.municipalities:
        if municipality and m.code != municipality:
            continue
        for budget in m.initiatives.budgets:
            if year is None or budget.year == year:
                rows.append(_ledger(session, m, budget))
    return rows


# --- lists -----------------------------------------------------------------------------------------------


def list_initiatives(session: Session, *, area: str | None = None, stage: str | None = None) -> list[dict[str, Any]]:
    """`wijkbot initiatives list --json`: every initiative with its stage, supporters and amounts."""
    if stage is not None and stage not in (*STAGES, State.WITHDRAWN.value, State.EXPIRED.value):
        raise InitiativeError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    query = select(models.Item, models.Initiative).join(models.Initiative, models.Initiative.item_id == models.Item.id)
    if area:
        query = query.where(models.Item.area_code == area)
    if stage:
        query = query.where(models.Item.status == stage)
    return [
        {
            "id": item.id,
            "title": initiative.title,
            "area": item.area_code,
            "stage": item.status,
            "supporters": supporter_count(initiative),
            "requested": initiative.requested,
            "granted": initiative.granted,
        }
        for item, initiative in session.execute(query.order_by(models.Item.id)).all()
    ]


def latest_realised(session: Session, *, area_code: str, since: datetime) -> str | None:
    """The title of the initiative realised last in this area since `since` (for the check-in), if any."""
    return session.scalar(
        select(models.Initiative.title)
        .join(models.Item, models.Item.id == models.Initiative.item_id)
        .where(
            models.Item.area_code == area_code,
            models.Item.status == State.DONE.value,
            models.Item.closed_at >= since,
        )
        .order_by(models.Item.closed_at.desc())
        .limit(1)
    )


REALISED_PHOTO_WITHIN = timedelta(days=30)


def add_realised_photo(session: Session, *, telegram_id: int, file_id: str, now: datetime) -> int | None:
    """A photo the initiator sends within 30 days after their initiative was realised becomes its photo (the
    Telegram file id; the latest one counts). Returns the initiative's id, None when there is none."""
    resident = find_resident(session, telegram_id=telegram_id)
    if resident is None:
        return None
    initiative = session.scalars(
        select(models.Initiative)
        .join(models.Item, models.Item.id == models.Initiative.item_id)
        .where(
            models.Item.resident_id == resident.id,
            models.Item.status == State.DONE.value,
            models.Item.closed_at >= now - REALISED_PHOTO_WITHIN,
        )
        .order_by(models.Item.closed_at.desc())
    ).first()
    if initiative is None:
        return None
    initiative.photo = file_id[:200]
    return initiative.item_id


def realised_photos(session: Session, registry: Registry, *, telegram_id: int) -> list[Photo]:
    """The photos of the realised initiatives `/gerealiseerd` lists (at most three)."""
    resident = find_resident(session, telegram_id=telegram_id)
    query = (
        select(models.Initiative)
        .join(models.Item, models.Item.id == models.Initiative.item_id)
        .where(models.Item.status == State.DONE.value, models.Initiative.photo.is_not(None))
    )
    if resident is not None and resident.area_code:
        query = query.where(models.Item.area_code == resident.area_code)
    rows = session.scalars(query.order_by(models.Item.closed_at.desc()).limit(3))
    return [Photo(photo=row.photo, caption=f"Gerealiseerd: {escape(row.title)}") for row in rows]


def realised_text(session: Session, registry: Registry, *, telegram_id: int) -> str:
    """ "Gerealiseerd in jouw wijk": the realised initiatives of the resident's area (or of all, when unknown)."""
    resident = find_resident(session, telegram_id=telegram_id)
    area = registry.find_area(resident.area_code) if resident and resident.area_code else None
    query = (
        select(models.Item, models.Initiative)
        .join(models.Initiative, models.Initiative.item_id == models.Item.id)
        .where(models.Item.status == State.DONE.value)
    )
    if area is not None:
        query = query.where(models.Item.area_code == area.code)
    rows = session.execute(query.order_by(models.Item.closed_at.desc()).limit(10)).all()
    where = escape(area.label) if area else "de gemeente"
    if not rows:
        return (
            f"In {where} is nog geen buurtinitiatief via deze chat gerealiseerd. Heb je een idee? Vertel het me, "
            "en maak er met /initiatief een buurtinitiatief van."
        )
    lines = [f"<b>Gerealiseerd in {where}</b>"]
    for item, initiative in rows:
        there = registry.find_area(item.area_code or "")
        money = f" ({euros(initiative.granted)})" if initiative.granted else ""
        place = f" · {escape(there.name)}" if there and area is None else ""
        lines.append(f"• {escape(initiative.title)}{money}{place}")
    lines.append("\nZelf iets voor je buurt? Vertel je idee en maak er met /initiatief een buurtinitiatief van.")
    return "\n".join(lines)


# --- helpers ---------------------------------------------------------------------------------------------


def _item(session: Session, initiative: models.Initiative) -> models.Item:
    item = session.get(models.Item, initiative.item_id)
    if item is None:
        raise InitiativeError("initiative without its item")
    return item


def _municipality(registry: Registry, item: models.Item) -> Municipality:
    area = registry.find_area(item.area_code or "")
    if area is None:
        raise InitiativeError(f"#{item.id} has no known area")
    return registry.municipality(area.municipality_code)


def _year(now: datetime, registry: Registry) -> int:
    return now.astimezone(BUDGET_ZONE).year


def _day(moment: datetime | None, registry: Registry) -> str:
    return moment.astimezone(BUDGET_ZONE).strftime("%d-%m-%Y") if moment else "?"


def _count_line(registry: Registry, initiative: models.Initiative, item: models.Item, *, now: datetime | None) -> str:
    count = supporter_count(initiative)
    line = f"<b>{count} van de {initiative.support_needed}</b> buren steunen dit"
    if item.status == State.COLLECTING and initiative.support_until is not None:
        line += f" (tot {_day(initiative.support_until, registry)})"
    return line + "."


# --- the messages of the chat side (bot/initiative.py) ----------------------------------------------------


def queue_share(
    session: Session,
    registry: Registry,
    *,
    initiative: models.Initiative,
    bot_username: str,
    chat_id: int,
    update_id: int,
    now: datetime | None = None,
) -> str:
    """Queue the initiator's share link and its QR code (a PNG with the title under it); returns the link."""
    from wijkbot.media import store_media
    from wijkbot.reach import qr_png

    url = share_link(bot_username, initiative)
    item = _item(session, initiative)
    area = registry.find_area(item.area_code or "")
    where = escape(area.name) if area and initiative.scope == "area" else "de gemeente"
    money = f" en {euros(initiative.requested)} aan te vragen" if initiative.requested else ""
    enqueue(
        session,
        purpose=purposes.initiative_share(item.id, update_id),
        chat_id=chat_id,
        text=f"<b>Je buurtinitiatief #{item.id} verzamelt nu steun!</b>\n«{escape(initiative.title)}»\n\n"
        f"Je hebt {initiative.support_needed} buren uit {where} nodig die het steunen{money}, tot "
        f"{_day(initiative.support_until, registry)}. Stuur ze deze link, of laat ze de QR-code hieronder "
        f"scannen:\n{url}\n\nJe hoort hier elke nieuwe steun. Als het genoeg is, beoordeelt "
        f"{escape(_deciders_word(_municipality(registry, item)))} je initiatief.",
        item_id=item.id,
        priority=10,
        now=now,
    )
    media = store_media(
        session,
        kind="qr",
        filename=f"initiatief-{item.id}.png",
        content_type="image/png",
        data=qr_png(url, caption=initiative.title[:40]),
    )
    enqueue(
        session,
        purpose=purposes.initiative_share_qr(item.id, update_id),
        chat_id=chat_id,
        message=Photo(media_id=media.id, caption=f"QR-code van buurtinitiatief #{item.id}"),
        item_id=item.id,
        priority=10,
        now=now,
    )
    return url


def postcode_question() -> Text:
    """Asked once of a supporter whose home the bot does not know; the reply is their postcode."""
    return Text(
        text="Wat is je postcode? Dan weet ik of je steun voor dit initiatief meetelt. "
        "<i>Je postcode wordt alleen gebruikt om je wijk te bepalen.</i>",
        ask="1234 AB",
    )


def decide_typed(
    session: Session,
    registry: Registry,
    *,
    staff: models.StaffMember,
    action: str,
    item_id: int,
    text: str,
    now: datetime | None = None,
) -> tuple[str, Buttons | None]:
    """A decider's typed amount (after Toekennen) or reason (after Past niet): the decision, and what to tell
    them with the next stage's button. A wrong amount (or a grant the budget cannot carry) is explained and
    the decider may type it again."""
    from wijkbot.staff_loop import set_awaiting

    if action not in ("grant", "reject"):
        raise InitiativeError(f"nothing typed is awaited for {action!r}")
    try:
        done = decide(
            session,
            registry,
            staff=staff,
            item_id=item_id,
            decision=action,
            amount=parse_amount(text) if action == "grant" else None,
            reason=text if action == "reject" else None,
            now=now,
        )
    except InitiativeError as exc:
        set_awaiting(staff, action=action, item_id=item_id, now=now)  # type it again
        return escape(str(exc)), None
    return done.message, stage_buttons(done.item, _municipality(registry, done.item))
