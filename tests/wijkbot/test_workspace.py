"""The workspace's inbox and item view: the same rights as Telegram's /inbox, and filters that do what they say
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from db import models
from db.models import utcnow
from tests.factories import make_item, make_item_recipient, make_resident, make_staff
from wijkbot.data_schema import DataFileError
from wijkbot.municipalities import Registry
from wijkbot.rights import NotAllowed
from wijkbot.staff_loop import close
from wijkbot.staff_loop import inbox as telegram_inbox
from wijkbot.themes import load_themes
from wijkbot.workspace import Choice, InboxFilter, add_note, fill_canned_answer, inbox, item_view, open_blanks


def file(session: Session, registry: Registry, kind: str, area: str, text: str) -> models.Item:
    return make_item(session, registry, kind=kind, area_code=area, text=text)


def test_the_open_inbox_is_telegrams_inbox_for_every_role(session: Session, registry: Registry) -> None:
    staff = [
        make_staff(session, registry, areas=["WK082611"], name="Sanne"),
        make_staff(session, registry, areas=["WK082613"], name="Piet"),
        make_staff(session, registry, areas=["WK082611"], name="Kees", role="council"),
        make_staff(session, registry, areas=["WK082600"], name="Loket", role="inbox"),
        make_staff(session, registry, areas=["WK082611", "WK082613"], name="Wethouder", role="lead"),
    ]
    for kind in ("idea", "report", "question"):
        for area in ("WK082611", "WK082613", "WK082601"):
            file(session, registry, kind, area, f"{kind} in {area}")
    copied = file(session, registry, "report", "WK082611", "a report with a council copy (not for their eyes)")
    make_item_recipient(session, item=copied, staff=staff[2], reason="council")
    done = file(session, registry, "report", "WK082611", "al afgerond")
    close(session, staff=staff[0], item_id=done.id, outcome="done")
    for member in staff:
        web = [row.id for row in inbox(session, registry, staff=member).rows]
        assert web == [item.id for item in telegram_inbox(session, staff=member)], member.name
    assert [row.id for row in inbox(session, registry, staff=staff[0], wanted=InboxFilter(state="closed")).rows] == [
        done.id
    ]


def test_filters_and_search(session: Session, registry: Registry) -> None:
    sanne = make_staff(session, registry, areas=["WK082611", "WK082613"])
    old = file(session, registry, "report", "WK082611", "Kuil in de weg, 100% gevaarlijk")
    old.created_at = utcnow() - timedelta(days=4)
    new = file(session, registry, "idea", "WK082613", "Een moestuin_project")

    def ids(**wanted: str) -> list[int]:
        return [row.id for row in inbox(session, registry, staff=sanne, wanted=InboxFilter(**wanted)).rows]

    assert ids() == [old.id, new.id]
    assert ids(kind="idea") == [new.id] and ids(area="WK082611") == [old.id]
    assert ids(age="3") == [old.id] and ids(age="7") == []
    assert ids(search="KUIL") == [old.id] and ids(search="100%") == [old.id] and ids(search="0%") == [old.id]
    assert ids(search="moestui_") == [] and ids(search="moestuin_") == [new.id]  # % and _ are literal
    assert ids(search=f"#{new.id}") == [new.id]
    assert ids(kind="bogus", state="bogus", age="99") == [old.id, new.id]  # unknown values mean no filter
    assert ids(theme="straat") == [old.id] and ids(theme="ontmoeten") == [new.id]  # "kuil"; "moestuin"
    assert ids(theme="groen") == [] and ids(theme="bogus") == [old.id, new.id]


def test_a_theme_is_its_words_anywhere_in_the_text_and_the_themes_file_is_checked(
    session: Session, registry: Registry, tmp_path: Path
) -> None:
    sanne = make_staff(session, registry, areas=["WK082611"])
    trees = file(session, registry, "report", "WK082611", "De BOMEN in het plantsoen zijn ziek")
    parking = file(session, registry, "report", "WK082611", "Parkeren op de stoep bij de school")
    choices = inbox(session, registry, staff=sanne).themes
    assert choices[0] == Choice("", "alle thema's") and Choice("groen", "Groen en bomen") in choices

    def ids(theme: str) -> list[int]:
        return [row.id for row in inbox(session, registry, staff=sanne, wanted=InboxFilter(theme=theme)).rows]

    assert ids("groen") == [trees.id]  # "park" is not a word of groen: parkeren stays out
    assert ids("verkeer") == [parking.id] and ids("straat") == [parking.id]  # "stoep": in two themes
    (tmp_path / "themes.yaml").write_text(
        "themes:\n  - {key: a, name: A, words: [abc]}\n  - {key: a, name: B, words: [xy]}\n", encoding="utf-8"
    )
    with pytest.raises(DataFileError) as refused:
        load_themes(tmp_path)
    message = str(refused.value)
    assert "themes.yaml does not match its schema" in message and "$.themes[1].words[0]: 'xy' is too short" in message
    (tmp_path / "themes.yaml").write_text("themes:\n  - {key: a, name: A, words: [abc]}\n", encoding="utf-8")
    assert [t.key for t in load_themes(tmp_path)] == ["a"]
    (tmp_path / "themes.yaml").write_text(
        "themes:\n  - {key: a, name: A, words: [abc]}\n  - {key: a, name: B, words: [xyz]}\n", encoding="utf-8"
    )
    with pytest.raises(DataFileError, match="the theme key"):
        load_themes(tmp_path)


def test_the_item_view_and_notes_follow_the_rights(session: Session, registry: Registry) -> None:
    sanne = make_staff(session, registry, areas=["WK082611"], name="Sanne")
    kees = make_staff(session, registry, areas=["WK082611"], name="Kees", role="council")
    report = file(session, registry, "report", "WK082611", "Losse tegel")
    view = item_view(session, registry, staff=sanne, item_id=report.id)
    assert view.can_claim and view.can_reply and view.can_close and view.can_note
    add_note(session, staff=sanne, item_id=report.id, text="  aannemer gebeld  ")
    view = item_view(session, registry, staff=sanne, item_id=report.id)
    assert [(n.author, n.text) for n in view.notes] == [("Sanne", "aannemer gebeld")]
    assert all("aannemer" not in m.text for m in view.thread)
    with pytest.raises(NotAllowed):
        item_view(session, registry, staff=kees, item_id=report.id)
    with pytest.raises(NotAllowed):
        add_note(session, staff=kees, item_id=report.id, text="x")
    with pytest.raises(NotAllowed):
        item_view(session, registry, staff=sanne, item_id=report.id + 1000)


def test_standard_answers_fit_the_kind_and_are_filled_in_once(session: Session, registry: Registry) -> None:
    sanne = make_staff(session, registry, areas=["WK082611"], name="Sanne")
    resident = make_resident(session, first_name="{nummer} Anna")  # a name is never read as a placeholder
    report = make_item(session, registry, resident=resident, kind="report", area_code="WK082611", text="x")
    idea = file(session, registry, "idea", "WK082611", "een bankje")
    keys = [choice.value for choice in item_view(session, registry, staff=sanne, item_id=report.id).canned]
    assert keys == ["bedankt", "meer_weten", "doorgegeven"]  # GM0826's answers for every kind and for reports
    assert "afspraak" in [c.value for c in item_view(session, registry, staff=sanne, item_id=idea.id).canned]
    text = fill_canned_answer(session, registry, staff=sanne, item_id=report.id, key="bedankt")
    assert text.startswith(f"Hoi {{nummer}} Anna, bedankt voor je bericht (#{report.id}).")
    assert text.endswith("Groet, Sanne") and open_blanks(text) == ["[[aantal]]"]
    asked = fill_canned_answer(session, registry, staff=sanne, item_id=report.id, key="meer_weten")
    assert "Waar precies in Den Hout is het" in asked and open_blanks(asked) == []
    with pytest.raises(NotAllowed, match="bestaat niet"):
        fill_canned_answer(session, registry, staff=sanne, item_id=report.id, key="afspraak")  # ideas only


def test_only_who_may_answer_gets_standard_answers(session: Session, registry: Registry) -> None:
    piet = make_staff(session, registry, areas=["WK082613"], name="Piet")
    kees = make_staff(session, registry, areas=["WK082611"], name="Kees", role="council")
    idea = file(session, registry, "idea", "WK082611", "een bankje")
    idea.recipients.append(models.ItemRecipient(staff_id=kees.id, reason="council"))
    session.flush()
    assert item_view(session, registry, staff=kees, item_id=idea.id).canned == []
    for member in (kees, piet):
        with pytest.raises(NotAllowed):
            fill_canned_answer(session, registry, staff=member, item_id=idea.id, key="bedankt")
    sanne = make_staff(session, registry, areas=["WK082611"], name="Sanne")
    close(session, staff=sanne, item_id=idea.id, outcome="done")
    assert item_view(session, registry, staff=sanne, item_id=idea.id).canned == []  # closed: no reply box
