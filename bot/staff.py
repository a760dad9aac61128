"""The staff side: buttons on a notification, replies to a resident, /inbox.

```mermaid
flowchart LR
    N[notification with buttons] -->|Oppakken| C[claimed; colleagues told]
    N -->|Beantwoorden or reply to it| R[text to the resident; thread opens]
    R --> A[resident's answer comes back here]
    N -->|Doorsturen| F[pick a colleague; they get it]
    N -->|Afronden| D[pick or type an outcome; resident hears 'je zei, wij deden']
```

Every command and button asks wijkbot.rights: who may see or do what with which item follows from the
staff member's role, areas and active flag in the database, never from the chat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import ContextTypes

from bot.callbacks import answer_quietly
from bot.intake import StoringUpdateQueue
from bot.menu import set_menu
from bot.runtime import runtime
from db import models
from wijkbot import purposes
from wijkbot.channels import is_channel_chat
from wijkbot.commands import commands_for
from wijkbot.initiatives import decide_typed
from wijkbot.municipalities import Registry
from wijkbot.outbox import enqueue, find_by_telegram_message
from wijkbot.payloads import Buttons
from wijkbot.reach import LinkError, queue_wijk_links
from wijkbot.rights import Action, NotAllowed
from wijkbot.services import Services
from wijkbot.staff import accept_invite, find_staff_by_telegram_id, invite_exists
from wijkbot.staff_loop import (
    OUTCOMES,
    advise,
    awaiting_of,
    claim,
    close,
    expired_text,
    forward,
    forward_candidates,
    inbox_page,
    load_item_for,
    reply,
    set_awaiting,
)
from wijkbot.text_budget import page_buttons
from wijkbot.web_login import LoginRefused, create_login_link

OUTCOME_LABELS = {"done": "Uitgevoerd", "planned": "Op de planning", "passed": "Doorgezet", "not_possible": "Kan niet"}
STAFF_HELP = (
    "Je bent aangemeld als medewerker. Nieuwe items komen hier binnen met knoppen. "
    "Antwoorden: reageer (reply) op het bericht van een item, of druk op Beantwoorden. /inbox toont "
    "wat openstaat; /web geeft een inloglink voor de werkplek in je browser."
)


@dataclass(frozen=True)
class _Press:
    """One staff button press, checked: who pressed, on which item, and how to answer in their chat."""

    session: Session
    services: Services
    staff: models.StaffMember
    item_id: int
    arg: str
    chat_id: int
    purpose: purposes.Purpose
    now: datetime

    def ask(self, text: str, buttons: Buttons | None = None) -> None:
        """The follow-up question in the presser's chat."""
        enqueue(
            self.session,
            purpose=self.purpose,
            chat_id=self.chat_id,
            text=text,
            buttons=buttons,
            priority=10,
            now=self.now,
        )


def _claim(press: _Press) -> str:
    return claim(press.session, staff=press.staff, item_id=press.item_id, now=press.now).message


def _ask_reply(press: _Press) -> str:
    item = load_item_for(press.session, staff=press.staff, item_id=press.item_id, action=Action.REPLY)
    set_awaiting(press.staff, action="reply", item_id=item.id, now=press.now)
    press.ask(f"Typ je antwoord op #{item.id}. Het gaat rechtstreeks naar de inwoner.")
    return "Typ je antwoord."


def _ask_advice(press: _Press) -> str:
    item = load_item_for(press.session, staff=press.staff, item_id=press.item_id, action=Action.ADVISE)
    set_awaiting(press.staff, action="advise", item_id=item.id, now=press.now)
    press.ask(f"Typ je advies over #{item.id}. Het gaat naar de gemeente, niet naar de inwoner.")
    return "Typ je advies."


def _ask_colleague(press: _Press) -> str:
    candidates = forward_candidates(press.session, press.services.registry, staff=press.staff, item_id=press.item_id)
    if not candidates:
        return "Er is geen collega om naar door te sturen."
    buttons: Buttons = [
        [{"text": c.name[:40], "callback_data": f"item:{press.item_id}:fwd:{c.id}"}] for c in candidates[:10]
    ]
    press.ask(f"Naar wie stuur je #{press.item_id} door?", buttons)
    return "Kies een collega."


def _forward(press: _Press) -> str:
    if not press.arg.isdigit():
        raise NotAllowed("Deze knop is ongeldig.")
    settings = press.services.settings
    return forward(
        press.session,
        press.services.registry,
        staff=press.staff,
        item_id=press.item_id,
        to_staff_id=int(press.arg),
        now=press.now,
        remind_after=timedelta(hours=settings.reminder_after_hours),
        escalate_after=timedelta(hours=settings.escalate_after_hours),
    ).message


def _ask_outcome(press: _Press) -> str:
    load_item_for(press.session, staff=press.staff, item_id=press.item_id, action=Action.CLOSE)
    buttons = [
        [{"text": label, "callback_data": f"item:{press.item_id}:out:{key}"}] for key, label in OUTCOME_LABELS.items()
    ]
    buttons.append([{"text": "Zelf typen", "callback_data": f"item:{press.item_id}:out:text"}])
    press.ask(f"Wat is de uitkomst van #{press.item_id}?", buttons)
    return "Kies de uitkomst."


