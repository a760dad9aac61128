"""What was realised in my wijk, asked in words: the list /gerealiseerd shows, for the sender's wijk."""

from __future__ import annotations

from datetime import UTC, datetime

from actions.realised import ActionRealised
from db.session import transaction
from tests.actions.support import SENDER, run, texts, tracker
from tests.factories import make_resident, make_staff
from wijkbot.initiatives import decide, start_initiative, support
from wijkbot.items import file_item
from wijkbot.residents import set_home_area
from wijkbot.services import Services

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def test_a_resident_hears_what_was_realised_in_their_own_wijk(actions_services: Services) -> None:
    registry = actions_services.registry
    with transaction(actions_services.sessions) as session:
        wim = make_staff(session, registry, areas=["WK082613"])
        initiator = make_resident(session)
        item = file_item(
            session,
            registry,
            actions_services.rules,
            resident=initiator,
            kind="idea",
            area_code="WK082613",
            text="Jeu de boules baan",
        ).item
        initiative = start_initiative(
            session, registry, telegram_id=initiator.telegram_id, item_id=item.id, requested=None, now=NOW
        )
        initiative.support_needed = 1
        asker = make_resident(session, telegram_id=int(SENDER))
        support(
            session,
            registry,
            code=initiative.share_code,
            telegram_id=asker.telegram_id,
            first_name="A",
            joins=False,
            postcode="4849 AB",
            now=NOW,
        )
        for decision in ("support", "done"):
            decide(session, registry, staff=wim, item_id=item.id, decision=decision, now=NOW)

    _, messages = await run(ActionRealised(), tracker())
    assert texts(messages) == [
        "<b>Gerealiseerd in Dorst</b>\n• Jeu de boules baan\n\nZelf iets voor je buurt? Vertel je idee en maak er met "
        "/initiatief een buurtinitiatief van."
    ]
    with transaction(actions_services.sessions) as session:
        asker = make_resident(session, telegram_id=int(SENDER))
        set_home_area(session, asker, area_code="WK082611")
    _, messages = await run(ActionRealised(), tracker())
    assert texts(messages)[0].startswith("In Den Hout is nog geen buurtinitiatief via deze chat gerealiseerd.")
