"""Buurtinitiatieven in the chat: the initiator's /initiatief, the neighbours' share link, the deciders'
buttons. Logic and texts live in wijkbot.initiatives; this module only turns presses into its calls.

```mermaid
sequenceDiagram
    participant R as initiator
    participant B as bot
    participant N as neighbour
    participant S as wijkmakelaar / raad
    R->>B: /initiatief → picks an idea (ii:ID)
    B->>R: geld of alleen steun? (ii:ID:free / ii:ID:money)
    R->>B: bedrag (ii:ID:mBEDRAG), then the profile's checklist (ii:ID:mBEDRAG:jn…)
    B->>R: share link + QR code
    N->>B: /start i_CODE → card (is:CODE:support / is:CODE:join)
    B->>N: postcode? (once; the reply is read here)
    B->>R: "een buurtbewoner steunt je initiatief: 3 van de 10"
    B->>S: enough support: the initiative with ini:ID:grant / support / reject / funds
    S->>B: Toekennen → types the amount (checked against the budget)
    B->>R: toegekend; and every supporter hears it
```
"""

from __future__ import annotations

import re
from html import escape

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import ContextTypes

from bot.callbacks import answer_quietly
from bot.runtime import runtime
from wijkbot import purposes
from wijkbot.initiatives import (
    InitiativeError,
    card,
    card_buttons,
    decide,
    euros,
    find_by_code,
    fund_buttons,
    load_for_decision,
    own_idea,
    postcode_question,
    queue_share,
    realised_photos,
    realised_text,
    stage_buttons,
    start_initiative,
    startable_ideas,
    support,
)
from wijkbot.outbox import enqueue, find_by_telegram_message
from wijkbot.payloads import Buttons
from wijkbot.rights import NotAllowed
from wijkbot.staff import find_staff_by_telegram_id
from wijkbot.staff_loop import set_awaiting

AMOUNTS = (250, 500, 750, 1000, 2500, 5000)
PICK = re.compile(r"^ii:(\d+)$")
MONEY = re.compile(r"^ii:(\d+):(free|money)$")
AMOUNT = re.compile(r"^ii:(\d+):m(\d+)(?::([jn]*))?$")
NO_IDEA = (
    "Een buurtinitiatief begint met een idee. Vertel me eerst je idee (typ het gewoon); daarna kun je er met "
    "/initiatief een buurtinitiatief van maken, met steun van je buren of geld van de gemeente."
)


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/initiatief: pick one of your open ideas to gather support for, or money."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    rt = runtime(context)
    ideas = await rt.db(lambda s: [(i.id, i.text[:40]) for i in startable_ideas(s, telegram_id=user.id)])
    if not ideas:
        await rt.say(chat.id, purposes.command_answer(update.update_id), NO_IDEA)
        return
    buttons: Buttons = [
        [{"text": f"#{item_id} {text}", "callback_data": f"ii:{item_id}"}] for item_id, text in ideas[:8]
    ]
    await rt.say(
        chat.id,
        purposes.command_answer(update.update_id),
        "Van welk idee wil je een buurtinitiatief maken? Buren kunnen het dan steunen of meedoen.",
        buttons,
    )


async def press_pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ii:<item>: the idea is picked; money or only support?"""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    match = PICK.match(query.data or "") if query else None
    if query is None or user is None or chat is None or match is None:
        return
    rt = runtime(context)
    item_id = int(match[1])
    try:
        await rt.db(lambda s: own_idea(s, telegram_id=user.id, item_id=item_id))
    except InitiativeError as exc:
        await answer_quietly(query, str(exc), show_alert=True)
        return
    await answer_quietly(query)
    await rt.say(
        chat.id,
        purposes.command_answer(update.update_id),
        "Vraag je geld aan bij de gemeente, of zoek je vooral steun en hulp van je buren?",
        [
            [{"text": "Ik vraag geld aan", "callback_data": f"ii:{item_id}:money"}],
            [{"text": "Alleen steun van buren", "callback_data": f"ii:{item_id}:free"}],
        ],
    )


async def press_money(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ii:<item>:free starts gathering support at once; ii:<item>:money asks the amount."""
    query, chat = update.callback_query, update.effective_chat
    match = MONEY.match(query.data or "") if query else None
    if query is None or chat is None or match is None:
        return
    item_id = int(match[1])
    if match[2] == "free":
        await _start(update, context, item_id=item_id, requested=None, answers="")
        return
    await answer_quietly(query)
    rows: Buttons = [
        [{"text": euros(a), "callback_data": f"ii:{item_id}:m{a}"} for a in AMOUNTS[:3]],
        [{"text": euros(a), "callback_data": f"ii:{item_id}:m{a}"} for a in AMOUNTS[3:]],
    ]
    await runtime(context).say(
        chat.id,
        purposes.command_answer(update.update_id),
        "Hoeveel geld heb je ongeveer nodig? Kies het bedrag dat er het dichtst bij ligt; je wijkmakelaar of "
        "raad bespreekt het precieze bedrag met je.",
        rows,
    )


