"""Filing: the item stored with the right area, routed to the right person or the fallback inbox, and
the staff notifications in the outbox, committed together."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import SlotSet
from sqlalchemy import select

from actions.fallback import ActionRequestHuman
from actions.submit import ActionSubmitIdea, ActionSubmitQuestion, ActionSubmitReport
from db import models
from db.session import transaction
from tests.actions.support import SENDER, latest, run, texts, tracker, user_event
from tests.factories import make_staff
from wijkbot.services import Services

IDEA_CLEARED = [
    SlotSet(name, None)
    for name in (
        "idea_what",
        "idea_involved",
        "idea_help",
        "idea_criteria",
        "idea_criteria_answers",
        "area_code",
        "area_candidates",
        "postcode",
        "location",
        "confirmed",
        "kind_offer",
        "kind_check",
    )
]
IDEA = {
    "idea_what": "Een bankje bij de vijver",
    "area_code": "WK082611",
    "postcode": "4911AB",
    "location": "4911AB",
    "idea_involved": "met de buren",
    "idea_help": ["money", "materials"],
    "idea_criteria": "done",
    "idea_criteria_answers": {
        "outside": True,
        "public_space": True,
        "lasting": True,
        "with_neighbours": True,
        "initiators_help": False,
    },
    "confirmed": True,
}


def rows(services: Services, model: Any) -> list[Any]:
    with transaction(services.sessions) as session:
        return list(session.scalars(select(model).order_by(model.id)))


async def test_a_confirmed_idea_is_filed_routed_and_its_notification_queued(actions_services: Services) -> None:
    with transaction(actions_services.sessions) as session:
        sanne = make_staff(session, actions_services.registry, areas=["WK082611"], name="Sanne")
        make_staff(session, actions_services.registry, areas=["WK082613"], name="Piet")
        sanne_id, sanne_chat = sanne.id, sanne.telegram_id

    events, messages = await run(ActionSubmitIdea(), tracker(slots=IDEA))

    assert events == IDEA_CLEARED
    [item] = rows(actions_services, models.Item)
    assert (item.kind, item.area_code, item.text, item.assigned_staff_id) == (
        "idea",
        "WK082611",
        "Een bankje bij de vijver",
        sanne_id,
    )
    assert item.details["help_needed"] == "geld, materiaal"
    assert item.details["criteria_missing"] == ["initiators_help"]
    assert item.details["location"] == "4911AB"
    [resident] = rows(actions_services, models.Resident)
    assert (resident.id, resident.telegram_id, resident.first_name) == (item.resident_id, int(SENDER), "Anna")
    [outbox] = rows(actions_services, models.OutboxMessage)
    assert (outbox.recipient_chat_id, outbox.item_id, outbox.status) == (sanne_chat, item.id, "pending")
    assert "Een bankje bij de vijver" in outbox.payload["text"]
    assert texts(messages) == [
        f"Dank je wel! Je idee is ingestuurd (nummer {item.id}). Je idee gaat naar de wijkmakelaar van Den Hout. "
        'Je krijgt antwoord in deze chat. Typ "status" om te zien hoe het ervoor staat. Wil je dat buren je idee '
        "steunen, of vraag je er geld voor aan? Maak er met /initiatief een buurtinitiatief van."
    ]


async def test_a_submit_turn_rasa_runs_again_files_one_item_and_gives_the_same_receipt(
    actions_services: Services,
) -> None:
    """The bot gave up waiting for "Ja, insturen" and sent the same update again; Rasa had not saved the
    first run, so the action runs a second time on the same tracker."""
    with transaction(actions_services.sessions) as session:
        coordinator = make_staff(session, actions_services.registry, areas=["WK082806"], role="wijkcoordinator")
        council = make_staff(session, actions_services.registry, areas=["WK082806"], role="council", name="Raad")
        chats = [coordinator.telegram_id, council.telegram_id]
    oss = {**IDEA, "area_code": "WK082806", "idea_criteria": None, "idea_criteria_answers": None}
    confirm = latest("Ja, insturen", intent="affirm", update_id=7001)

    first_events, first = await run(ActionSubmitIdea(), tracker(slots=oss, message=confirm))
    again_events, again = await run(ActionSubmitIdea(), tracker(slots=oss, message=confirm))

    [item] = rows(actions_services, models.Item)  # one item, one notification per staff member
    assert sorted(r.recipient_chat_id for r in rows(actions_services, models.OutboxMessage)) == sorted(chats)
    assert first_events == again_events == IDEA_CLEARED
    assert texts(first) == texts(again) and f"(nummer {item.id})" in texts(again)[0]


async def test_the_next_update_with_the_same_idea_is_a_new_item(actions_services: Services) -> None:
    with transaction(actions_services.sessions) as session:
        make_staff(session, actions_services.registry, areas=["WK082611"], name="Sanne")
    for update_id in (7001, 7002):
        await run(ActionSubmitIdea(), tracker(slots=IDEA, message=latest("Ja, insturen", update_id=update_id)))
    assert len(rows(actions_services, models.Item)) == 2
    assert len(rows(actions_services, models.OutboxMessage)) == 2


async def test_an_idea_nobody_covers_goes_to_the_fallback_inbox(actions_services: Services) -> None:
    with transaction(actions_services.sessions) as session:
        inbox = make_staff(session, actions_services.registry, areas=["WK082611"], role="inbox", name="Team")
        inbox_id, inbox_chat = inbox.id, inbox.telegram_id
    _, messages = await run(ActionSubmitIdea(), tracker(slots={**IDEA, "area_code": "WK082612"}))
    [item] = rows(actions_services, models.Item)
    assert (item.area_code, item.assigned_staff_id) == ("WK082612", inbox_id)
    assert [r.recipient_chat_id for r in rows(actions_services, models.OutboxMessage)] == [inbox_chat]
    assert "Je idee gaat naar het team wijkgericht werken van de gemeente Oosterhout." in texts(messages)[0]


async def test_an_oss_idea_also_reaches_the_council(actions_services: Services) -> None:
    with transaction(actions_services.sessions) as session:
        coordinator = make_staff(session, actions_services.registry, areas=["WK082806"], role="wijkcoordinator")
        council = make_staff(session, actions_services.registry, areas=["WK082806"], role="council", name="Raad")
        chats = [coordinator.telegram_id, council.telegram_id]
    oss = {**IDEA, "area_code": "WK082806", "idea_criteria": None, "idea_criteria_answers": None}
    _, messages = await run(ActionSubmitIdea(), tracker(slots=oss))
    [item] = rows(actions_services, models.Item)
    assert "criteria" not in item.details
    assert sorted(r.recipient_chat_id for r in rows(actions_services, models.OutboxMessage)) == sorted(chats)
    assert "Je idee gaat naar de wijkcoördinator van Ruwaard en de Wijkraad Ruwaard." in texts(messages)[0]


async def test_an_idea_not_confirmed_is_not_filed(actions_services: Services) -> None:
    events, messages = await run(ActionSubmitIdea(), tracker(slots={**IDEA, "confirmed": False}))
    assert events == IDEA_CLEARED
    assert rows(actions_services, models.Item) == []
    assert texts(messages)[0].startswith("Oké, ik heb je idee niet ingestuurd.")


async def test_nothing_is_stored_for_a_conversation_without_a_telegram_id(actions_services: Services) -> None:
    _, messages = await run(ActionSubmitIdea(), tracker(sender="default", slots=IDEA))
    assert rows(actions_services, models.Item) == [] and rows(actions_services, models.Resident) == []
    assert texts(messages) == [
        "Ik kan niets voor je opslaan, want ik weet niet wie je bent. Stuur je bericht via Telegram."
    ]


async def test_a_report_and_a_question_are_filed_for_the_area(actions_services: Services) -> None:
    with transaction(actions_services.sessions) as session:
        make_staff(session, actions_services.registry, areas=["WK082800"], role="wijkcoordinator")
    report = {"report_what": "Lantaarnpaal kapot", "area_code": "WK082800", "confirmed": True}
    events, messages = await run(ActionSubmitReport(), tracker(slots=report))
    assert events == [
        SlotSet(n, None)
        for n in (
            "report_what",
            "area_code",
            "area_candidates",
            "postcode",
            "location",
            "confirmed",
            "kind_offer",
            "kind_check",
        )
    ]
    assert "Je melding gaat naar de wijkcoördinator van Centrum." in texts(messages)[0]
    assert "Bel dan meteen de gemeente Oss op 14 0412." in texts(messages)[0]
    question = {"question_text": "Wanneer maaien jullie?", "area_code": "WK082800", "confirmed": True}
    await run(ActionSubmitQuestion(), tracker(slots=question))
    items = rows(actions_services, models.Item)
    assert [(i.kind, i.area_code) for i in items] == [("report", "WK082800"), ("question", "WK082800")]
    assert len(rows(actions_services, models.OutboxMessage)) == 2


async def test_a_report_or_question_the_resident_did_not_confirm_is_not_filed(actions_services: Services) -> None:
    # The defect of issue 15: an idea title taken for a question was filed at once. Now only a "yes" on the
    # summary files anything; a form that ended otherwise (no answer, "nee") files nothing.
    with transaction(actions_services.sessions) as session:
        make_staff(session, actions_services.registry, areas=["WK082602"], role="wijkmakelaar")
    question = {"question_text": "een groene plek met een moestuin in West", "area_code": "WK082602"}
    _, messages = await run(ActionSubmitQuestion(), tracker(slots=question))
    assert texts(messages) == [
        'Oké, ik heb je vraag niet doorgestuurd. Wil je iets aanpassen? Begin dan opnieuw met "ik heb een vraag".'
    ]
    report = {"report_what": "losse stoeptegel", "area_code": "WK082602", "confirmed": False}
    _, messages = await run(ActionSubmitReport(), tracker(slots=report))
    assert texts(messages)[0].startswith("Oké, ik heb je melding niet ingestuurd.")
    assert rows(actions_services, models.Item) == [] and rows(actions_services, models.OutboxMessage) == []


async def test_asking_for_a_person_files_a_contact_item_with_what_was_said(actions_services: Services) -> None:
    with transaction(actions_services.sessions) as session:
        make_staff(session, actions_services.registry, areas=["WK082611"])
    events_so_far = [
        user_event("blub flap", "nlu_fallback"),
        user_event("ik snap het niet", "nlu_fallback"),
        user_event("/affirm", "affirm"),
    ]
    events, messages = await run(ActionRequestHuman(), tracker(slots={"area_code": "WK082611"}, events=events_so_far))
    assert events == [SlotSet(n, None) for n in ("area_code", "area_candidates", "postcode", "location")]
    [item] = rows(actions_services, models.Item)
    assert item.kind == "contact" and item.area_code == "WK082611"
    assert "“blub flap”" in item.text and "/affirm" not in item.text
    assert "Je bericht gaat naar de wijkmakelaar van Den Hout." in texts(messages)[0]
    assert "Bel de gemeente Oosterhout op 14 0162." in texts(messages)[0]
