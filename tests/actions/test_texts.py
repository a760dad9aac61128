"""Every text an action says exists in actions/texts.yml, and every value is escaped for Telegram HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actions.texts import Html, button_title, catalogue, placeholders, say

ACTIONS = Path(__file__).resolve().parents[2] / "actions"


def test_every_text_key_used_in_the_actions_exists() -> None:
    used: set[str] = set()
    for path in ACTIONS.glob("*.py"):
        used |= set(re.findall(r"""(?:say|button_title)\(\s*["']([a-z_]+)["']""", path.read_text(encoding="utf-8")))
    assert used and used <= set(catalogue())


def test_values_are_escaped_unless_already_html() -> None:
    assert say("plain", text="<b>&") == "&lt;b&gt;&amp;"
    assert say("plain", text=Html("<b>x</b>")) == "<b>x</b>"
    with pytest.raises(KeyError):
        say("area_found", area="Dorst")


def test_texts_use_only_telegram_safe_markup() -> None:
    for key, text in catalogue().items():
        assert not re.search(r"<(?!/?[bi]>)", text), key
        assert "&" not in text, key
        assert placeholders(key) == set(re.findall(r"{(\w+)}", text)), key


def test_button_titles_start_with_a_capital() -> None:
    assert button_title("intent_share_idea") == "Een idee delen"