async def press_amount(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ii:<item>:m<amount>[:<answers>]: the amount, then the profile's checklist one question at a time (j/n),
    then the initiative starts."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    match = AMOUNT.match(query.data or "") if query else None
    if query is None or user is None or chat is None or match is None:
        return
    item_id, amount, answers = int(match[1]), int(match[2]), match[3] or ""
    if amount not in AMOUNTS:
        await answer_quietly(query, "Deze knop werkt niet (meer).", show_alert=True)
        return
    rt = runtime(context)

    def criteria(session: Session) -> list[str]:
        item = own_idea(session, telegram_id=user.id, item_id=item_id)
        area = rt.services.registry.find_area(item.area_code or "")
        if area is None:
            return []
        return [c.question for c in rt.services.registry.municipality(area.municipality_code).initiative_criteria]

    try:
        questions = await rt.db(criteria)
    except InitiativeError as exc:
        await answer_quietly(query, str(exc), show_alert=True)
        return
    if len(answers) < len(questions):
        await answer_quietly(query)
        prefix = f"ii:{item_id}:m{amount}:{answers}"
        await rt.say(
            chat.id,
            purposes.command_answer(update.update_id),
            f"Vraag {len(answers) + 1} van {len(questions)}: {escape(questions[len(answers)])}",
            [[{"text": "Ja", "callback_data": prefix + "j"}, {"text": "Nee", "callback_data": prefix + "n"}]],
        )
        return
    await _start(update, context, item_id=item_id, requested=amount, answers=answers[: len(questions)])


async def _start(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, item_id: int, requested: int | None, answers: str
) -> None:
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    rt = runtime(context)
    registry, username, now = rt.services.registry, context.bot.username, rt.clock()

    def begin(session: Session) -> str | None:
        item = own_idea(session, telegram_id=user.id, item_id=item_id)
        area = registry.find_area(item.area_code or "")
        keys = [c.key for c in registry.municipality(area.municipality_code).initiative_criteria] if area else []
        initiative = start_initiative(
            session,
            registry,
            telegram_id=user.id,
            item_id=item_id,
            requested=requested,
            criteria={key: answer == "j" for key, answer in zip(keys, answers, strict=False)},
            now=now,
        )
        queue_share(
            session,
            registry,
            initiative=initiative,
            bot_username=username,
            chat_id=chat.id,
            update_id=update.update_id,
            now=now,
        )
        return None

    try:
        await rt.db(begin)
    except InitiativeError as exc:
        await answer_quietly(query, str(exc), show_alert=True)
        return
    await answer_quietly(query)
    rt.sender.wake()


# --- neighbours ----------------------------------------------------------------------------------------------


def open_share_link(session: Session, context: ContextTypes.DEFAULT_TYPE, *, code: str) -> tuple[str, Buttons | None]:
    """What a neighbour sees after the greeting of `/start i_<code>`: the card with its two buttons."""
    rt = runtime(context)
    initiative = find_by_code(session, code)
    if initiative is None:
        return "Dit buurtinitiatief ken ik niet (meer). Vertel me gerust je eigen idee voor je buurt!", None
    return card(session, rt.services.registry, initiative, now=rt.clock()), card_buttons(initiative)


async def press_support(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """is:<code>:support or is:<code>:join under the card."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    match = re.match(r"^is:([a-z0-9]{8}):(support|join)$", query.data or "") if query else None
    if query is None or user is None or chat is None or match is None:
        return
    await answer_quietly(query)
    await _support(update, context, code=match[1], joins=match[2] == "join", postcode=None)


async def answer_postcode(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A resident's typed reply to the postcode question: their support counted (or politely not). False when
    the message is not such a reply (it goes to the assistant as usual)."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or message.reply_to_message is None or message.text is None:
        return False
    replied_to = message.reply_to_message.message_id
    rt = runtime(context)

    def asked(session: Session) -> tuple[str, bool] | None:
        row = find_by_telegram_message(session, chat_id=chat.id, message_id=replied_to)
        return purposes.asked_postcode(row.purpose) if row is not None else None

    question = await rt.db(asked)
    if question is None:
        return False
    await _support(update, context, code=question[0], joins=question[1], postcode=message.text)
    return True


async def _support(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, code: str, joins: bool, postcode: str | None
) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    rt = runtime(context)
    now = rt.clock()

    def act(session: Session) -> None:
        done = support(
            session,
            rt.services.registry,
            code=code,
            telegram_id=user.id,
            first_name=user.first_name,
            joins=joins,
            postcode=postcode,
            now=now,
        )
        answer = purposes.command_answer(update.update_id)
        if done.outcome == "needs_postcode":
            question = postcode_question()
            if postcode is not None:  # a reply that was no postcode: say why, and ask again
                question = type(question)(text=f"{done.message}", ask=question.ask)
            enqueue(
                session,
                purpose=purposes.initiative_postcode(code, joins, update.update_id),
                chat_id=chat.id,
                message=question,
                priority=10,
                now=now,
            )
            return
        enqueue(session, purpose=answer, chat_id=chat.id, text=done.message, priority=10, now=now)

    await rt.db(act)
    rt.sender.wake()


async def show_realised(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/gerealiseerd: what initiatives were realised in my wijk."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    rt = runtime(context)
    registry, now = rt.services.registry, rt.clock()

    def show(session: Session) -> None:
        answer = purposes.command_answer(update.update_id)
        enqueue(
            session,
            purpose=answer,
            chat_id=chat.id,
            text=realised_text(session, registry, telegram_id=user.id),
            priority=10,
            now=now,
        )
        for index, photo in enumerate(realised_photos(session, registry, telegram_id=user.id), start=1):
            enqueue(
                session,
                purpose=purposes.realised_photo(update.update_id, index),
                chat_id=chat.id,
                message=photo,
                priority=10,
                now=now,
            )

    await rt.db(show)
    rt.sender.wake()


# --- the deciders ----------------------------------------------------------------------------------------------

DECISION = re.compile(r"^ini:(\d+):(grant|reject|funds|fund|support|start|done)(?::(\d+))?$")
ASK = {
    "grant": "Typ het bedrag dat je toekent, in hele euro's (bijvoorbeeld 750).",
    "reject": "Typ de reden waarom het niet past. De initiatiefnemer en wie steunden krijgen die te lezen.",
}


async def press_decision(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ini:<item>:<decision>: Toekennen and Past niet ask a typed amount or reason; Ander potje shows the
    profile's funds; the others decide at once. Who may is checked against the database at every press."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    match = DECISION.match(query.data or "") if query else None
    if query is None or user is None or chat is None or match is None:
        return
    rt = runtime(context)
    registry, now = rt.services.registry, rt.clock()
    item_id, decision, index = int(match[1]), match[2], match[3]

    def act(session: Session) -> tuple[str, Buttons | None]:
        staff = find_staff_by_telegram_id(session, telegram_id=user.id)
        if staff is None:
            raise NotAllowed("Alleen medewerkers en raadsleden kunnen dit.")
        item, _ = load_for_decision(session, registry, staff=staff, item_id=item_id)
        area = registry.find_area(item.area_code or "")
        municipality = registry.municipality(area.municipality_code) if area else None
        if decision in ASK:
            set_awaiting(staff, action=decision, item_id=item_id, now=now)
            return ASK[decision], None
        if decision == "funds":
            return "Welk potje past beter?", fund_buttons(item_id, municipality) if municipality else None
        done = decide(
            session,
            registry,
            staff=staff,
            item_id=item_id,
            decision=decision,
            fund=int(index) if index is not None else None,
            now=now,
        )
        return done.message, stage_buttons(done.item, municipality) if municipality else None

    try:
        text, buttons = await rt.db(act)
    except (NotAllowed, InitiativeError) as exc:
        await answer_quietly(query, str(exc)[:200], show_alert=True)
        return
    await answer_quietly(query)
    await rt.say(chat.id, purposes.staff_answer(update.update_id), text, buttons)
