"""The command menu: setMyCommands and deleteMyCommands, checked as Telegram checks them."""

from __future__ import annotations

import re

from .records import JSONDict, UploadedFile, bad_request
from .state import FakeState


class Commands(FakeState):
    """The bot's command menu per scope: checked, not kept (the bot never reads it back; tests read the calls)."""

    def _set_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request('parameter "commands" is required')
        if len(commands) > 100:
            raise bad_request("too many commands")
        for command in commands:
            if not isinstance(command, dict) or not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        return True

    def _delete_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        return True
