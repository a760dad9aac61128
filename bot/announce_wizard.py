"""/aankondiging: a raad or staff member announces a meeting to their wijk's subscribers; residents answer
*Ik kom* / *Herinner me*; the sender asks for the counts with *Tellingen* (wijkbot.announcements).

```mermaid
flowchart LR
    A[/aankondiging] --> T[title] --> W["when (28-11 19:30)"] --> P[where] --> X[text] --> R{more than one area?}
    R -- yes --> AR[pick an area or all] --> V
    R -- no --> V["preview: the message and how many residents it reaches"]
    V -->|Versturen| S[(queued within cap and quiet hours)] --> C["sent to N; [Tellingen]"]
    V -->|Annuleren| N[nothing sent]
```

The draft lives in the conversation, as /peiling's does; rights are read from the database when the flow
starts and again when it is sent.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.callbacks import answer_quietly
from bot.runtime import runtime
from bot.wizard import ask_area, draft_of, drop_draft, say_step, staff_wizard, take_area
from wijkbot import purposes
from wijkbot.announcements import (
    CALLBACK,
    AnnouncementError,
    Draft,
    allowed_areas,
    announcement_text,
    answer,
    check_when,
    clean_place,
    clean_text,
    clean_title,
    count_recipients,
    counts_button,
    counts_text,
    create_announcement,
)
from wijkbot.outreach import Policy
from wijkbot.payloads import Buttons
from wijkbot.polls import parse_local_time
from wijkbot.staff import find_staff_by_telegram_id

TITLE, WHEN, PLACE, TEXT, AREAS, PREVIEW = range(6)
DRAFT = "announcement_draft"
PREFIX = "aankondiging"
NOT_ALLOWED = "Aankondigingen versturen kan alleen als medewerker of raadslid met een eigen wijk of dorp."
ASK_TITLE = (
    "<b>Nieuwe aankondiging</b>\nWat is het? Typ een korte titel, bijvoorbeeld: Openbare vergadering wijkraad, "
    "Buurtschouw of Inloopavond.\nStoppen kan altijd met /annuleer."
)
ASK_WHEN = "Wanneer is het? Typ datum en tijd, bijvoorbeeld 12-12 19:30."
ASK_PLACE = "Waar is het? Bijvoorbeeld: Wijkcentrum De Slotjes, Slotjesveld 1."
ASK_TEXT = "Typ nu de tekst voor de inwoners: de agenda, of wat je gaat doen."


def _draft(context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any]:
    return draft_of(context, DRAFT)


_say = say_step


def _typed(update: Update) -> str:
    message = update.effective_message
    return message.text or "" if message else ""


async def begin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/aankondiging: a new draft, if this person may announce."""
    user = update.effective_user
    if user is None:
        return ConversationHandler.END
    allowed = await runtime(context).db(lambda s: allowed_areas(find_staff_by_telegram_id(s, telegram_id=user.id)))
    if allowed is None:
        await _say(update, context, NOT_ALLOWED)
        return ConversationHandler.END
    if context.user_data is not None:
        context.user_data[DRAFT] = {"allowed": allowed}
    await _say(update, context, ASK_TITLE)
    return TITLE