def _outcome(press: _Press) -> str:
    if press.arg == "text":
        load_item_for(press.session, staff=press.staff, item_id=press.item_id, action=Action.CLOSE)
        set_awaiting(press.staff, action="close", item_id=press.item_id, now=press.now)
        press.ask(f"Typ wat er met #{press.item_id} is gedaan. De inwoner krijgt dit te lezen.")
        return "Typ de uitkomst."
    if press.arg not in OUTCOMES:
        raise NotAllowed("Deze knop is ongeldig.")
    return close(press.session, staff=press.staff, item_id=press.item_id, outcome=press.arg, now=press.now).message


# item:<id>:<action>[:<arg>] -> what the press does; wijkbot.rights checks every one against the database
ITEM_ACTIONS: dict[str, Callable[[_Press], str]] = {
    "claim": _claim,
    "reply": _ask_reply,
    "advise": _ask_advice,
    "forward": _ask_colleague,
    "fwd": _forward,
    "close": _ask_outcome,
    "out": _outcome,
}


async def press_item_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A staff button: item:<id>:<action>[:<arg>]. Forged or foreign data is refused."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    rt = runtime(context)
    parts = (query.data or "").split(":")
    now = rt.clock()

    def act(session: Session) -> str:
        staff = find_staff_by_telegram_id(session, telegram_id=user.id)
        if staff is None:
            raise NotAllowed("Alleen medewerkers kunnen dit.")
        if len(parts) < 3 or not parts[1].isdigit() or parts[2] not in ITEM_ACTIONS:
            raise NotAllowed("Deze knop is ongeldig.")
        arg = parts[3] if len(parts) > 3 else ""
        purpose = purposes.button_answer(update.update_id)
        press = _Press(session, rt.services, staff, int(parts[1]), arg, chat.id, purpose, now)
        return ITEM_ACTIONS[parts[2]](press)

    try:
        message = await rt.db(act)
    except NotAllowed as exc:
        await answer_quietly(query, str(exc)[:190], show_alert=True)
        return
    rt.sender.wake()
    await answer_quietly(query, _plain(message)[:190])


def _plain(text: str) -> str:
    from wijkbot.telegram_html import plain_text

    return plain_text(text)


Answer = str | tuple[str, Buttons | None]
# what a staff member's typed text does after the button that asked for it (wijkbot.staff_loop.AWAITED)
TYPED: dict[str, Callable[[Session, Registry, models.StaffMember, int, str, datetime], Answer]] = {
    "reply": lambda s, r, staff, item, text, now: reply(s, r, staff=staff, item_id=item, text=text, now=now).message,
    "advise": lambda s, r, staff, item, text, now: advise(s, r, staff=staff, item_id=item, text=text, now=now).message,
    "close": lambda s, r, staff, item, text, now: close(s, staff=staff, item_id=item, outcome=text, now=now).message,
    # an initiative's amount (Toekennen) or reason (Past niet), bot/initiative.py
    "grant": lambda s, r, staff, item, text, now: decide_typed(
        s, r, staff=staff, action="grant", item_id=item, text=text, now=now
    ),
    "reject": lambda s, r, staff, item, text, now: decide_typed(
        s, r, staff=staff, action="reject", item_id=item, text=text, now=now
    ),
}


async def handle_staff_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Staff typed: a reply to a notification, an awaited answer or outcome, or else a short help. False, and
    nothing done, when the sender is not staff (found when the text was stored, or else in the same transaction
    as the work: one look-up per text)."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or message.text is None:
        return False
    queue = context.application.update_queue
    if isinstance(queue, StoringUpdateQueue) and queue.from_resident(update.update_id):
        return False  # looked up when the text was stored: not staff
    rt = runtime(context)
    registry = rt.services.registry
    text = message.text.strip()
    replied_to = message.reply_to_message.message_id if message.reply_to_message else None
    now = rt.clock()
    valid_for = timedelta(minutes=rt.services.settings.staff_awaiting_minutes)

    def act(session: Session) -> Answer | None:
        staff = find_staff_by_telegram_id(session, telegram_id=user.id)
        if staff is None:
            return None
        if replied_to is not None:
            row = find_by_telegram_message(session, chat_id=chat.id, message_id=replied_to)
            if row is not None and row.item_id is not None:
                set_awaiting(staff, action=None)
                return reply(session, registry, staff=staff, item_id=row.item_id, text=text, now=now).message
        awaiting = awaiting_of(staff, now=now, valid_for=valid_for)
        if awaiting is None:
            return STAFF_HELP
        set_awaiting(staff, action=None)
        if awaiting.expired:  # typed long after the button: it may not be meant for the resident any more
            return expired_text(awaiting, valid_for=valid_for)
        return TYPED[awaiting.action](session, registry, staff, awaiting.item_id, text, now)

    try:
        answer = await rt.db(act)
    except NotAllowed as exc:
        answer = escape(str(exc))
    if answer is None:
        return False
    said, buttons = answer if isinstance(answer, tuple) else (answer, None)
    await rt.say(chat.id, purposes.staff_answer(update.update_id), said, buttons)
    return True


