"""The opt-in offered where it is natural (issue 12): "Wil je af en toe horen wat er in Dorst speelt?"

Residents hear from their wijk (polls, check-ins, announcements) only after they opt in. Besides "aanmelden"
and the wijk link, the bot now asks them itself, at moments where the question fits: after the greeting of
`/start` and after `/help`, after an item was filed (behind the receipt), and after a staff member answered
their question (behind the answer). Whether it may ask is one rule, `may_offer`, on the injected clock:

- never to a resident who is opted in already, who blocked the bot, or whose wijk is not known (the question
  names it);
- never twice within `OfferRules.every` (7 days) (a wijk link's question, which the resident asked for by
  opening the link, is not one of these offers);
- never within `OfferRules.after_no` (90 days) after a "nee" or an opt-out (`/stop`, "afmelden").

A "Ja" subscribes through the one write path every opt-in uses (`wijkbot.reach.accept_link`, which calls
`wijkbot.residents.set_outreach`: consent time and channel `offer` stored). After a closed poll no offer is
made: only subscribers get polls, so a voter who is no longer subscribed has just said no (`/stop`).

```mermaid
flowchart TD
    H["greeting, /help, item filed (bot/conversation.py),<br/>question answered (staff_loop.reply)"] --> R{may_offer}
    R -- "opted in / blocked / wijk unknown" --> X[no offer]
    R -- "offered < 7 days ago" --> X
    R -- "nee or /stop < 90 days ago" --> X
    R -- yes --> Q["outbox: offer:… Text with [Ja] of:yes:AREA, [Nee] of:no;<br/>resident.offered_at = now"]
    Q -- Ja --> S["accept_link(via='offer'): set_outreach, consent_at = now"]
    Q -- Nee --> D["decline_offer: resident.offer_declined_at = now"]
```
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from db import models
from wijkbot import purposes
from wijkbot.municipalities import Registry
from wijkbot.outbox import enqueue
from wijkbot.payloads import Buttons, Text
from wijkbot.purposes import Purpose
from wijkbot.residents import find_resident
from wijkbot.staff import find_staff_by_telegram_id

VIA = "offer"  # consent_via of a subscription through the offer
CALLBACK = "of"  # the buttons: of:yes:<AREA>, of:no
YES, NO = "Ja, houd me op de hoogte", "Nee, liever niet"
FILED = "file_%"  # the wijkbot.effects keys of actions/submit.py: file_idea, file_report, file_question


@dataclass(frozen=True)
class OfferRules:
    every: timedelta = timedelta(days=7)  # never twice within this
    after_no: timedelta = timedelta(days=90)  # never within this after a "nee" or an opt-out


def may_offer(
    *,
    opted_in: bool,
    blocked: bool,
    area_code: str | None,
    offered_at: datetime | None,
    declined_at: datetime | None,
    now: datetime,
    rules: OfferRules = OfferRules(),
) -> bool:
    """Whether the opt-in may be offered to a resident in this state now (the module's rules)."""
    if opted_in or blocked or not area_code:
        return False
    if offered_at is not None and now - offered_at < rules.every:
        return False
    return declined_at is None or now - declined_at >= rules.after_no


def offer_text(label: str) -> str:
    return (
        f"Wil je af en toe horen wat er in {escape(label)} speelt? Dan krijg je soms een peiling of een bericht "
        "uit je wijk. Stoppen kan altijd met /stop."
    )


def offer_buttons(area_code: str) -> Buttons:
    return [
        [{"text": YES, "callback_data": f"{CALLBACK}:yes:{area_code}"}],
        [{"text": NO, "callback_data": f"{CALLBACK}:no"}],
    ]


def queue_offer(
    session: Session,
    registry: Registry,
    *,
    telegram_id: int,
    purpose: Purpose,
    now: datetime,
    area_code: str | None = None,
    rules: OfferRules = OfferRules(),
) -> bool:
    """Queue the offer to this resident under `purpose` when the rules allow it, and remember it was made.
    The wijk is the resident's own, else `area_code` (an item's); the resident must exist. Whether queued."""
    resident = find_resident(session, telegram_id=telegram_id)
    if resident is None or find_staff_by_telegram_id(session, telegram_id=telegram_id) is not None:
        return False
    area = registry.find_area(resident.area_code or area_code or "")
    allowed = may_offer(
        opted_in=resident.outreach_opt_in,
        blocked=resident.blocked,
        area_code=area.code if area else None,
        offered_at=resident.offered_at,
        declined_at=resident.offer_declined_at,
        now=now,
        rules=rules,
    )
    if not allowed or area is None:
        return False
    resident.offered_at = now
    message = Text(text=offer_text(area.label), buttons=offer_buttons(area.code))
    enqueue(session, purpose=purpose, chat_id=telegram_id, message=message, priority=10, now=now)
    return True


def decline_offer(session: Session, *, telegram_id: int, now: datetime) -> None:
    """ "Nee" under an offer (or a wijk link's): not asked again for `OfferRules.after_no`."""
    resident = find_resident(session, telegram_id=telegram_id)
    if resident is not None:
        resident.offer_declined_at = now


# --- the hooks: one call each where the moment is --------------------------------------------------------


_FILED_IN_TURN = (  # built once: asked after every assistant turn
    select(models.TurnEffect.result)
    .where(
        models.TurnEffect.telegram_id == bindparam("telegram_id"),
        models.TurnEffect.update_id == bindparam("update_id"),
        models.TurnEffect.action.like(FILED),
    )
    .limit(1)
)


def offer_after_filing(
    session: Session, registry: Registry, *, telegram_id: int, update_id: int, now: datetime
) -> bool:
    """After the replies of a turn (bot/conversation.py): the offer, behind the receipt, when this turn filed
    an item (its wijkbot.effects row says so)."""
    filed = session.scalars(_FILED_IN_TURN, {"telegram_id": telegram_id, "update_id": update_id}).first()
    item_id = filed.get("item_id") if isinstance(filed, dict) else None
    if not isinstance(item_id, int):
        return False
    item = session.get(models.Item, item_id)
    area_code = item.area_code if item is not None else None
    return queue_offer(
        session,
        registry,
        telegram_id=telegram_id,
        purpose=purposes.offer_after(f"item:{item_id}"),
        area_code=area_code,
        now=now,
    )


def offer_after_answer(
    session: Session, registry: Registry, *, item: models.Item, resident: models.Resident, event_id: int, now: datetime
) -> bool:
    """After a staff member's answer to a resident's question (wijkbot.staff_loop.reply): the offer, behind it."""
    if item.kind != "question":
        return False
    return queue_offer(
        session,
        registry,
        telegram_id=resident.telegram_id,
        purpose=purposes.offer_after(f"reply:{event_id}"),
        area_code=item.area_code,
        now=now,
    )


# --- the resident's buurt, asked after they subscribe (so that a poll can be for one buurt) ----------------

BUURT_CALLBACK = "bu"  # bu:<BUURT>, bu:none


def buurt_question(registry: Registry, *, area_code: str) -> tuple[str, Buttons] | None:
    """After a subscription: "In welke buurt van … woon je?" with a button per buurt; None for an area of one
    buurt (nothing to choose) or an unknown area."""
    area = registry.find_area(area_code)
    if area is None or len(area.buurten) < 2:
        return None
    buttons: Buttons = [[{"text": b.name, "callback_data": f"{BUURT_CALLBACK}:{b.code}"}] for b in area.buurten[:20]]
    buttons.append([{"text": "Weet ik niet", "callback_data": f"{BUURT_CALLBACK}:none"}])
    return (
        f"In welke buurt van {escape(area.label)} woon je? Dan krijg je ook peilingen over je eigen buurt.",
        buttons,
    )


def choose_buurt(session: Session, registry: Registry, *, telegram_id: int, buurt_code: str) -> str:
    """A buurt button: stored when it lies in the resident's wijk (the button could be old or forged)."""
    resident = find_resident(session, telegram_id=telegram_id)
    area = registry.find_area(resident.area_code or "") if resident is not None else None
    if resident is None or area is None:
        return "Deze knop werkt niet (meer)."
    if buurt_code == "none":
        return "Prima. Je krijgt de berichten voor heel " + escape(area.label) + "."
    buurt = next((b for b in area.buurten if b.code == buurt_code), None)
    if buurt is None:
        return "Deze knop werkt niet (meer)."
    resident.buurt_code = buurt.code
    return f"Dank je! Je woont in {escape(buurt.name)}."
