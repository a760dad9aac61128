"""The resident side: text and buttons to Rasa, and the commands that need no conversation.

```mermaid
flowchart TD
    U[resident message] --> S[(stored, once per update_id)]
    S --> T{open staff thread?}
    T -- yes --> W[relayed to that staff member]
    T -- no --> R[Rasa turn, update_id in the metadata]
    R -- replies, or an apology for an empty answer --> O[(outbox)] --> SEND[sender] --> U2[resident]
    R -- slower than HOLDING_REPLY_AFTER_SECONDS --> HW[holding reply once; still waiting] --> R
    R -- down, or past RASA_TIMEOUT_SECONDS --> H[holding reply once; retried with backoff, in order]
    H --> A{Rasa saved this update after all?}
    A -- yes --> O
    A -- no --> R
```
"""

from __future__ import annotations

import functools
from html import escape
from typing import Any

from sqlalchemy.orm import Session
from telegram import Message, Update, User
from telegram.ext import ContextTypes

from bot import staff
from bot.callbacks import answer_quietly
from bot.initiative import open_share_link
from bot.runtime import Runtime, runtime
from wijkbot import purposes
from wijkbot.commands import RESIDENT_COMMANDS
from wijkbot.initiatives import add_realised_photo, parse_share
from wijkbot.items import add_photo_to_latest_item, my_items_page
from wijkbot.municipalities import Registry
from wijkbot.offers import CALLBACK as OFFER_CALLBACK
from wijkbot.offers import VIA as OFFER_VIA
from wijkbot.offers import buurt_question, choose_buurt, decline_offer, queue_offer
from wijkbot.outbox import rasa_button_payload
from wijkbot.payloads import Buttons
from wijkbot.privacy import privacy_statement
from wijkbot.reach import VIA as LINK_VIA
from wijkbot.reach import LinkError, accept_link, open_link, parse_link
from wijkbot.residents import get_or_create_resident, set_outreach
from wijkbot.text_budget import page_buttons

UNKNOWN_COMMAND = (
    "Dat commando ken ik niet. Je kunt gewoon typen wat je wilt vertellen of vragen. Commando's: "
    + ", ".join(f"/{command.name}" for command in RESIDENT_COMMANDS if command.name != "start")
    + "."
)
NOT_TEXT = "Ik kan alleen tekst lezen. Vertel in een bericht wat je wilt delen, melden of vragen."
GROUP_REPLY = "Ik werk alleen in een privégesprek. Stuur me een persoonlijk bericht."
UNKNOWN_LINK = (
    "Deze link ken ik niet (meer), maar dat geeft niet: vertel me gewoon wat je wilt delen, melden of vragen."
)
LINK_SUBSCRIBED = "Fijn! Je hoort af en toe wat er in je wijk speelt. Stoppen kan altijd met /stop."
LINK_DECLINED = "Prima, je krijgt geen berichten van ons. Wil je later toch? Typ dan 'aanmelden'."


def telegram_meta(update: Update) -> dict[str, Any]:
    """What Rasa may know about the sender: ids, first name and language, nothing more."""
    user, chat = update.effective_user, update.effective_chat
    return {
        "user_id": user.id if user else None,
        "chat_id": chat.id if chat else None,
        "first_name": user.first_name if user else None,
        "language_code": user.language_code if user else None,
    }


async def forward_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident's typed message: answered by the staff thread or by Rasa, in order."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or update.effective_chat is None or message.text is None:
        return
    rt = runtime(context)
    if message.text.lstrip().startswith("/"):
        # typed "/intent{...}" must never steer Rasa
        await rt.say(update.effective_chat.id, purposes.command_answer(update.update_id), UNKNOWN_COMMAND)
        return
    await rt.conversation.submit(
        update_id=update.update_id,
        chat_id=update.effective_chat.id,
        user_id=user.id,
        text=message.text,
        meta=telegram_meta(update),
    )


async def press_rasa_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident pressed one of Rasa's buttons: its payload, read from our own database, goes to Rasa; the
    press is answered after that (best-effort: a late press still reaches Rasa)."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    rt = runtime(context)
    payload = await rt.db(lambda s: button_payload(s, data=query.data or "", chat_id=chat.id))
    if payload is None:
        await answer_quietly(query, "Deze knop werkt niet meer. Typ gewoon je antwoord.")
        return
    await rt.conversation.submit(
        update_id=update.update_id,
        chat_id=chat.id,
        user_id=user.id,
        text=payload,
        meta={**telegram_meta(update), "button": True},
    )
    await answer_quietly(query)