async def take_title(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    try:
        _draft(context)["title"] = clean_title(_typed(update))
    except AnnouncementError as exc:
        await _say(update, context, f"{escape(str(exc))} Typ de titel opnieuw.")
        return TITLE
    await _say(update, context, ASK_WHEN)
    return WHEN


async def take_when(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    rt = runtime(context)
    now = rt.clock()
    at = parse_local_time(_typed(update), zone=rt.services.settings.zone, now=now)
    try:
        if at is None:
            raise AnnouncementError("Die datum begrijp ik niet.")
        _draft(context)["starts_at"] = check_when(at, now=now).isoformat()
    except AnnouncementError as exc:
        await _say(update, context, f"{escape(str(exc))} Typ bijvoorbeeld 12-12 19:30.")
        return WHEN
    await _say(update, context, ASK_PLACE)
    return PLACE


async def take_place(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    try:
        _draft(context)["place"] = clean_place(_typed(update))
    except AnnouncementError as exc:
        await _say(update, context, f"{escape(str(exc))} Typ de plek opnieuw.")
        return PLACE
    await _say(update, context, ASK_TEXT)
    return TEXT


async def take_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    try:
        draft["text"] = clean_text(_typed(update))
    except AnnouncementError as exc:
        await _say(update, context, f"{escape(str(exc))} Typ de tekst opnieuw.")
        return TEXT
    asked = await ask_area(update, context, draft=draft, prefix=PREFIX, what="de aankondiging", then=show_preview)
    return AREAS if asked is None else asked


async def choose_area(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    query = update.callback_query
    choice = (query.data or "").removeprefix(f"{PREFIX}:area:") if query else ""
    if query is not None:
        await answer_quietly(query)
    if not await take_area(update, context, draft=_draft(context), choice=choice):
        return AREAS
    return await show_preview(update, context)


def _as_draft(draft: dict[str, Any]) -> Draft:
    return Draft(
        title=draft["title"],
        starts_at=datetime.fromisoformat(draft["starts_at"]),
        place=draft["place"],
        text=draft["text"],
        area_codes=list(draft["areas"]),
    )


async def show_preview(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The message as residents will get it, and how many it reaches; Versturen or Annuleren."""
    rt = runtime(context)
    draft = _as_draft(_draft(context))
    registry, zone = rt.services.registry, rt.services.settings.zone
    user = update.effective_user

    def build(session: Session) -> str:
        staff = find_staff_by_telegram_id(session, telegram_id=user.id) if user else None
        reach = count_recipients(session, area_codes=draft.area_codes)
        message = announcement_text(registry, draft=draft, creator=staff, area_code=draft.area_codes[0], zone=zone)
        areas = ", ".join(escape(registry.area(code).name) for code in draft.area_codes)
        return (
            f"<b>Voorbeeld van je aankondiging</b> voor {areas}\n"
            f"Dit bereikt {reach} aangemelde inwoners. Wie deze week al een bericht kreeg, krijgt hem later (als dat "
            "nog voor de bijeenkomst kan); 's avonds laat en 's nachts wacht hij tot de ochtend.\n\n"
            f"{message}\n\n<i>Met de knoppen Ik kom en Herinner me (een dag van tevoren).</i>"
        )

    text = await rt.db(build)
    buttons: Buttons = [
        [
            {"text": "Versturen", "callback_data": f"{PREFIX}:ok"},
            {"text": "Annuleren", "callback_data": f"{PREFIX}:cancel"},
        ]
    ]
    await _say(update, context, text, buttons)
    return PREVIEW


async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Versturen: the announcement is made with the rights the database gives now and queued."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is not None:
        await answer_quietly(query)
    if user is None or chat is None:
        return ConversationHandler.END
    rt = runtime(context)
    draft = _as_draft(_draft(context))
    settings, registry = rt.services.settings, rt.services.registry
    now = rt.clock()

    def send(session: Session) -> tuple[str, Buttons | None]:
        staff = find_staff_by_telegram_id(session, telegram_id=user.id)
        if staff is None:
            raise AnnouncementError(NOT_ALLOWED)
        made = create_announcement(
            session, registry, creator=staff, draft=draft, policy=Policy.from_settings(settings), now=now
        )
        return (
            f"Je aankondiging «{escape(made.title)}» gaat naar {made.recipients} inwoners. Druk op Tellingen om te "
            "zien hoeveel er verstuurd zijn, en hoeveel mensen komen of een herinnering willen.",
            counts_button(made.id),
        )

    try:
        text, buttons = await rt.db(send)
    except AnnouncementError as exc:
        text, buttons = f"De aankondiging is niet verstuurd: {escape(str(exc))}", None
    drop_draft(context, DRAFT)
    await rt.say(chat.id, purposes.wizard_step(update.update_id), text, buttons)
    return ConversationHandler.END


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Annuleren or /annuleer: drop the draft; nothing is sent."""
    if update.callback_query is not None:
        await answer_quietly(update.callback_query)
    drop_draft(context, DRAFT)
    await _say(update, context, "De aankondiging is geannuleerd. Er is niets verstuurd.")
    return ConversationHandler.END


async def remind_buttons(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Typed text where a button is expected."""
    await _say(update, context, "Kies met een van de knoppen hierboven. Stoppen: /annuleer.")
    state = context.user_data.get(DRAFT, {}).get("areas") if context.user_data else None
    return PREVIEW if state else AREAS


def conversation() -> ConversationHandler[Any]:
    """The /aankondiging flow; must be added before the general text and button handlers."""
    text = filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE
    button = rf"^{PREFIX}:"
    return staff_wizard(
        command="aankondiging",
        begin=begin,
        cancel=cancel,
        button_prefix=PREFIX,
        states={
            TITLE: [MessageHandler(text, take_title)],
            WHEN: [MessageHandler(text, take_when)],
            PLACE: [MessageHandler(text, take_place)],
            TEXT: [MessageHandler(text, take_text)],
            AREAS: [CallbackQueryHandler(choose_area, pattern=rf"{button}area:"), MessageHandler(text, remind_buttons)],
            PREVIEW: [CallbackQueryHandler(confirm, pattern=rf"{button}ok$"), MessageHandler(text, remind_buttons)],
        },
    )


# --- the buttons under an announcement and under the sender's confirmation -------------------------------


async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ak:come:<id> and ak:remind:<id> (a resident), ak:counts:<id> (the sender or a colleague of the wijk)."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    rt = runtime(context)
    _, choice, number = (query.data or "").split(":")
    announcement_id, now = int(number), rt.clock()
    registry, zone = rt.services.registry, rt.services.settings.zone

    def work(session: Session) -> str:
        if choice == "counts":
            staff = find_staff_by_telegram_id(session, telegram_id=user.id)
            if staff is None:
                return "Deze knop is alleen voor medewerkers en raadsleden."
            return counts_text(session, staff=staff, announcement_id=announcement_id)
        return answer(
            session, registry, announcement_id=announcement_id, telegram_id=user.id, choice=choice, zone=zone, now=now
        )

    text = await rt.db(work)
    await rt.say(chat.id, purposes.command_answer(update.update_id), text)
    await answer_quietly(query)


PRESS_PATTERN = rf"^{CALLBACK}:(come|remind|counts):\d{{1,9}}$"
