"""End to end through the REAL Rasa server and action server over Rasa's REST channel, as bot/ talks to
it: the resident's words in, the replies out, and the rows in the database."""

from __future__ import annotations

import itertools
import json
import sqlite3
from typing import Any

import pytest
from sqlalchemy import select

from db import models
from db.session import transaction
from tests.factories import make_staff
from tests.stack import Stack, rasa_say, telegram_metadata
from wijkbot.staff import staff_for_area

pytestmark = pytest.mark.rasa
_senders = itertools.count(880_000_001)


def new_sender() -> str:
    return str(next(_senders))


def text_of(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def payloads(replies: list[dict[str, Any]]) -> list[str]:
    return [b["payload"] for r in replies for b in r.get("buttons") or []]


def items_of(stack: Stack, sender: str) -> list[models.Item]:
    with transaction(stack.services.sessions) as session:
        return list(
            session.scalars(select(models.Item).join(models.Resident).where(models.Resident.telegram_id == int(sender)))
        )


def test_the_first_message_says_it_is_a_bot_of_the_municipality(stack: Stack) -> None:
    replies = rasa_say(new_sender(), "/greet")
    text = text_of(replies)
    assert "digitale wijkassistent van de gemeente" in text and "geen mens" in text
    assert "/stop" in text and "/mijngegevens" in text
    assert payloads(replies) == ["/share_idea", "/report_issue", "/ask_question"]
    assert all(set(r) <= {"recipient_id", "text", "buttons"} for r in replies)


def test_an_idea_with_a_unique_postcode_is_filed_for_the_wijkmakelaar_of_den_hout(stack: Stack) -> None:
    with transaction(stack.services.sessions) as session:
        make_staff(session, stack.services.registry, areas=["WK082611"], name="Wijkmakelaar Den Hout")
        # other tests of the session may have added colleagues for Den Hout: all of them receive it
        den_hout = staff_for_area(session, area_code="WK082611", role="wijkmakelaar")
        staff_id, staff_chats = den_hout[0].id, sorted(s.telegram_id for s in den_hout)
    sender = new_sender()

    assert "Wat is je idee?" in text_of(rasa_say(sender, "ik heb een idee voor een bankje"))
    assert "Waar is je idee?" in text_of(rasa_say(sender, "een bankje bij de vijver zodat ouderen kunnen uitrusten"))
    replies = rasa_say(sender, "4911AB")
    assert "Dat is in Den Hout (gemeente Oosterhout)." in text_of(replies)
    assert "Wie doen er nog meer mee?" in text_of(replies)
    replies = rasa_say(sender, "samen met de buren uit de straat")
    assert '/inform{"help_needed":"money"}' in payloads(replies)
    replies = rasa_say(sender, '/inform{"help_needed":"money"}')
    for _ in range(4):  # the Oosterhout criteria still open (the neighbours were named already)
        assert payloads(replies) == ["/affirm", "/deny"] and "Klopt dit?" not in text_of(replies)
        replies = rasa_say(sender, "/affirm")
    summary = text_of(replies)
    assert "Klopt dit? Dan stuur ik je idee naar de wijkmakelaar van Den Hout." in summary
    assert "Je idee past bij de regels voor buurtinitiatieven." in summary
    replies = rasa_say(sender, "/affirm")
    assert "Je idee gaat naar de wijkmakelaar van Den Hout." in text_of(replies)

    [item] = items_of(stack, sender)
    assert (item.kind, item.area_code, item.assigned_staff_id) == ("idea", "WK082611", staff_id)
    assert "bankje bij de vijver" in item.text
    with transaction(stack.services.sessions) as session:
        outbox = session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.item_id == item.id)).all()
        resident = session.scalars(select(models.Resident).where(models.Resident.telegram_id == int(sender))).one()
    assert sorted(row.recipient_chat_id for row in outbox) == staff_chats
    assert resident.first_name == "Test"  # from the Telegram metadata


def test_an_ambiguous_postcode_is_answered_with_a_button_and_goes_to_the_fallback_inbox(stack: Stack) -> None:
    with transaction(stack.services.sessions) as session:
        make_staff(session, stack.services.registry, areas=["WK082600"], role="inbox", name="Team Oosterhout")
        inbox_id = min(
            s.id for s in session.scalars(select(models.StaffMember).where(models.StaffMember.role == "inbox"))
        )
    sender = new_sender()
    assert "Wat is er aan de hand?" in text_of(rasa_say(sender, "ik wil iets melden"))
    rasa_say(sender, "er ligt een losse stoeptegel voor ons huis")
    replies = rasa_say(sender, "4902 ab")
    assert "hoort bij meer dan één wijk" in text_of(replies)
    assert payloads(replies) == [
        '/inform{"area_code":"WK082601"}',
        '/inform{"area_code":"WK082602"}',
        '/inform{"area_code":"WK082608"}',
    ]
    replies = rasa_say(sender, '/inform{"area_code":"WK082601"}')
    assert "Dit is je melding" in text_of(replies) and items_of(stack, sender) == []  # nothing before the yes
    assert "het team wijkgericht werken van de gemeente Oosterhout" in text_of(replies)
    replies = rasa_say(sender, "/affirm")
    assert "Dank je wel voor je melding" in text_of(replies)
    [item] = items_of(stack, sender)
    assert (item.kind, item.area_code, item.assigned_staff_id) == ("report", "WK082601", inbox_id)