def button_payload(session: Session, *, data: str, chat_id: int) -> str | None:
    """The payload behind "rb:<row>:<index>", only if that row was sent to this very chat."""
    try:
        _, row_id, index = data.split(":")
        return rasa_button_payload(session, row_id=int(row_id), index=int(index), chat_id=chat_id)
    except ValueError:
        return None


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: a staff invite code binds the account (bot.staff.accept_staff_invite); a wijk link sets the
    resident's wijk and, after the greeting, offers outreach in one tap; otherwise the assistant greets the
    resident."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    rt = runtime(context)
    offer: tuple[str, Buttons | None] | None = None
    if context.args:
        code = context.args[0]
        if await staff.accept_staff_invite(update, context, code=code):
            return
        if parse_share(code) is not None:  # an initiative's share link: its card, after the greeting
            offer = await rt.db(lambda s: open_share_link(s, context, code=parse_share(code) or ""))
        else:
            offer = await rt.db(lambda s: open_wijk_link(s, rt.services.registry, payload=code, user=user))
    await rt.conversation.submit(
        update_id=update.update_id, chat_id=chat.id, user_id=user.id, text="/greet", meta=telegram_meta(update)
    )
    # After the greeting (when Rasa answers in time; else after the holding reply): the privacy statement
    registry = rt.services.registry
    statement = await rt.db(lambda s: privacy_statement(s, registry, telegram_id=user.id))
    await rt.say(chat.id, purposes.privacy_statement(update.update_id), statement)
    if offer is not None:
        await rt.say(chat.id, purposes.link_offer(update.update_id), *offer)
    else:
        await offer_opt_in(rt, user_id=user.id, update_id=update.update_id)


async def offer_opt_in(rt: Runtime, *, user_id: int, update_id: int) -> None:
    """After the greeting or /help: the opt-in offer, when its rules allow it (wijkbot.offers)."""
    now, registry = rt.clock(), rt.services.registry
    queued = await rt.db(
        lambda s: queue_offer(s, registry, telegram_id=user_id, purpose=purposes.link_offer(update_id), now=now)
    )
    if queued:
        rt.sender.wake()


def open_wijk_link(session: Session, registry: Registry, *, payload: str, user: User) -> tuple[str, Buttons | None]:
    """What to say after the greeting of `/start <payload>`: the one-tap opt-in of a wijk link (its wijk set,
    its source recorded), or a kind word about a link that is not (or no longer) one."""
    try:
        link = parse_link(registry, payload)
    except LinkError:
        return UNKNOWN_LINK, None
    opened = open_link(session, telegram_id=user.id, first_name=user.first_name, link=link)
    label = escape(opened.area.label)
    if opened.subscribed:
        return f"Je woont in {label}, zie ik aan de link. Je krijgt al af en toe berichten uit je wijk.", None
    buttons: Buttons = [
        [{"text": "Ja, houd me op de hoogte", "callback_data": f"wl:yes:{opened.area.code}"}],
        [{"text": "Nee, liever niet", "callback_data": "wl:no"}],
    ]
    return (
        f"Je woont in {label}, zie ik aan de link. Wil je af en toe horen wat er in {label} speelt? Dan krijg je "
        "soms een peiling of een vraag uit je wijk. Stoppen kan altijd met /stop.",
        buttons,
    )


async def answer_link_offer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Ja" or "Nee" under a wijk link's offer (wl:…) or the opt-in offer (of:…, wijkbot.offers): yes:<area>
    subscribes to that wijk (consent via `link` or `offer`); no is remembered, so the offer waits 90 days."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    rt = runtime(context)
    prefix, _, rest = (query.data or "").partition(":")
    answer, _, area_code = rest.partition(":")
    via = OFFER_VIA if prefix == OFFER_CALLBACK else LINK_VIA
    now = rt.clock()

    def subscribe(session: Session) -> str:
        try:
            changed = accept_link(
                session, rt.services.registry, telegram_id=user.id, area_code=area_code, now=now, via=via
            )
        except LinkError:
            return "Deze knop werkt niet (meer). Typ 'aanmelden' om je aan te melden."
        return LINK_SUBSCRIBED if changed else "Je was al aangemeld. Stoppen kan altijd met /stop."

    if answer == "yes":
        text = await rt.db(subscribe)
        await rt.say(chat.id, purposes.command_answer(update.update_id), text)
        question = buurt_question(rt.services.registry, area_code=area_code) if text == LINK_SUBSCRIBED else None
        if question is not None:  # so that a poll for one buurt can reach them
            await rt.say(chat.id, purposes.buurt_question(update.update_id), *question)
    else:
        decline = functools.partial(decline_offer, telegram_id=user.id, now=now)
        await rt.say(chat.id, purposes.command_answer(update.update_id), LINK_DECLINED, extra=decline)
    await answer_quietly(query)


