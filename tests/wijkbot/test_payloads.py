"""The outbox contract: typed payloads that read every stored row, and purposes built in one place."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_staff
from wijkbot import purposes
from wijkbot.delivery import Uncertainty, on_uncertain
from wijkbot.municipalities import Registry
from wijkbot.outbox import claim_due, enqueue, read
from wijkbot.payloads import (
    Ballot,
    Document,
    Edit,
    OutreachMark,
    Payload,
    Photo,
    Poll,
    StopPoll,
    Text,
    UnreadablePayload,
    from_json,
    to_json,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 8, 10, tzinfo=UTC)

# rows as the writers stored them before the types existed (payload JSON, by method)
STORED: list[tuple[str, dict[str, Any], Payload]] = [
    ("sendMessage", {"text": "Hoi", "parse_mode": "HTML"}, Text(text="Hoi")),
    (
        "sendMessage",
        {"text": "Kies", "parse_mode": "HTML", "buttons": [[{"text": "Oppakken", "callback_data": "item:1:claim"}]]},
        Text(text="Kies", buttons=[[{"text": "Oppakken", "callback_data": "item:1:claim"}]]),
    ),
    (
        "sendMessage",
        {
            "text": "Wat speelt er?",
            "parse_mode": "HTML",
            "rasa_buttons": [{"title": "Idee", "payload": "/share_idea"}],
            "outreach": {"resident_id": 4, "kind": "checkin"},
        },
        Text(
            text="Wat speelt er?",
            rasa_buttons=[{"title": "Idee", "payload": "/share_idea"}],
            outreach=OutreachMark(4, "checkin"),
        ),
    ),
    ("sendMessage", {"text": "Gewist", "parse_mode": "HTML", "ephemeral": True}, Text(text="Gewist", ephemeral=True)),
    ("sendPhoto", {"photo": "file-1", "caption": "Foto bij #3"}, Photo(photo="file-1", caption="Foto bij #3")),
    (
        "sendPhoto",
        {"media_id": 9, "caption": "Uitslag", "outreach": {"resident_id": 4, "kind": "results", "poll_id": 2}},
        Photo(media_id=9, caption="Uitslag", outreach=OutreachMark(4, "results", 2)),
    ),
    (
        "sendPoll",
        {
            "question": "Bankjes?",
            "options": ["Ja", "Nee"],
            "ballot": {"poll_id": 2, "resident_id": 4},
            "outreach": {"resident_id": 4, "kind": "poll", "poll_id": 2},
        },
        Poll(question="Bankjes?", options=["Ja", "Nee"], ballot=Ballot(2, 4), outreach=OutreachMark(4, "poll", 2)),
    ),
    (
        "sendDocument",
        {"document_text": "{}", "filename": "mijn-gegevens-wijkbot.json"},
        Document(document_text="{}", filename="mijn-gegevens-wijkbot.json"),
    ),
    (
        "editMessageText",
        {"message_id": 31, "text": "#3 is ingetrokken."},
        Edit(message_id=31, text="#3 is ingetrokken."),
    ),
    ("stopPoll", {"message_id": 12}, StopPoll(message_id=12)),
]


@pytest.mark.parametrize(("method", "stored", "expected"), STORED)
def test_rows_written_before_the_types_are_read_as_their_type(
    method: str, stored: dict[str, Any], expected: Payload
) -> None:
    message = from_json(method, stored)
    assert message == expected and method == message.METHOD


@pytest.mark.parametrize(("method", "stored", "expected"), STORED)
def test_a_message_is_stored_with_the_keys_rows_always_had(
    method: str, stored: dict[str, Any], expected: Payload
) -> None:
    assert to_json(expected) == {k: v for k, v in stored.items() if k != "parse_mode"}
    assert from_json(method, to_json(expected)) == expected


def test_a_poll_that_allows_several_answers_says_so_and_others_do_not() -> None:
    several = Poll(question="Welke dagen?", options=["ma", "di"], allows_multiple_answers=True)
    assert to_json(several)["allows_multiple_answers"] is True
    assert from_json("sendPoll", to_json(several)) == several
    assert "allows_multiple_answers" not in to_json(Poll(question="?", options=["a", "b"]))


@pytest.mark.parametrize(
    ("method", "stored"),
    [("sendSticker", {"sticker": "x"}), ("sendPoll", {"options": ["a"]}), ("editMessageText", {"text": "x"})],
)
def test_an_unknown_method_or_a_missing_field_is_unreadable(method: str, stored: dict[str, Any]) -> None:
    with pytest.raises(UnreadablePayload):
        from_json(method, stored)


def test_enqueue_writes_the_message_and_read_gives_it_back(session: Session) -> None:
    poll = Poll(question="Bankjes?", options=["Ja", "Nee"], ballot=Ballot(2, 4), outreach=OutreachMark(4, "poll", 2))
    assert enqueue(session, purpose=purposes.poll_ballot(2), chat_id=77, message=poll, now=NOW)
    [row] = claim_due(session, worker="w", now=NOW)
    assert (row.purpose, row.method) == ("poll:2", "sendPoll") and read(row) == poll


def test_enqueue_takes_a_message_or_a_text_not_both(session: Session) -> None:
    with pytest.raises(ValueError, match="one of the two"):
        enqueue(session, purpose=purposes.command_answer(1), chat_id=1, message=Text(text="a"), text="b")
    with pytest.raises(ValueError, match="one of the two"):
        enqueue(session, purpose=purposes.command_answer(1), chat_id=1)


# --- purposes --------------------------------------------------------------------------------------------


def test_outreach_purposes_are_held_after_an_uncertain_send_and_a_resident_answer_is_sent_again(
    session: Session, registry: Registry
) -> None:
    """The prefixes the uncertain rule reads are the ones the constructors make."""
    sanne = make_staff(session, registry, areas=["WK082611"], telegram_id=8801)
    rows = {
        purposes.poll_intro(2): (9001, Text(text="Peiling")),
        purposes.poll_results(2): (9002, Text(text="Uitslag")),
        purposes.checkin("WK082611", "2026-12-08"): (9003, Text(text="Wat speelt er?")),
        purposes.nudge(NOW): (9004, Text(text="Nog bezig?")),
        purposes.rasa_reply(5, 0): (9005, Text(text="Dank je")),
        purposes.item_notice(3, "new", sanne.id): (8801, Text(text="Nieuw idee")),
        purposes.item_withdrawn_edit(3, 1): (8801, Edit(message_id=4, text="ingetrokken")),
    }
    for purpose, (chat_id, message) in rows.items():
        enqueue(session, purpose=purpose, chat_id=chat_id, message=message, now=NOW)
    decided = {row.purpose: on_uncertain(session, row=row) for row in claim_due(session, worker="w", now=NOW)}
    assert decided == {
        "poll:2:intro": Uncertainty.HOLD,
        "poll:2:results": Uncertainty.HOLD,
        "checkin:WK082611:2026-12-08": Uncertainty.HOLD,
        f"nudge:{int(NOW.timestamp())}": Uncertainty.HOLD,
        "reply:5:0": Uncertainty.RESEND_LATER,
        f"item:3:new:{sanne.id}": Uncertainty.HOLD,
        "item:3:withdrawn:edit:1": Uncertainty.RETRY,
    }


def test_reminder_rounds_after_the_first_get_a_suffix() -> None:
    assert purposes.item_reminder(3, 7, 1) == "item:3:remind:7"
    assert purposes.item_escalation(3, 7, 2) == "item:3:escalate:7:2"
    assert purposes.part(purposes.rasa_reply(5, 0), 1) == "reply:5:0"
    assert purposes.part(purposes.rasa_reply(5, 0), 3) == "reply:5:0#3"


def _purposes_spelled_out(tree: ast.AST) -> list[int]:
    """Lines where a purpose is written as a literal or an f-string instead of by a constructor."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            given = [k.value for k in node.keywords if k.arg == "purpose"]
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "say" and len(node.args) >= 2:
                given.append(node.args[1])
            if name == "Queued" and node.args:
                given.append(node.args[0])
            lines += [node.lineno for value in given if isinstance(value, ast.Constant | ast.JoinedStr)]
    return lines


def test_the_application_builds_every_purpose_with_a_constructor() -> None:
    spelled = {}
    for package in ("wijkbot", "bot", "actions"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if lines := _purposes_spelled_out(ast.parse(path.read_text(encoding="utf-8"))):
                spelled[str(path.relative_to(ROOT))] = lines
    assert spelled == {}, "build these purposes in wijkbot/purposes.py"


@pytest.mark.parametrize(
    "source",
    [
        'enqueue(session, purpose=f"item:{item.id}:x", chat_id=1, text="a")',
        'enqueue(session, purpose="cmd:1", chat_id=1, text="a")',
        'await rt.say(chat.id, f"cmd:{update.update_id}", "a")',
        'Queued(f"poll:{poll.id}", chat_id, message)',
    ],
)
def test_a_purpose_spelled_out_is_found(source: str) -> None:
    assert _purposes_spelled_out(ast.parse(source))
