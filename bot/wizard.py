"""What the staff wizards (/peiling in poll_wizard.py, /aankondiging in announce_wizard.py) share: the draft
kept per person, a step's message, and the ConversationHandler around their states (/annuleer, starting
again, the Annuleren button, a 30-minute timeout)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    filters,
)

from bot.runtime import runtime
from wijkbot import purposes
from wijkbot.payloads import Buttons

Step = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, int]]
TIMEOUT = timedelta(minutes=30)


def draft_of(context: ContextTypes.DEFAULT_TYPE, key: str) -> dict[str, Any]:
    """The person's draft under `key` (made empty on first use)."""
    data = context.user_data
    if data is None:
        raise RuntimeError("no user data for this update")
    draft = data.setdefault(key, {})
    assert isinstance(draft, dict)
    return draft


def drop_draft(context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    if context.user_data is not None:
        context.user_data.pop(key, None)


async def say_step(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, buttons: Buttons | None = None
) -> None:
    """A wizard's next question (or its end) in the person's chat."""
    if update.effective_chat is not None:
        await runtime(context).say(update.effective_chat.id, purposes.wizard_step(update.update_id), text, buttons)


def staff_wizard(
    *,
    command: str,
    begin: Step,
    cancel: Step,
    button_prefix: str,
    states: dict[object, list[BaseHandler[Any, Any, Any]]],
) -> ConversationHandler[Any]:
    """The ConversationHandler of a staff wizard started by /`command`; add it before the general text and
    button handlers. Its buttons' data start with `button_prefix:`; `<prefix>:cancel` cancels."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*per_message=False.*")  # the draft is per person, not message
        return ConversationHandler(
            entry_points=[CommandHandler(command, begin, filters=filters.ChatType.PRIVATE)],
            states=states,
            fallbacks=[
                CommandHandler("annuleer", cancel),
                CommandHandler(command, begin, filters=filters.ChatType.PRIVATE),
                CallbackQueryHandler(cancel, pattern=rf"^{button_prefix}:cancel$"),
            ],
            conversation_timeout=TIMEOUT,
            name=command,
        )


async def ask_area(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, draft: dict[str, Any], prefix: str, what: str, then: Step
) -> int | None:
    """With one own area it is the draft's and `then` follows; with several the person chooses (area buttons
    `<prefix>:area:<code>` or `:all`) and None is returned: the caller's state waits for the press."""
    allowed: list[str] = draft["allowed"]
    if len(allowed) == 1:
        draft["areas"] = allowed
        return await then(update, context)
    registry = runtime(context).services.registry
    buttons: Buttons = [
        [{"text": registry.area(code).name, "callback_data": f"{prefix}:area:{code}"}] for code in allowed[:12]
    ]
    buttons.append([{"text": f"Alle {len(allowed)} gebieden", "callback_data": f"{prefix}:area:all"}])
    await say_step(update, context, f"Voor welk gebied is {what}?", buttons)
    return None


async def take_area(update: Update, context: ContextTypes.DEFAULT_TYPE, *, draft: dict[str, Any], choice: str) -> bool:
    """An area button's choice: one of the person's own areas, or all of them; False (and said) otherwise."""
    allowed: list[str] = draft["allowed"]
    if choice != "all" and choice not in allowed:
        await say_step(update, context, "Dat gebied hoort niet bij jou. Kies een van de knoppen.")
        return False
    draft["areas"] = allowed if choice == "all" else [choice]
    return True