async def show_inbox(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/inbox [page]: the open items the staff member's role may see (wijkbot.rights), oldest first, a page at
    a time (each page within one Telegram message; "Volgende" turns it)."""
    args = context.args or []
    await _send_inbox(update, context, int(args[0]) if args and args[0].isdigit() else 1)


async def press_inbox_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Volgende" or "Vorige" under /inbox: inbox:<page>."""
    query = update.callback_query
    if query is None:
        return
    number = (query.data or "").partition(":")[2]
    await _send_inbox(update, context, int(number) if number.isdigit() else 1)
    await answer_quietly(query)


async def _send_inbox(update: Update, context: ContextTypes.DEFAULT_TYPE, number: int) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    rt = runtime(context)
    registry = rt.services.registry

    def page(session: Session) -> tuple[str, Buttons | None]:
        staff = find_staff_by_telegram_id(session, telegram_id=user.id)
        if staff is None:
            return "Dit commando is alleen voor medewerkers.", None
        try:
            found = inbox_page(session, registry, staff=staff, number=number)
        except NotAllowed as exc:
            return escape(str(exc)), None
        if found is None:
            return "Er staat niets open. 🎉", None
        return found.text, page_buttons(found, prefix="inbox")

    text, buttons = await rt.db(page)
    await rt.say(chat.id, purposes.command_answer(update.update_id), text, buttons)


async def send_web_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/web: a one-time link into the web workspace (wijkbot.web_login), for active staff only."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    rt = runtime(context)
    settings = rt.services.settings
    minutes = settings.web_login_minutes

    def make(session: Session) -> str:
        try:
            link = create_login_link(
                session,
                telegram_id=user.id,
                base_url=settings.web_url,
                valid_for=timedelta(minutes=minutes),
                now=rt.clock(),
            )
        except LoginRefused as exc:
            return escape(str(exc))
        return (
            f"Je inloglink voor de werkplek. Hij werkt één keer en {minutes:g} minuten lang; deel hem met niemand.\n"
            f"{escape(link.url)}"
        )

    await rt.say(chat.id, purposes.command_answer(update.update_id), await rt.db(make))


async def send_wijk_links(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/wijklink [bron]: for each of the staff or council member's areas, its QR code with the link to recruit
    residents (wijkbot.reach); the source defaults to "link"."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    rt = runtime(context)
    registry, username, now = rt.services.registry, context.bot.username, rt.clock()
    source = (context.args or ["link"])[0]

    def queue(session: Session) -> str | None:
        staff = find_staff_by_telegram_id(session, telegram_id=user.id)
        if staff is None:
            return "Dit commando is alleen voor medewerkers en leden van een wijk- of dorpsraad."
        try:
            queue_wijk_links(
                session,
                registry,
                staff=staff,
                bot_username=username,
                chat_id=chat.id,
                update_id=update.update_id,
                source=source,
                now=now,
            )
        except (NotAllowed, LinkError) as exc:
            return escape(str(exc))
        return None

    refused = await rt.db(queue)
    if refused is not None:
        await rt.say(chat.id, purposes.command_answer(update.update_id), refused)
    rt.sender.wake()


async def accept_staff_invite(update: Update, context: ContextTypes.DEFAULT_TYPE, *, code: str) -> bool:
    """/start <code>: a valid staff invite binds this Telegram account (wijkbot.staff.accept_invite), sets the
    staff command menu and welcomes them; someone already staff is told so. True when the /start was staff's
    (nothing more to do), False when it is a resident's (the code may be a wijk link)."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return False
    rt = runtime(context)
    if is_channel_chat(chat.id):  # staff work in Telegram and the web workspace; the other channels are residents'
        if await rt.db(lambda s: invite_exists(s, code=code)):
            text = "Een uitnodiging voor medewerkers werkt alleen in Telegram. Open de link op je telefoon in Telegram."
            await rt.say(chat.id, purposes.command_answer(update.update_id), text)
            return True
        return False
    now, valid_for = rt.clock(), timedelta(days=rt.services.settings.staff_invite_days)

    def act(session: Session) -> tuple[models.StaffMember | None, bool]:
        member = accept_invite(
            session, code=code, telegram_id=user.id, name=user.full_name, now=now, valid_for=valid_for
        )
        if member is not None:
            return member, True
        return find_staff_by_telegram_id(session, telegram_id=user.id), False

    member, accepted = await rt.db(act)
    if member is None:
        return False
    if accepted:
        await set_menu(context.bot, chat.id, commands_for(member))  # /inbox, /peiling as the role allows
        text = (
            f"Welkom, {member.name}! Je bent nu aangemeld als {member.role} voor {', '.join(member.area_codes)}. "
            "Nieuwe meldingen en ideeën uit je gebied komen hier binnen. /inbox toont wat openstaat."
        )
    else:
        text = "Je bent al aangemeld. /inbox toont wat openstaat."
    await rt.say(chat.id, purposes.command_answer(update.update_id), text)
    return True
