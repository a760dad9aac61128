"""Outbox purposes: the one place that knows how they look.

A row is unique per (purpose, recipient): writing the same purpose to the same chat twice queues it once.
That makes the purpose the idempotency key of every message, so it must name what caused the message (an
update, an item event, a poll) and nothing that changes when the same cause is handled again. The prefixes
also carry meaning: outreach (`poll:`, `checkin:`, `nudge:`) is never re-sent after an uncertain send
(wijkbot.delivery), and the inbox alerts are counted by theirs. docs/outbox.md is the table of them all.
"""

from __future__ import annotations

from datetime import datetime
from typing import NewType

Purpose = NewType("Purpose", str)

OUTREACH_PREFIXES = ("poll:", "checkin:", "nudge:", "announce:")
WITHDRAWN = ":withdrawn:"  # every message that tells staff an item was withdrawn has this in its purpose
INITIATIVE_POSTCODE = "initiative:postcode:"  # a supporter's reply to this question is their postcode


def asked_postcode(purpose: str) -> tuple[str, bool] | None:
    """(share code, joins) of an `initiative_postcode` question; None for any other purpose."""
    if not purpose.startswith(INITIATIVE_POSTCODE):
        return None
    code, _, rest = purpose.removeprefix(INITIATIVE_POSTCODE).partition(":")
    return code, rest.startswith("join:")


def part(purpose: Purpose, index: int) -> Purpose:
    """The purpose of the `index`-th message (1, 2, …) a text too long for one was split into."""
    return purpose if index == 1 else Purpose(f"{purpose}#{index}")


def is_outreach(purpose: str) -> bool:
    return purpose.startswith(OUTREACH_PREFIXES)


# --- answers in a conversation (keyed by the Telegram update that caused them) -------------------------


def rasa_reply(update_id: int, index: int) -> Purpose:
    return Purpose(f"reply:{update_id}:{index}")


def holding_reply(update_id: int) -> Purpose:
    return Purpose(f"holding:{update_id}")


def give_up(update_id: int) -> Purpose:
    return Purpose(f"giveup:{update_id}")


def relayed(update_id: int) -> Purpose:
    return Purpose(f"relayed:{update_id}")


def command_answer(update_id: int) -> Purpose:
    return Purpose(f"cmd:{update_id}")


def staff_answer(update_id: int) -> Purpose:
    return Purpose(f"staff:{update_id}")


def button_answer(update_id: int) -> Purpose:
    return Purpose(f"btn:{update_id}")


def wizard_step(update_id: int) -> Purpose:
    return Purpose(f"peiling:{update_id}")


def button_notice(update_id: int) -> Purpose:
    """What a button press answers on a channel without Telegram's alerts (the web chat, WhatsApp)."""
    return Purpose(f"note:{update_id}")


def poll_reopened(update_id: int) -> Purpose:
    """The poll itself, after the resident pressed the WhatsApp poll template's button (wijkbot.channels)."""
    return Purpose(f"ballot:{update_id}")


def unsupported_message(external_id: str) -> Purpose:
    """The answer to a WhatsApp message of a kind the bot cannot read (a photo, a voice note), once per message."""
    return Purpose(f"unread:{external_id[-80:]}")


def group_notice(chat_id: int) -> Purpose:
    return Purpose(f"group:{chat_id}")


def export(update_id: int) -> Purpose:
    return Purpose(f"export:{update_id}")


def export_file(update_id: int) -> Purpose:
    return Purpose(f"export:{update_id}:file")


def privacy_statement(update_id: int) -> Purpose:
    """The privacy statement sent after the greeting of /start."""
    return Purpose(f"privacy:{update_id}")


def link_offer(update_id: int) -> Purpose:
    """The one-tap opt-in question after `/start` (with a wijk link: wijkbot.reach) or `/help` (wijkbot.offers)."""
    return Purpose(f"offer:{update_id}")


def offer_after(cause: str) -> Purpose:
    """The opt-in offer behind what caused it (wijkbot.offers): `item:<id>` filed, `reply:<event>` answered."""
    return Purpose(f"offer:{cause}")


def buurt_question(update_id: int) -> Purpose:
    """After a subscription by button: which buurt of the wijk the resident lives in (wijkbot.offers)."""
    return Purpose(f"buurt:{update_id}")


def wijk_link(update_id: int, area_code: str) -> Purpose:
    """One area's link and QR code, sent by `/wijklink`."""
    return Purpose(f"wijklink:{update_id}:{area_code}")


def erased(update_id: int) -> Purpose:
    return Purpose(f"erased:{update_id}")


def unhandled(update_id: int) -> Purpose:
    return Purpose(f"unhandled:{update_id}")


def unhandled_alert(update_id: int) -> Purpose:
    return Purpose(f"unhandled-alert:{update_id}")


# --- items -----------------------------------------------------------------------------------------------


def item_notice(item_id: int, tag: str, staff_id: int) -> Purpose:
    """A notice about an item to one staff member: `new`, `forward<event>`, `claimed`, `closed`."""
    return Purpose(f"item:{item_id}:{tag}:{staff_id}")


