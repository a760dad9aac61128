"""Telegram's limits, measured as Telegram measures them (UTF-16 units of the visible text), and every
outbox row fitted to them (issue 16, item 6)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models
from devtools.fake_telegram import parse_html, utf16_len
from tests.factories import make_resident, make_staff
from wijkbot.items import file_item
from wijkbot.municipalities import Registry
from wijkbot.outbox import Queued, enqueue, enqueue_many
from wijkbot.payloads import Edit, Photo, Poll, Text
from wijkbot.polls import AreaResult, OptionCount, PollResults, staff_results_text, voter_results_text
from wijkbot.purposes import Purpose
from wijkbot.services import Services
from wijkbot.staff_loop import close
from wijkbot.telegram_html import sanitize_html
from wijkbot.text_budget import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    fit_message,
    paginate,
    split_text,
    truncate,
    units,
    visible_length,
)

ASTRAL = "🙂"  # outside the Basic Multilingual Plane: two UTF-16 units


def _visible(html: str) -> int:
    """What the fake Bot API (and Telegram) counts."""
    return utf16_len(parse_html(html)[0])


def test_emoji_and_other_astral_characters_count_as_two_units() -> None:
    assert units(ASTRAL) == 2 and units("é") == 1 and units("𝔸b") == 3
    assert visible_length(ASTRAL * 2048) == TEXT_LIMIT and visible_length(ASTRAL * 2049) == TEXT_LIMIT + 2


def test_tags_do_not_count_and_an_entity_counts_as_its_character() -> None:
    assert visible_length("<b>Hoi</b> &amp; <i>jij</i>") == len("Hoi & jij")
    assert visible_length("<b>x</b>", html=False) == 8


def test_a_text_of_emoji_under_4096_characters_is_split_by_its_utf16_length() -> None:
    text = ASTRAL * 3000  # 3,000 characters, 6,000 units: too long for one message
    parts = split_text(text)
    assert len(parts) == 2 and "".join(parts) == text
    assert all(_visible(part) <= TEXT_LIMIT for part in parts)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12_000))
def test_any_long_text_is_split_into_valid_html_parts_within_the_limit(text: str) -> None:
    html = sanitize_html(text)
    parts = split_text(html)
    for part in parts:
        assert _visible(part) <= TEXT_LIMIT  # parse_html raises on anything Telegram would refuse
    assert "".join(parse_html(p)[0] for p in parts).replace(" ", "").replace("\n", "") == parse_html(html)[0].replace(
        " ", ""
    ).replace("\n", "")


def test_a_split_prefers_paragraphs_and_keeps_tags_open_across_parts() -> None:
    paragraph = "<b>Kop</b>\n" + "<i>" + "woord " * 300 + "</i>"
    parts = split_text("\n\n".join([paragraph] * 5))
    assert len(parts) == 3
    assert all(part.startswith("<b>Kop</b>") for part in parts)  # cut between paragraphs, not inside one
    long_bold = split_text("<b>" + "woord &amp; " * 1000 + "</b>")
    assert all(p.startswith("<b>") and p.endswith("</b>") for p in long_bold)
    assert all("&amp" not in p.replace("&amp;", "") for p in long_bold)  # never cut inside an entity


def test_truncating_keeps_the_html_valid_and_ends_with_the_pointer() -> None:
    short = truncate("<b>" + "lang woord " * 200 + "</b>", limit=100)
    assert _visible(short) <= 100 and parse_html(short)[0].endswith("…")
    assert truncate("kort", limit=100) == "kort"


def test_a_caption_an_edit_and_a_poll_are_shortened_rather_than_split() -> None:
    [photo] = fit_message(Photo(photo="f", caption="<b>" + ASTRAL * 600 + "</b>"))
    assert isinstance(photo, Photo) and photo.caption is not None
    assert _visible(photo.caption) <= CAPTION_LIMIT and photo.caption.endswith("…</b>")
    [edit] = fit_message(Edit(message_id=1, text="x " * 3000))
    assert isinstance(edit, Edit) and _visible(edit.text) <= TEXT_LIMIT
    [poll] = fit_message(Poll(question=ASTRAL * 200, options=["Ja", ASTRAL * 60]))
    assert isinstance(poll, Poll) and utf16_len(poll.question) <= 300 and utf16_len(poll.options[1]) <= 100


def test_a_long_message_is_queued_as_ordered_follow_up_rows_with_the_buttons_on_the_last(session: Session) -> None:
    text = "\n\n".join(f"Alinea {i}: " + ASTRAL * 700 for i in range(6))  # 8,000+ units
    buttons = [[{"text": "Oppakken", "callback_data": "item:1:claim"}]]
    assert enqueue(session, purpose="lang", chat_id=5, text=text, buttons=buttons, item_id=None)
    enqueue_many(session, [Queued(Purpose("bulk"), 6, Text(text=text))])
    rows = list(session.scalars(select(models.OutboxMessage).order_by(models.OutboxMessage.id)))
    mine = [r for r in rows if r.recipient_chat_id == 5]
    assert [r.purpose for r in mine] == ["lang", "lang#2", "lang#3"]
    assert [bool(r.payload.get("buttons")) for r in mine] == [False, False, True]
    assert [r.purpose for r in rows if r.recipient_chat_id == 6] == ["bulk", "bulk#2", "bulk#3"]
    assert all(_visible(r.payload["text"]) <= TEXT_LIMIT for r in rows)
    assert "Alinea 0" in mine[0].payload["text"] and "Alinea 5" in mine[-1].payload["text"]
    enqueue(session, purpose="lang", chat_id=5, text=text)  # queued once, all parts
    assert (
        len(list(session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == 5)))) == 3
    )


def test_a_long_closing_outcome_reaches_the_resident_in_full_in_several_messages(
    session: Session, services: Services
) -> None:
    staff = make_staff(session, services.registry, areas=["WK082613"])
    resident = make_resident(session)
    item = file_item(
        session, services.registry, services.rules, resident=resident, kind="idea", area_code="WK082613", text="Bank"
    ).item
    outcome = " ".join(f"stap{i}" for i in range(900)) + " " + ASTRAL * 200  # ~7,000 units
    close(session, staff=staff, item_id=item.id, outcome=outcome)
    rows = list(
        session.scalars(
            select(models.OutboxMessage)
            .where(models.OutboxMessage.recipient_chat_id == resident.telegram_id)
            .order_by(models.OutboxMessage.id)
        )
    )
    assert [r.purpose for r in rows] == [f"item:{item.id}:closed", f"item:{item.id}:closed#2"]
    assert all(_visible(r.payload["text"]) <= TEXT_LIMIT and r.item_id == item.id for r in rows)
    shown = " ".join(parse_html(r.payload["text"])[0] for r in rows)
    assert "stap0 " in shown and "stap899" in shown and ASTRAL * 200 in shown


def _many_areas(registry: Registry) -> PollResults:
    options = [f"Antwoord {i} " + "lang " * 18 for i in range(10)]
    areas = [
        AreaResult(code=f"WK{i}", name=f"Gebied nummer {i}", total=50, options=[OptionCount(o, 5) for o in options])
        for i in range(40)
    ]
    totals = [OptionCount(o, 200) for o in options]
    return PollResults(
        poll_id=7, question="Meer bankjes?", status="closed", recipients=9000, total=2000, options=totals, areas=areas
    )


def test_poll_results_with_many_areas_fit_one_message_for_a_voter_and_all_of_them_reach_the_creator(
    session: Session, registry: Registry
) -> None:
    results = _many_areas(registry)
    voter = voter_results_text(results, threshold=5, choice="Antwoord 1")
    assert _visible(voter) <= TEXT_LIMIT
    assert "Gebied nummer 0 (50)" in voter and "… en nog" in voter and voter.endswith("Stuur /stop.</i>")
    enqueue(session, purpose="poll:7:results", chat_id=8, text=staff_results_text(results, threshold=5))
    rows = list(session.scalars(select(models.OutboxMessage).where(models.OutboxMessage.recipient_chat_id == 8)))
    assert len(rows) > 1 and all(_visible(r.payload["text"]) <= TEXT_LIMIT for r in rows)
    everything = "\n".join(parse_html(r.payload["text"])[0] for r in rows)
    assert all(f"Gebied nummer {i} (50)" in everything for i in range(40))


def test_a_page_of_a_long_list_fits_one_message_and_a_number_past_the_end_gives_the_last() -> None:
    lines = [f"#{i} " + ASTRAL * 150 for i in range(40)]  # 300 units a line
    first = paginate("<b>Open items</b>", lines, number=1)
    assert first.count > 1 and first.text.startswith(f"<b>Open items</b> (1/{first.count})")
    assert _visible(first.text) <= TEXT_LIMIT
    last = paginate("<b>Open items</b>", lines, number=99)
    assert last.number == last.count and "#39 " in last.text