async def answer_buurt(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A buurt button after subscribing (bu:<BUURT> or bu:none): the resident's buurt is stored."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    rt = runtime(context)
    code = (query.data or "").removeprefix("bu:")
    text = await rt.db(lambda s: choose_buurt(s, rt.services.registry, telegram_id=user.id, buurt_code=code))
    await rt.say(chat.id, purposes.command_answer(update.update_id), text)
    await answer_quietly(query)


async def show_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: the assistant explains what it can do."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    rt = runtime(context)
    await rt.conversation.submit(
        update_id=update.update_id, chat_id=chat.id, user_id=user.id, text="/help", meta=telegram_meta(update)
    )
    await offer_opt_in(rt, user_id=user.id, update_id=update.update_id)


async def list_my_items(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/mijnideeen [page]: the resident's own items and where each one stands, a page at a time."""
    args = context.args or []
    await _send_my_items(update, context, int(args[0]) if args and args[0].isdigit() else 1)


async def press_my_items_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Volgende" or "Vorige" under /mijnideeen: mine:<page>."""
    query = update.callback_query
    if query is None:
        return
    number = (query.data or "").partition(":")[2]
    await _send_my_items(update, context, int(number) if number.isdigit() else 1)
    await answer_quietly(query)


async def _send_my_items(update: Update, context: ContextTypes.DEFAULT_TYPE, number: int) -> None:
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    rt = runtime(context)

    def page(session: Session) -> tuple[str, Buttons | None]:
        found = my_items_page(session, rt.services.registry, telegram_id=user.id, number=number)
        if found is None:
            return "Je hebt nog niets gestuurd. Vertel gerust je idee, vraag of melding.", None
        return found.text, page_buttons(found, prefix="mine")

    text, buttons = await rt.db(page)
    await rt.say(chat.id, purposes.command_answer(update.update_id), text, buttons)


async def stop_outreach(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stop: no more polls or check-ins, at once."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    rt = runtime(context)

    def stop(session: Session) -> None:
        resident = get_or_create_resident(session, telegram_id=user.id, first_name=user.first_name)
        set_outreach(session, resident, opt_in=False, via="/stop")

    await rt.say(
        chat.id,
        purposes.command_answer(update.update_id),
        "Je krijgt geen peilingen en berichten uit je wijk meer. Je kunt me altijd nog zelf iets sturen. "
        "Weer aanmelden? Typ 'aanmelden'.",
        extra=stop,
    )


async def answer_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other /command gets a friendly list of what exists."""
    if update.effective_chat is not None:
        await runtime(context).say(update.effective_chat.id, purposes.command_answer(update.update_id), UNKNOWN_COMMAND)


def non_text_answer(message: Message | None) -> str:
    """A reply that names what the resident sent: voice, video, sticker, document, contact or other."""
    if message is None:
        return NOT_TEXT
    if message.voice or message.audio or message.video_note:
        return "Ik kan geen spraak- of geluidsberichten beluisteren. " + NOT_TEXT
    if message.video or message.animation:
        return "Video's kan ik niet bekijken. " + NOT_TEXT
    if message.sticker:
        return "Leuke sticker! " + NOT_TEXT
    if message.document:
        return "Bestanden open ik niet, om veiligheidsredenen. " + NOT_TEXT
    if message.contact:
        return "Contactgegevens van anderen bewaar ik niet. " + NOT_TEXT
    return NOT_TEXT


async def answer_non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Voice, video, stickers, documents, contacts and the like: a clear answer, nothing lost."""
    if update.effective_chat is not None:
        text = non_text_answer(update.effective_message)
        await runtime(context).say(update.effective_chat.id, purposes.command_answer(update.update_id), text)


async def answer_group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Messages in groups: the bot only talks one to one."""
    if update.effective_chat is not None:
        await runtime(context).say(
            update.effective_chat.id, purposes.group_notice(update.effective_chat.id), GROUP_REPLY
        )


async def attach_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo: attached to the resident's latest open item by Telegram file id only (nothing downloaded)."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or not message.photo:
        return
    rt = runtime(context)
    file_id = message.photo[-1].file_id
    now = rt.clock()

    def attach(session: Session) -> str:
        item_id = add_photo_to_latest_item(
            session, telegram_id=user.id, file_id=file_id, update_id=update.update_id, now=now
        )
        if item_id is None and (done := add_realised_photo(session, telegram_id=user.id, file_id=file_id, now=now)):
            return f"Dank je! De foto staat nu bij je gerealiseerde buurtinitiatief #{done}: zo ziet de buurt het."
        if item_id is None:
            return (
                "Dank je voor de foto. Vertel eerst in een bericht wat je wilt melden of voorstellen; "
                "daarna kun je er een foto bij sturen."
            )
        return (
            f"Je foto is toegevoegd aan #{item_id}. Let op: een foto kan de plek bevatten waar hij is "
            "gemaakt. Wil je dat niet delen, zet dan locatie uit in je camera."
        )

    text = await rt.db(attach)
    await rt.say(chat.id, purposes.command_answer(update.update_id), text)


async def answer_location(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A shared location: not used for routing yet, so ask for the postcode."""
    if update.effective_chat is not None:
        await runtime(context).say(
            update.effective_chat.id,
            purposes.command_answer(update.update_id),
            "Dank je. Ik kan nog niet zien in welke wijk een locatie ligt. Wil je je postcode sturen? "
            "Bijvoorbeeld 4901 AB.",
        )


async def answer_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: say that edits are not read, so nothing is silently missed."""
    if update.effective_chat is not None:
        await runtime(context).say(
            update.effective_chat.id,
            purposes.command_answer(update.update_id),
            "Ik zie dat je een bericht hebt aangepast. Ik lees alleen nieuwe berichten: stuur je aanpassing "
            "gerust als nieuw bericht.",
        )


async def answer_stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button whose data we do not know (old or forged): answer it, change nothing."""
    if update.callback_query is not None:
        await answer_quietly(update.callback_query, "Deze knop werkt niet (meer).")
