"""The command menu Telegram shows each person: a resident's commands for everyone, and per staff member
the staff commands their role may use (wijkbot.rights). Pure data; bot/menu.py registers it with Telegram's
setMyCommands (the default scope for residents, one chat scope per staff member).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from wijkbot.rights import Action, StaffLike, may
from wijkbot.staff import list_staff


@dataclass(frozen=True)
class Command:
    name: str  # without the slash; Telegram allows a-z, 0-9 and _ , at most 32
    description: str  # 1-256 characters, shown in Telegram's menu


RESIDENT_COMMANDS: tuple[Command, ...] = (
    Command("start", "Begin (opnieuw)"),
    Command("help", "Wat kan ik hier doen?"),
    Command("mijnideeen", "Wat ik heb ingestuurd en hoe het ervoor staat"),
    Command("initiatief", "Maak van mijn idee een buurtinitiatief, met steun van buren"),
    Command("gerealiseerd", "Wat er in mijn wijk is gerealiseerd"),
    Command("mijngegevens", "Wat de wijkbot van mij bewaart"),
    Command("stop", "Geen peilingen en nieuws meer"),
    Command("vergeetmij", "Wis alles wat de wijkbot van mij bewaart"),
)

# The staff commands, each with the right it needs (the handler checks the same right).
STAFF_COMMANDS: tuple[tuple[Action, Command], ...] = (
    (Action.INBOX, Command("inbox", "Wat er voor mij openstaat")),
    (Action.POLL, Command("peiling", "Een peiling uitzetten in mijn wijk")),
    (Action.POLL, Command("aankondiging", "Een bijeenkomst aankondigen in mijn wijk")),
    (Action.LINK, Command("wijklink", "Link en QR-code om bewoners van mijn wijk te werven")),
    (Action.INBOX, Command("web", "Een inloglink voor de werkplek in de browser")),
)


def commands_for(staff: StaffLike | None) -> list[Command]:
    """The menu of this person: a staff member's own commands first, then the resident's (staff are residents
    too); a resident's or a deactivated staff member's menu has the resident's only."""
    own = [command for action, command in STAFF_COMMANDS if staff is not None and may(staff, action)]
    return own + list(RESIDENT_COMMANDS)


def staff_menus(session: Session) -> list[tuple[int, list[Command]]]:
    """(chat, menu) for every staff member with a Telegram account; a deactivated one gets the resident's."""
    return [(int(m.telegram_id), commands_for(m)) for m in list_staff(session) if m.telegram_id is not None]
