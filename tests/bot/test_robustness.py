"""Anything a resident may send, through the real bot path: never a crash, always an answer, always valid output."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from telegram.ext import Application

from devtools.fake_telegram import FakeTelegramServer, parse_html

pytestmark = pytest.mark.rasa
App = Application[Any, Any, Any, Any, Any, Any]
RASA_TIMEOUT_SECONDS = 60.0
_users = itertools.count(990_000_001)
BATCH = 100
BATCHES = 12  # the first batch Hypothesis makes is its simplest; the others are random: >1,000 inputs

resident_words = st.sampled_from(
    [
        "hoi",
        "ik heb een idee voor een speeltuin",
        "de lantaarnpaal is kapot",
        "wie is mijn wijkmakelaar",
        "5341 AB",
        "4911ab",
        "Dorst",
        "ja",
        "nee",
        "stop",
        "houdoe",
        "hedde gij een vraag",
        "what can you do?",
        "<b>vet</b> & <script>alert(1)</script>",
        "1234 SA",
        "🙂🙂🙂",
        "ik wil mijn gegevens zien",
    ]
)
free_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=4096).filter(
    lambda t: t.strip() != "" and not t.lstrip().startswith("/")
)
inputs = st.one_of(
    st.tuples(st.just("text"), st.one_of(resident_words, free_text)),
    st.tuples(st.just("command"), st.from_regex(r"/[a-z_]{1,12}( [a-zA-Z0-9{}\":]{0,20})?", fullmatch=True)),
    st.tuples(st.just("callback"), st.text(min_size=1, max_size=64).filter(lambda d: len(d.encode()) <= 64)),
    st.tuples(st.just("photo"), st.none()),
    st.tuples(st.just("voice"), st.none()),
    st.tuples(st.just("sticker"), st.none()),
    st.tuples(st.just("location"), st.none()),
    st.tuples(st.just("edited"), st.text(min_size=1, max_size=200).filter(lambda t: t.strip() != "")),
    st.tuples(st.just("group"), st.text(min_size=1, max_size=200).filter(lambda t: t.strip() != "")),
)


def push(telegram: FakeTelegramServer, kind: str, value: Any, user: int) -> tuple[int, str]:
    """Push one input from its own user; return the chat to expect an answer in and how it is answered."""
    if kind == "text" or kind == "command":
        telegram.push_text(user, value)
    elif kind == "callback":
        telegram.push_callback(user, value, message_id=1)
        return user, "callback"
    elif kind == "photo":
        telegram.push_photo(user)
    elif kind == "voice":
        telegram.push_voice(user)
    elif kind == "sticker":
        telegram.push_sticker(user)
    elif kind == "location":
        telegram.push_location(user, 51.64, 4.86)
    elif kind == "edited":
        telegram.push_edited_text(user, 1, value)
    elif kind == "group":
        telegram.push_group_text(user, -user, value)
        return -user, "message"
    return user, "message"


@settings(
    max_examples=1,
    deadline=None,
    phases=[Phase.generate],
    derandomize=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(batch=st.lists(inputs, min_size=BATCH, max_size=BATCH))
async def test_every_input_is_answered_with_valid_telegram_output(
    app: App, telegram: FakeTelegramServer, batch: list[tuple[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    caplog.clear()
    telegram.clear()
    expected = [push(telegram, kind, value, next(_users)) for kind, value in batch]

    def all_answered() -> bool:
        answered_chats = {m["chat_id"] for m in telegram.sent_messages()}
        callbacks = len(telegram.calls("answerCallbackQuery"))
        wanted_callbacks = sum(1 for _, how in expected if how == "callback")
        return callbacks >= wanted_callbacks and all(
            chat in answered_chats for chat, how in expected if how == "message"
        )

    await telegram.wait_for_async(all_answered, timeout=300)
    await asyncio.sleep(1)
    refused = [c for c in telegram.calls() if c.status >= 400]
    assert refused == [], refused[:3]
    for message in telegram.sent_messages():
        if message["method"] == "sendMessage":
            plain, _ = parse_html(message["text"]) if message.get("parse_mode") == "HTML" else (message["text"], [])
            assert 0 < len(plain) <= 4096
    assert telegram.errors == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
