"""The command menus Telegram shows (bot/menu.py): residents' for everyone, each staff member's in their chat."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from telegram.ext import CommandHandler

from bot.main import build_application
from bot.menu import register_menus
from db.session import transaction
from devtools.fake_telegram import FakeTelegramServer, start_fake_telegram
from devtools.settings import bot_settings
from tests.bot.harness import running_bot, runtime_of
from tests.factories import make_staff
from wijkbot.commands import RESIDENT_COMMANDS, STAFF_COMMANDS
from wijkbot.staff import deactivate_staff, invite_staff


@pytest.fixture
def telegram() -> Iterator[FakeTelegramServer]:
    with start_fake_telegram() as server:
        yield server


def menus(telegram: FakeTelegramServer) -> dict[Any, list[str]]:
    """The last menu set per scope: "default" or the chat id; None for a scope whose menu was deleted."""
    found: dict[Any, list[str]] = {}
    for call in telegram.calls():
        if call.method not in ("setMyCommands", "deleteMyCommands") or call.status != 200:
            continue
        scope = call.params.get("scope") or {"type": "default"}
        key = scope.get("chat_id", scope["type"])
        found[key] = [c["command"] for c in call.params["commands"]] if call.method == "setMyCommands" else None
    return found


RESIDENT = [command.name for command in RESIDENT_COMMANDS]


async def test_the_residents_menu_is_set_at_start_and_staff_get_their_roles_commands(
    telegram: FakeTelegramServer, database_url: str
) -> None:
    async with running_bot(bot_settings(telegram, database_url=database_url)) as app:
        assert menus(telegram) == {"default": RESIDENT}
        rt = runtime_of(app)
        with transaction(rt.services.sessions) as session:
            make_staff(session, rt.services.registry, areas=["WK082613"], telegram_id=801, name="Sanne")
            make_staff(session, rt.services.registry, areas=["WK082600"], role="inbox", telegram_id=802)
            gone = make_staff(session, rt.services.registry, areas=["WK082613"], telegram_id=803, name="Weg")
            deactivate_staff(session, staff_id=gone.id)
            code = invite_staff(session, rt.services.registry, role="council", area_codes=["WK082613"]).invite_code
        await register_menus(app.bot, rt)  # as at the next start
        telegram.push_command(804, "start", args=code, first_name="Raadslid")
        await telegram.wait_for_messages_async(804, count=1, timeout=10)
    assert menus(telegram) == {
        "default": RESIDENT,
        801: ["inbox", "peiling", "aankondiging", "wijklink", "web", *RESIDENT],
        802: ["inbox", "web", *RESIDENT],
        803: None,  # deactivated: back to the residents' menu
        804: ["inbox", "peiling", "aankondiging", "wijklink", "web", *RESIDENT],  # on accepting the invite
    }


def test_every_command_in_a_menu_has_a_handler(telegram: FakeTelegramServer, database_url: str) -> None:
    application = build_application(bot_settings(telegram, database_url=database_url))
    handled: set[str] = set()
    for group in application.handlers.values():
        for handler in group:
            handled |= set(handler.commands) if isinstance(handler, CommandHandler) else set()
            for entry in getattr(handler, "entry_points", []):  # /peiling starts a conversation
                handled |= set(entry.commands) if isinstance(entry, CommandHandler) else set()
    wanted = set(RESIDENT) | {command.name for _, command in STAFF_COMMANDS}
    assert wanted - handled == set()
