"""A Rasa conversation's sender id is the resident's Telegram user id, or nobody."""

from __future__ import annotations

import pytest

from wijkbot.residents import telegram_id_from_sender


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("123456789", 123456789),
        ("default", None),
        ("-100123", None),
        ("", None),
        ("0", None),
        (None, None),
        ("9" * 19, None),
    ],
)
def test_only_a_positive_number_is_a_telegram_user(sender: str | None, expected: int | None) -> None:
    assert telegram_id_from_sender(sender) == expected
