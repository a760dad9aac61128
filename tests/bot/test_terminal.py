"""`make run` without a Telegram token: the terminal chat, against the real Rasa and action server."""

from __future__ import annotations

import io

import pytest

from bot.terminal import run_terminal_chat
from tests.factories import make_staff
from tests.stack import Stack
from wijkbot.settings import Settings

pytestmark = pytest.mark.rasa


async def test_a_newcomer_plays_a_resident_and_sees_what_staff_receive(stack: Stack) -> None:
    with stack.services.sessions() as session, session.begin():
        make_staff(session, stack.services.registry, areas=["WK082613"], name="Makelaar Dorst")
    settings = Settings(
        _env_file=None,
        database_url=stack.database_url,
        rasa_url=stack.rasa_url,  # type: ignore[call-arg]
        rasa_tracker_db=str(stack.tracker_db),
    )
    lines = "\n".join(["ik wil iets melden", "de lantaarnpaal bij de kerk is kapot", "Dorst", "1", "/quit"]) + "\n"
    out = io.StringIO()
    await run_terminal_chat(settings, stdin=io.StringIO(lines), out=out)
    shown = out.getvalue()
    assert "wijkbot> " in shown and "wijkassistent" in shown  # the greeting says it is a bot
    assert "Wat is er aan de hand?" in shown
    assert "── to staff: Makelaar Dorst" in shown and "lantaarnpaal bij de kerk" in shown
