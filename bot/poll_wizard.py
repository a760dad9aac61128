"""/peiling: a staff or council member makes a poll for their own areas, sees a preview, and schedules it.

```mermaid
flowchart LR
    P[/peiling] --> Q[question] --> O[answers, one per line] --> A{more than one area?}
    A -- yes --> AR[pick an area or all] --> S
    A -- no --> S[start: now, tomorrow or a date] --> C[closing: 1 day .. 2 weeks or a date]
    C --> V[preview with the residents' message] -->|Inplannen| DONE[(poll scheduled)]
    V -->|Meer antwoorden toestaan / Toch één antwoord| V
    V -->|Alleen een buurt: one buurt of the area, or all of it| V
    V -->|Annuleren| X[nothing sent]
```

The draft lives in the conversation; rights are checked against the database when the flow starts and
again when the poll is created. Button data is only a choice among what the database allowed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

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
from db import models
from wijkbot.outreach import Policy
from wijkbot.payloads import Buttons
from wijkbot.polls import (
    POLL_ROLES,
    PollError,
    buurt_names,
    clean_options,
    clean_question,
    count_subscribers,
    invitation_text,
    local_time_text,
    parse_local_time,
    planned_reach,
    reach_line,
    schedule_poll,
)
from wijkbot.staff import find_staff_by_telegram_id

QUESTION, OPTIONS, AREAS, START, CLOSE, PREVIEW = range(6)
DRAFT = "poll_draft"
PREFIX = "peiling"
DURATIONS = {"1": "1 dag", "3": "3 dagen", "7": "1 week", "14": "2 weken"}

ASK_QUESTION = (
    "<b>Nieuwe peiling</b>\nWat wil je de inwoners vragen? Typ de vraag (hooguit 300 tekens).\n"
    "Stoppen kan altijd met /annuleer."
)
ASK_OPTIONS = "Typ nu de antwoorden, elk op een eigen regel (2 tot 10). Bijvoorbeeld:\nJa\nNee\nWeet ik niet"
ASK_START = "Wanneer gaat de peiling naar de inwoners? Kies, of typ een datum en tijd, bijvoorbeeld 28-11 19:30."
ASK_CLOSE = "Hoe lang kunnen inwoners stemmen? Kies, of typ de datum en tijd waarop de peiling sluit."
NOT_ALLOWED = "Peilingen maken kan alleen als medewerker of raadslid met een eigen wijk of dorp."


def _draft(context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any]:
    return draft_of(context, DRAFT)


_say = say_step


async def _answer_button(update: Update) -> str:
    """Acknowledge the pressed button; its data after "peiling:"."""
    query = update.callback_query
    if query is None:
        return ""
    await answer_quietly(query)  # best-effort: a late press still counts
    return (query.data or "").removeprefix(f"{PREFIX}:")


def _allowed_areas(session: Session, telegram_id: int) -> list[str] | None:
    staff = find_staff_by_telegram_id(session, telegram_id=telegram_id)
    if staff is None or staff.role not in POLL_ROLES or not staff.area_codes:
        return None
    return staff.area_codes


async def begin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/peiling: start a new draft, if this person may make polls."""
    user = update.effective_user
    if user is None:
        return ConversationHandler.END
    allowed = await runtime(context).db(lambda s: _allowed_areas(s, user.id))
    if allowed is None:
        await _say(update, context, NOT_ALLOWED)
        return ConversationHandler.END
    if context.user_data is not None:
        context.user_data[DRAFT] = {"allowed": allowed}
    await _say(update, context, ASK_QUESTION)
    return QUESTION


async def take_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The question, checked for length."""
    message = update.effective_message
    try:
        _draft(context)["question"] = clean_question(message.text or "" if message else "")
    except PollError as exc:
        await _say(update, context, f"{escape(str(exc))} Typ de vraag opnieuw.")
        return QUESTION
    await _say(update, context, ASK_OPTIONS)
    return OPTIONS


async def take_options(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The answers, one per line; then the area (when there is a choice) or the start."""
    message = update.effective_message
    draft = _draft(context)
    try:
        draft["options"] = clean_options((message.text or "").splitlines() if message else [])
    except PollError as exc:
        await _say(update, context, f"{escape(str(exc))} Typ de antwoorden opnieuw, elk op een eigen regel.")
        return OPTIONS
    asked = await ask_area(update, context, draft=draft, prefix=PREFIX, what="de peiling", then=_ask_start)
    return AREAS if asked is None else asked


