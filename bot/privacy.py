"""The resident's rights in the chat: /mijngegevens (export) and /vergeetmij (erase, after a confirmation).

```mermaid
flowchart LR
    A[/mijngegevens/] --> B[summary + JSON file]
    C[/vergeetmij/] --> D{Weet je het zeker?}
    D -- Ja, wis alles --> E[erased everywhere, tracker too; staff told of withdrawn items]
    D -- Nee --> F[nothing changes]
```
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import ContextTypes

from bot.callbacks import answer_quietly
from bot.runtime import runtime
from wijkbot import purposes
from wijkbot.channels import is_channel_chat
from wijkbot.inbound import forget_update
from wijkbot.outbox import enqueue
from wijkbot.payloads import Document, Text
from wijkbot.privacy import erase_resident, export_json, export_resident, export_summary, privacy_statement

CONFIRM_YES = "forget:yes"
CONFIRM_NO = "forget:no"


async def export_my_data(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/mijngegevens: a short summary and a JSON file with everything held about the resident, and where the
    municipality's privacy statement is."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    rt = runtime(context)
    tracker, registry = rt.tracker, rt.services.registry
    now = rt.clock()

    def export(session: Session) -> None:
        document = export_resident(session, telegram_id=user.id, tracker=tracker)
        purpose = purposes.export(update.update_id)
        statement = privacy_statement(session, registry, telegram_id=user.id)
        if document is None:
            enqueue(
                session,
                purpose=purpose,
                chat_id=chat.id,
                priority=10,
                now=now,
                text=f"We bewaren niets over jou. Zodra je iets stuurt, kun je het hier opvragen.\n\n{statement}",
            )
            return
        summary = f"{export_summary(document)}\n\n{statement}"
        enqueue(session, purpose=purpose, chat_id=chat.id, text=summary, priority=10, now=now)
        enqueue(
            session,
            purpose=purposes.export_file(update.update_id),
            chat_id=chat.id,
            message=Document(document_text=export_json(document), filename="mijn-gegevens-wijkbot.json"),
            priority=10,
            now=now,
        )

    await rt.db(export)
    rt.sender.wake()


async def ask_to_forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/vergeetmij: ask for a confirmation first."""
    chat = update.effective_chat
    if chat is None:
        return
    await runtime(context).say(
        chat.id,
        purposes.command_answer(update.update_id),
        "Wil je dat we alles over jou wissen? Je ideeën, meldingen en vragen worden ingetrokken, en het gesprek "
        "met mij wordt gewist. Dit kan niet ongedaan worden gemaakt.",
        buttons=[
            [
                {"text": "Ja, wis alles", "callback_data": CONFIRM_YES},
                {"text": "Nee, toch niet", "callback_data": CONFIRM_NO},
            ]
        ],
    )


async def confirm_forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The answer to the confirmation: erase everything, or nothing."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    rt = runtime(context)
    if query.data != CONFIRM_YES:
        await rt.say(chat.id, purposes.command_answer(update.update_id), "Goed, er is niets gewist.")
        await answer_quietly(query, "Er is niets gewist.")
        return
    tracker = rt.tracker
    now = rt.clock()

    def erase(session: Session) -> None:
        erase_resident(session, telegram_id=user.id, tracker=tracker)
        enqueue(
            session,
            purpose=purposes.erased(update.update_id),
            chat_id=chat.id,
            priority=10,
            now=now,
            message=Text(
                text="Alles over jou is gewist. Alleen anonieme aantallen blijven over (zoals 'een idee in "
                "Dorst'). Je kunt me altijd opnieuw een bericht sturen.",
                ephemeral=True,
            ),
        )

    await rt.db(erase)
    await rt.db(lambda s: forget_update(s, update_id=update.update_id))  # the press was stored: it goes too
    rt.sender.wake()
    # last: a late press is still carried out; on the web chat and WhatsApp the goodbye above says it already
    await answer_quietly(query, None if is_channel_chat(chat.id) else "Je gegevens zijn gewist.")
