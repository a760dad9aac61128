"""Status of my items: a resident only ever sees their own, by Telegram id, never by slot."""

from __future__ import annotations

from actions.status import ActionStatus
from db.session import transaction
from tests.actions.support import SENDER, run, texts, tracker
from tests.factories import make_resident
from wijkbot.items import file_item
from wijkbot.services import Services


async def test_a_resident_sees_only_their_own_items(actions_services: Services) -> None:
    with transaction(actions_services.sessions) as session:
        anna = make_resident(session, telegram_id=int(SENDER), first_name="Anna")
        bram = make_resident(session, telegram_id=777000777, first_name="Bram")
        for resident, text in ((anna, "bankje"), (bram, "speeltuin"), (bram, "hondenpoep")):
            file_item(
                session,
                actions_services.registry,
                actions_services.rules,
                resident=resident,
                kind="idea",
                area_code="WK082611",
                text=text,
            )
        anna_item = 1

    # Slots claiming to be someone else change nothing: identity is the sender id.
    _, messages = await run(ActionStatus(), tracker(slots={"area_code": "WK082611", "postcode": "4911AB"}))
    assert texts(messages) == [
        f"Dit heb je ingestuurd:\n• Idee #{anna_item} (Den Hout): ontvangen, wacht op een reactie"
    ]
    _, messages = await run(ActionStatus(), tracker(sender="777000777"))
    assert texts(messages)[0].count("•") == 2 and "#1 " not in texts(messages)[0]


async def test_someone_new_or_unknown_has_nothing(actions_services: Services) -> None:
    for sender in ("123123123", "default"):
        _, messages = await run(ActionStatus(), tracker(sender=sender))
        assert texts(messages) == ["Je hebt nog niets ingestuurd. Wil je een idee delen of iets melden?"]
