"""The command menus, registered with Telegram (setMyCommands): the resident's menu in the default scope, and
each staff member's own menu in the scope of their chat (wijkbot.commands). Registered at start-up and when a
staff member accepts an invite; a failure is logged and never stops the bot (the commands work without a menu).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot.runtime import Runtime
from wijkbot.commands import RESIDENT_COMMANDS, Command, staff_menus

log = logging.getLogger(__name__)


def _bot_commands(commands: Sequence[Command]) -> list[BotCommand]:
    return [BotCommand(command.name, command.description) for command in commands]


async def set_menu(bot: Bot, chat_id: int, menu: Sequence[Command]) -> None:
    """This chat's own menu, or none (Telegram then shows the default, the resident's) when it is that one."""
    scope = BotCommandScopeChat(chat_id)
    try:
        if list(menu) == list(RESIDENT_COMMANDS):
            await bot.delete_my_commands(scope=scope)
        else:
            await bot.set_my_commands(_bot_commands(menu), scope=scope)
    except TelegramError as exc:
        log.warning("could not set the command menu of chat %s: %s", chat_id, exc)


async def register_menus(bot: Bot, rt: Runtime) -> None:
    try:
        await bot.set_my_commands(_bot_commands(RESIDENT_COMMANDS))
    except TelegramError as exc:
        log.warning("could not set the residents' command menu: %s", exc)
    for chat_id, menu in await rt.db(staff_menus):
        await set_menu(bot, chat_id, menu)