async def choose_area(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """An area button: one of the person's own areas, or all of them."""
    choice = (await _answer_button(update)).removeprefix("area:")
    if not await take_area(update, context, draft=_draft(context), choice=choice):
        return AREAS
    return await _ask_start(update, context)


async def _ask_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    buttons: Buttons = [
        [
            {"text": "Nu", "callback_data": f"{PREFIX}:start:now"},
            {"text": "Morgen om 9:00", "callback_data": f"{PREFIX}:start:tomorrow"},
        ]
    ]
    await _say(update, context, ASK_START, buttons)
    return START


async def _ask_close(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    buttons: Buttons = [
        [{"text": label, "callback_data": f"{PREFIX}:close:{days}"} for days, label in DURATIONS.items()]
    ]
    await _say(update, context, ASK_CLOSE, buttons)
    return CLOSE


def _zone(context: ContextTypes.DEFAULT_TYPE) -> ZoneInfo:
    return runtime(context).services.settings.zone


async def choose_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Start now, or tomorrow at 9:00."""
    choice = (await _answer_button(update)).removeprefix("start:")
    draft = _draft(context)
    if choice == "tomorrow":
        at = parse_local_time("morgen 9:00", zone=_zone(context), now=runtime(context).clock())
        draft["starts_at"] = at.isoformat() if at else None
    else:
        draft["starts_at"] = None  # now, when it is scheduled
    return await _ask_close(update, context)


async def type_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A typed start date and time."""
    message = update.effective_message
    now = runtime(context).clock()
    at = parse_local_time(message.text or "" if message else "", zone=_zone(context), now=now)
    if at is None or at < now - timedelta(minutes=5):
        await _say(update, context, "Die datum begrijp ik niet, of hij is al voorbij. Typ bijvoorbeeld 28-11 19:30.")
        return START
    _draft(context)["starts_at"] = at.isoformat()
    return await _ask_close(update, context)


def _start_of(draft: dict[str, Any], now: datetime) -> datetime:
    return datetime.fromisoformat(draft["starts_at"]) if draft.get("starts_at") else now


async def choose_close(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Open for 1 day up to 2 weeks."""
    days = (await _answer_button(update)).removeprefix("close:")
    if days not in DURATIONS:
        return CLOSE
    draft = _draft(context)
    draft["duration_days"] = int(days)
    draft.pop("closes_at", None)
    return await show_preview(update, context)


async def type_close(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A typed closing date and time."""
    message = update.effective_message
    draft = _draft(context)
    now = runtime(context).clock()
    at = parse_local_time(message.text or "" if message else "", zone=_zone(context), now=now)
    if at is None or at <= _start_of(draft, now) + timedelta(minutes=30):
        await _say(update, context, "Die sluittijd begrijp ik niet, of hij ligt niet na het begin. Probeer opnieuw.")
        return CLOSE
    draft["closes_at"] = at.isoformat()
    draft.pop("duration_days", None)
    return await show_preview(update, context)


def _times(draft: dict[str, Any], now: datetime) -> tuple[datetime | None, datetime]:
    starts_at = datetime.fromisoformat(draft["starts_at"]) if draft.get("starts_at") else None
    if draft.get("closes_at"):
        return starts_at, datetime.fromisoformat(draft["closes_at"])
    return starts_at, (starts_at or now) + timedelta(days=int(draft.get("duration_days") or 7))


async def show_preview(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Show the poll as residents will get it, with Inplannen and Annuleren."""
    rt = runtime(context)
    draft = _draft(context)
    settings = rt.services.settings
    registry, zone = rt.services.registry, settings.zone
    user = update.effective_user
    starts_at, closes_at = _times(draft, rt.clock())

    def build(session: Session) -> str:
        staff = find_staff_by_telegram_id(session, telegram_id=user.id) if user else None
        buurten = draft.get("buurten") or None
        reach = count_subscribers(session, area_codes=draft["areas"], buurt_codes=buurten)
        planned = planned_reach(
            session, registry, area_codes=draft["areas"], buurt_codes=buurten, policy=Policy.from_settings(settings),
            starts_at=starts_at or rt.clock(), closes_at=closes_at,
        )  # fmt: skip
        sample = models.Poll(
            question=draft["question"], options=draft["options"], closes_at=closes_at, buurt_codes=buurten
        )
        message = invitation_text(registry, poll=sample, area_code=draft["areas"][0], creator=staff, zone=zone)
        options = "\n".join(f"{n}. {escape(o)}" for n, o in enumerate(draft["options"], start=1))
        areas = ", ".join(escape(registry.area(code).name) for code in draft["areas"])
        if buurten:
            areas = f"{escape(', '.join(buurt_names(registry, draft['areas'], buurten)))} in {areas}"
        return (
            f"<b>Voorbeeld van je peiling</b>\n\n<b>Vraag:</b> {escape(draft['question'])}\n"
            f"<b>Antwoorden:</b>\n{options}\n\n"
            f"<b>Kiezen:</b> {'meer antwoorden mag' if draft.get('multiple') else 'één antwoord'}\n"
            f"<b>Voor:</b> {areas} ({reach} aangemelde inwoners)\n"
            f"{reach_line(planned)}\n"
            f"<b>Start:</b> {'meteen' if starts_at is None else local_time_text(starts_at, zone)}\n"
            f"<b>Sluit:</b> {local_time_text(closes_at, zone)}\n\n"
            f"Inwoners krijgen eerst dit bericht, daarna de peiling zelf:\n\n{message}"
        )

    text = await rt.db(build)
    buttons: Buttons = [
        [
            {"text": "Inplannen", "callback_data": f"{PREFIX}:ok"},
            {"text": "Annuleren", "callback_data": f"{PREFIX}:cancel"},
        ],
        [
            {
                "text": "Toch één antwoord" if draft.get("multiple") else "Meer antwoorden toestaan",
                "callback_data": f"{PREFIX}:multi",
            }
        ],
    ]
    if len(draft["areas"]) == 1 and len(registry.area(draft["areas"][0]).buurten) > 1:
        buttons.append([{"text": "Alleen een buurt" if not draft.get("buurten") else "Andere buurt of hele wijk",
                         "callback_data": f"{PREFIX}:buurten"}])  # fmt: skip
    await _say(update, context, text, buttons)
    return PREVIEW


async def ask_buurt(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Alleen een buurt under the preview: the buurten of the poll's one area, or the whole of it."""
    await _answer_button(update)
    draft = _draft(context)
    area = runtime(context).services.registry.area(draft["areas"][0])
    buttons: Buttons = [[{"text": b.name, "callback_data": f"{PREFIX}:buurt:{b.code}"}] for b in area.buurten[:20]]
    buttons.append([{"text": f"Heel {area.name}", "callback_data": f"{PREFIX}:buurt:all"}])
    note = "Alleen inwoners die hun buurt hebben opgegeven, krijgen een buurtpeiling."
    await _say(update, context, f"Voor welke buurt van {escape(area.name)}? {note}", buttons)
    return PREVIEW


async def choose_buurt(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A buurt of the poll's area (or all of it); then the preview again."""
    choice = (await _answer_button(update)).removeprefix("buurt:")
    draft = _draft(context)
    known = [b.code for b in runtime(context).services.registry.area(draft["areas"][0]).buurten]
    if choice == "all":
        draft.pop("buurten", None)
    elif choice in known:
        draft["buurten"] = [choice]
    return await show_preview(update, context)


async def toggle_multiple(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Meer antwoorden toestaan / Toch één antwoord under the preview: switch, and show the preview again."""
    await _answer_button(update)
    draft = _draft(context)
    draft["multiple"] = not draft.get("multiple", False)
    return await show_preview(update, context)


async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Inplannen: create the poll with the rights the database gives now; send it at once when it starts now."""
    await _answer_button(update)
    user = update.effective_user
    if user is None:
        return ConversationHandler.END
    rt = runtime(context)
    draft = _draft(context)
    settings, registry = rt.services.settings, rt.services.registry
    starts_at = datetime.fromisoformat(draft["starts_at"]) if draft.get("starts_at") else None
    closes_at = datetime.fromisoformat(draft["closes_at"]) if draft.get("closes_at") else None
    duration = timedelta(days=int(draft.get("duration_days") or 7))
    now = rt.clock()

    def schedule(session: Session) -> str:
        staff = find_staff_by_telegram_id(session, telegram_id=user.id)
        if staff is None:
            raise PollError(NOT_ALLOWED)
        scheduled = schedule_poll(
            session,
            registry,
            question=draft["question"],
            options=draft["options"],
            area_codes=draft["areas"],
            via="telegram",
            policy=Policy.from_settings(settings),
            creator=staff,
            starts_at=starts_at,
            closes_at=closes_at,
            default_duration=duration,
            multiple=bool(draft.get("multiple", False)),
            buurt_codes=draft.get("buurten") or None,
            now=now,
        )
        poll = scheduled.poll
        if scheduled.sent is not None:
            return (
                f"Peiling #{poll.id} is verstuurd naar {scheduled.sent} inwoners. Je krijgt de uitslag als hij sluit."
            )
        when = local_time_text(poll.starts_at, settings.zone)
        return f"Peiling #{poll.id} is ingepland voor {when}. Je krijgt de uitslag als hij sluit."

    try:
        text = await rt.db(schedule)
    except PollError as exc:
        text = f"De peiling is niet ingepland: {escape(str(exc))}"
    drop_draft(context, DRAFT)
    await _say(update, context, text)
    rt.sender.wake()
    return ConversationHandler.END


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Annuleren or /annuleer: drop the draft; nothing is sent."""
    await _answer_button(update)
    drop_draft(context, DRAFT)
    await _say(update, context, "De peiling is geannuleerd. Er is niets verstuurd.")
    return ConversationHandler.END


async def remind_area_buttons(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Typed text where an area button is expected."""
    await _say(update, context, "Kies het gebied met een van de knoppen hierboven. Stoppen: /annuleer.")
    return AREAS


async def remind_preview_buttons(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Typed text where Inplannen or Annuleren is expected."""
    await _say(update, context, "Kies Inplannen of Annuleren bij het voorbeeld hierboven.")
    return PREVIEW


def conversation() -> ConversationHandler[Any]:
    """The /peiling flow for staff; must be added before the general text and button handlers."""
    text = filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE
    button = rf"^{PREFIX}:"
    return staff_wizard(
        command="peiling",
        begin=begin,
        cancel=cancel,
        button_prefix=PREFIX,
        states={
            QUESTION: [MessageHandler(text, take_question)],
            OPTIONS: [MessageHandler(text, take_options)],
            AREAS: [
                CallbackQueryHandler(choose_area, pattern=rf"{button}area:"),
                MessageHandler(text, remind_area_buttons),
            ],
            START: [
                CallbackQueryHandler(choose_start, pattern=rf"{button}start:"),
                MessageHandler(text, type_start),
            ],
            CLOSE: [
                CallbackQueryHandler(choose_close, pattern=rf"{button}close:"),
                MessageHandler(text, type_close),
            ],
            PREVIEW: [
                CallbackQueryHandler(confirm, pattern=rf"{button}ok$"),
                CallbackQueryHandler(toggle_multiple, pattern=rf"{button}multi$"),
                CallbackQueryHandler(ask_buurt, pattern=rf"{button}buurten$"),
                CallbackQueryHandler(choose_buurt, pattern=rf"{button}buurt:"),
                MessageHandler(text, remind_preview_buttons),
            ],
        },
    )