def test_help_inside_a_form_an_outside_postcode_and_cancel(stack: Stack) -> None:
    sender = new_sender()
    rasa_say(sender, "ik heb een vraag")
    replies = rasa_say(sender, "/help")  # handled inside the form, then the form asks again
    assert "Dit kan ik voor je doen" in text_of(replies) and "Wat is je vraag?" in text_of(replies)
    rasa_say(sender, "wanneer wordt het gras in het park gemaaid")
    replies = rasa_say(sender, "4811 AB")
    assert "4811 AB ligt niet in Oosterhout of Oss" in text_of(replies)
    assert "Over welke wijk of welk dorp gaat je vraag?" in text_of(replies)
    replies = rasa_say(sender, "/cancel")
    assert "Oké, ik ben gestopt. Er is niets verstuurd." in text_of(replies)
    assert items_of(stack, sender) == []


def test_status_shows_only_the_residents_own_items(stack: Stack) -> None:
    anna, bram = new_sender(), new_sender()
    for sender, words in ((anna, "de lantaarnpaal bij de school is kapot"), (bram, "zwerfvuil bij de glasbak")):
        rasa_say(sender, "ik wil iets melden")
        rasa_say(sender, words)
        rasa_say(sender, "Dorst")
        rasa_say(sender, "ja")
    anna_items, bram_items = items_of(stack, anna), items_of(stack, bram)
    assert len(anna_items) == len(bram_items) == 1
    text = text_of(rasa_say(anna, "/ask_status"))
    assert f"#{anna_items[0].id} " in text and f"#{bram_items[0].id} " not in text


ASK_KIND = "Is dit een idee, een melding of een vraag?"


def first_message(sender: str, text: str, choice: str) -> list[dict[str, Any]]:
    """A new resident's first message; when the assistant asks which kind it is (the NLU was not sure),
    the resident presses the button `choice`. Either way the replies of the form that runs are returned."""
    replies = rasa_say(sender, text)
    if ASK_KIND in text_of(replies):
        assert payloads(replies)[:3] == ["/share_idea", "/report_issue", "/ask_question"]
        replies = rasa_say(sender, choice)
    return replies


def test_a_bare_idea_title_as_first_message_ends_in_the_idea_form_with_the_title_kept(stack: Stack) -> None:
    sender = new_sender()
    title = "een pluktuin met fruitbomen en bessenstruiken in Berghem"
    replies = first_message(sender, title, "/share_idea")
    assert "Wat is je idee?" not in text_of(replies) and "Waar is je idee?" not in text_of(replies)
    assert "Dat is in Berghem" in text_of(replies) and "Wie doen er nog meer mee?" in text_of(replies)
    rasa_say(sender, "alleen ik")
    replies = rasa_say(sender, '/inform{"help_needed":"none"}')
    assert f"<b>Wat:</b> {title}" in text_of(replies) and "Klopt dit?" in text_of(replies)
    replies = rasa_say(sender, "/deny")
    assert "niet ingestuurd" in text_of(replies)
    assert items_of(stack, sender) == []  # nothing reaches staff without the resident's yes


def test_a_terse_report_as_first_message_is_summarised_then_filed_on_yes(stack: Stack) -> None:
    sender = new_sender()
    replies = first_message(sender, "kapotte lantaarnpaal bij de kerk in Berghem", "/report_issue")
    assert "Wat is er aan de hand?" not in text_of(replies) and "Waar is het?" not in text_of(replies)
    assert "Dit is je melding" in text_of(replies) and "kapotte lantaarnpaal bij de kerk in Berghem" in text_of(replies)
    assert items_of(stack, sender) == []
    replies = rasa_say(sender, "/affirm")
    assert "Dank je wel voor je melding" in text_of(replies)
    [item] = items_of(stack, sender)
    assert (item.kind, item.text) == ("report", "kapotte lantaarnpaal bij de kerk in Berghem")


def test_a_report_typed_into_the_idea_form_is_offered_the_switch_and_keeps_text_and_postcode(stack: Stack) -> None:
    sender = new_sender()
    assert "Wat is je idee?" in text_of(rasa_say(sender, "ik heb een idee"))
    lamp = "de lantaarnpaal voor mijn huis doet het al een week niet, Steenstraat 4, 5341 AB Oss"
    replies = rasa_say(sender, lamp)
    assert "Dat is in wijk Centrum (gemeente Oss)." in text_of(replies)
    assert "Dit klinkt als een melding" in text_of(replies) and "postcode" not in text_of(replies)
    assert payloads(replies) == ["/report_issue", "/share_idea"]
    replies = rasa_say(sender, "/report_issue")
    assert "Wat is er aan de hand?" not in text_of(replies) and "Waar is het?" not in text_of(replies)
    assert "Dit is je melding" in text_of(replies) and lamp in text_of(replies)
    replies = rasa_say(sender, "/affirm")
    [item] = items_of(stack, sender)
    assert (item.kind, item.area_code, item.text) == ("report", "WK082800", lamp)


