"""The command menu per person (wijkbot.commands): what Telegram shows is what the role may do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from wijkbot.commands import RESIDENT_COMMANDS, STAFF_COMMANDS, commands_for


@dataclass
class Staff:
    role: str
    active: bool = True
    id: int = 1
    area_codes: list[str] = field(default_factory=lambda: ["WK082613"])


def names(staff: Staff | None) -> list[str]:
    return [command.name for command in commands_for(staff)]


RESIDENT = [command.name for command in RESIDENT_COMMANDS]


@pytest.mark.parametrize(
    ("role", "own"),
    [
        ("wijkmakelaar", ["inbox", "peiling", "aankondiging", "wijklink", "web"]),
        ("wijkcoordinator", ["inbox", "peiling", "aankondiging", "wijklink", "web"]),
        ("lead", ["inbox", "peiling", "aankondiging", "wijklink", "web"]),
        ("inbox", ["inbox", "web"]),
        ("council", ["inbox", "peiling", "aankondiging", "wijklink", "web"]),
    ],
)
def test_a_staff_member_sees_the_commands_of_their_role_before_the_residents(role: str, own: list[str]) -> None:
    assert names(Staff(role)) == own + RESIDENT


def test_a_resident_and_a_deactivated_staff_member_see_the_residents_commands_only() -> None:
    assert names(None) == RESIDENT
    assert names(Staff("wijkmakelaar", active=False)) == RESIDENT


def test_every_command_is_one_telegram_accepts() -> None:
    every = list(RESIDENT_COMMANDS) + [command for _, command in STAFF_COMMANDS]
    assert len({command.name for command in every}) == len(every)
    for command in every:
        assert re.fullmatch(r"[a-z0-9_]{1,32}", command.name)
        assert 1 <= len(command.description) <= 256