def item_reply(item_id: int, event_id: int) -> Purpose:
    return Purpose(f"item:{item_id}:reply:{event_id}")


def item_resident_answer(item_id: int, update_id: int) -> Purpose:
    return Purpose(f"item:{item_id}:resident:{update_id}")


def item_closed(item_id: int) -> Purpose:
    return Purpose(f"item:{item_id}:closed")


def item_expired(item_id: int) -> Purpose:
    return Purpose(f"item:{item_id}:expired")


def item_photo(item_id: int, update_id: int, staff_id: int) -> Purpose:
    return Purpose(f"item:{item_id}:photo:{update_id}:{staff_id}")


def item_reminder(item_id: int, staff_id: int, round_: int) -> Purpose:
    """Round 1 has no suffix, later rounds `:2`, `:3` … (a forwarded item is reminded again)."""
    return Purpose(f"item:{item_id}:remind:{staff_id}{_round(round_)}")


def item_escalation(item_id: int, lead_id: int, round_: int) -> Purpose:
    return Purpose(f"item:{item_id}:escalate:{lead_id}{_round(round_)}")


def initiative_share(item_id: int, update_id: int) -> Purpose:
    """The share link and QR code of an initiative, to its initiator."""
    return Purpose(f"initiative:{item_id}:share:{update_id}")


def realised_photo(update_id: int, index: int) -> Purpose:
    """The `index`-th photo of a realised initiative shown by `/gerealiseerd`."""
    return Purpose(f"cmd:{update_id}:photo:{index}")


def initiative_share_qr(item_id: int, update_id: int) -> Purpose:
    return Purpose(f"initiative:{item_id}:share:{update_id}:qr")


def initiative_postcode(code: str, joins: bool, update_id: int) -> Purpose:
    """The question for a supporter's postcode; their reply to it names the initiative and the button."""
    return Purpose(f"{INITIATIVE_POSTCODE}{code}:{'join' if joins else 'support'}:{update_id}")


def initiative_supporter(item_id: int, supporter_id: int, joined: bool) -> Purpose:
    """The initiator hears of a new supporter (`:join` once they also join)."""
    return Purpose(f"initiative:{item_id}:supporter:{supporter_id}{':join' if joined else ''}")


def initiative_stage(item_id: int, stage: str, resident_id: int) -> Purpose:
    """The initiator or one supporter hears the initiative reached a stage: once per stage and person."""
    return Purpose(f"initiative:{item_id}:stage:{stage}:{resident_id}")


def item_withdrawn(item_id: int, staff_id: int) -> Purpose:
    return Purpose(f"item:{item_id}{WITHDRAWN}{staff_id}")


def item_withdrawn_edit(item_id: int, outbox_id: int) -> Purpose:
    return Purpose(f"item:{item_id}{WITHDRAWN}edit:{outbox_id}")


def _round(number: int) -> str:
    return f":{number}" if number > 1 else ""


# --- outreach and polls ------------------------------------------------------------------------------------


def poll_ballot(poll_id: int) -> Purpose:
    return Purpose(f"poll:{poll_id}")


def poll_intro(poll_id: int) -> Purpose:
    return Purpose(f"poll:{poll_id}:intro")


def poll_stop(poll_id: int) -> Purpose:
    return Purpose(f"poll:{poll_id}:stop")


def poll_results(poll_id: int) -> Purpose:
    return Purpose(f"poll:{poll_id}:results")


def poll_chart(poll_id: int) -> Purpose:
    return Purpose(f"poll:{poll_id}:chart")


def announcement(announcement_id: int) -> Purpose:
    """An announcement to one subscriber (wijkbot.announcements)."""
    return Purpose(f"announce:{announcement_id}")


def announcement_reminder(announcement_id: int) -> Purpose:
    """The reminder the day before, for a resident who pressed *Herinner me*."""
    return Purpose(f"announce:{announcement_id}:remind")


def monthly_report(area_code: str, month: str) -> Purpose:
    """The monthly message about one area (reach, "wat speelt er"), to its raad and staff (wijkbot.monthly)."""
    return Purpose(f"monthly:{area_code}:{month}")


def monthly_chart(area_code: str, month: str) -> Purpose:
    return Purpose(f"monthly:{area_code}:{month}:chart")


def checkin(area_code: str, day: str) -> Purpose:
    return Purpose(f"checkin:{area_code}:{day}")


def nudge(asked_at: datetime) -> Purpose:
    return Purpose(f"nudge:{int(asked_at.timestamp())}")


# --- the monthly digest ------------------------------------------------------------------------------------


def digest(month: str, area_code: str) -> Purpose:
    """One area's part of the monthly digest (wijkbot.digest) to a lead: once per (lead, month, area)."""
    return Purpose(f"digest:{month}:{area_code}")


# --- the operators ------------------------------------------------------------------------------------------


def delivery_alert_prefix(staff_id: int) -> str:
    """What the alerts about one staff member's undelivered messages begin with (to count recent ones)."""
    return f"delivery-alert:{staff_id}:"


def delivery_alert(staff_id: int, at: datetime) -> Purpose:
    return Purpose(f"{delivery_alert_prefix(staff_id)}{at.isoformat()}")