def test_an_idea_taken_for_a_question_can_be_turned_into_an_idea_on_the_summary(stack: Stack) -> None:
    sender = new_sender()
    assert "Wat is je vraag?" in text_of(rasa_say(sender, "ik heb een vraag"))
    replies = rasa_say(sender, "kan er een moestuin komen op het braakliggende veld achter de school")
    if "Dit klinkt als" in text_of(replies):  # the NLU heard an idea: the offer comes first; stay a question
        rasa_say(sender, "/ask_question")
    replies = rasa_say(sender, "Berghem")
    assert "Dit is je vraag" in text_of(replies) and "/share_idea" in payloads(replies)
    replies = rasa_say(sender, "/share_idea")
    assert "Wat is je idee?" not in text_of(replies) and "Wie doen er nog meer mee?" in text_of(replies)
    assert items_of(stack, sender) == []


def test_not_understood_twice_offers_a_person_and_files_a_contact_item(stack: Stack) -> None:
    sender = new_sender()
    rasa_say(sender, "/subscribe")  # asks the area ...
    assert "Je bent aangemeld" in text_of(rasa_say(sender, "Dorst"))  # ... and remembers it
    first = rasa_say(sender, "/nlu_fallback")
    assert "Bedoel je" in text_of(first) and len(payloads(first)) == 2
    second = rasa_say(sender, "/nlu_fallback")
    assert "medewerker" in text_of(second) and payloads(second) == ["/affirm", "/deny"]
    replies = rasa_say(sender, "/affirm")
    assert "Ik heb je vraag om contact doorgestuurd" in text_of(replies)
    [item] = items_of(stack, sender)
    assert (item.kind, item.area_code) == ("contact", "WK082613")


def test_the_running_model_has_expiring_sessions(stack: Stack) -> None:
    import httpx

    domain = httpx.get(
        f"{stack.rasa_url}/domain",
        params={"token": stack.rasa_token},
        headers={"Accept": "application/json"},
        timeout=30,
    ).json()
    assert domain["session_config"] == {"session_expiration_time": 60, "carry_over_slots_to_new_session": True}


def age_conversation(stack: Stack, sender: str, seconds: float) -> None:
    """Move a conversation's events back in time, as if the resident came back later (as bench/longlived)."""
    with sqlite3.connect(stack.tracker_db) as connection:
        connection.execute(
            "UPDATE events SET timestamp = timestamp - :d, "
            "data = json_set(data, '$.timestamp', json_extract(data, '$.timestamp') - :d) WHERE sender_id = :s",
            {"d": seconds, "s": sender},
        )


def sessions_of(stack: Stack, sender: str) -> list[list[dict[str, Any]]]:
    """The conversation's stored events, one list per session, each from its session_started up to its last
    action_listen (what follows belongs to starting the next session)."""
    with sqlite3.connect(stack.tracker_db) as connection:
        rows = connection.execute("SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)).fetchall()
    sessions: list[list[dict[str, Any]]] = []
    for (data,) in rows:
        event = json.loads(data)
        if event["event"] == "session_started":
            sessions.append([])
        if sessions:
            sessions[-1].append(event)
    listened = [
        [i for i, e in enumerate(s) if (e["event"], e.get("name")) == ("action", "action_listen")] for s in sessions
    ]
    return [session[: ends[-1] + 1] for session, ends in zip(sessions, listened, strict=True)]


def test_a_returning_resident_starts_each_session_with_the_last_area_only(stack: Stack) -> None:
    sender = new_sender()
    rasa_say(sender, "/subscribe")
    assert "Je bent aangemeld" in text_of(rasa_say(sender, "Dorst"))
    for _visit in range(3):
        age_conversation(stack, sender, 2 * 3600)  # beyond session_expiration_time (60 min)
        assert "digitale wijkassistent" in text_of(rasa_say(sender, "/greet"))
    _first, *later = sessions_of(stack, sender)
    assert len(later) == 3
    for session in later:
        started = [(e["event"], e.get("name"), e.get("value")) for e in session[:4]]
        assert started == [
            ("session_started", None, None),
            ("slot", "last_area", "WK082613"),
            ("slot", "session_started_metadata", telegram_metadata(sender)),
            ("action", "action_listen", None),
        ]
    assert [len(session) for session in later] == [len(later[0])] * 3  # no session grows with the ones before


@pytest.mark.parametrize(
    "asked", ["wat is er gedaan in mijn wijk?", "welke buurtinitiatieven zijn hier al gerealiseerd"]
)
def test_asking_what_was_realised_nearby_gets_the_list(stack: Stack, asked: str) -> None:
    sender = new_sender()
    replies = rasa_say(sender, asked, telegram_metadata(sender))
    assert "gerealiseerd in" in text_of(replies).lower() and "/initiatief" in text_of(replies)
