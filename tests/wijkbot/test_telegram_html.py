"""Text that Telegram's HTML mode accepts, within its length."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devtools.fake_telegram import parse_html
from wijkbot.telegram_html import MAX_MESSAGE, plain_text, sanitize_html, split_message


def test_simple_tags_and_entities_are_kept() -> None:
    assert sanitize_html("<b>Hoi</b> &amp; &lt;3") == "<b>Hoi</b> &amp; &lt;3"


def test_anything_else_is_escaped() -> None:
    assert sanitize_html("<script>x</script> a & b") == "&lt;script&gt;x&lt;/script&gt; a &amp; b"


def test_unbalanced_tags_are_dropped() -> None:
    assert sanitize_html("<b>open en <i>dicht</b>") == "open en dicht"


@given(st.text(max_size=400))
def test_any_text_becomes_valid_telegram_html(text: str) -> None:
    parse_html(sanitize_html(text))  # raises on anything Telegram would refuse


@given(st.text(min_size=1, max_size=12_000))
def test_long_text_is_split_into_valid_parts(text: str) -> None:
    parts = split_message(sanitize_html(text))
    for part in parts:
        plain, _ = parse_html(part)
        assert len(plain) <= MAX_MESSAGE


def test_split_keeps_bold_across_parts() -> None:
    parts = split_message("<b>" + "woord " * 1500 + "</b>")
    assert len(parts) == 3 and all(p.startswith("<b>") and p.endswith("</b>") for p in parts)


def test_plain_text_decodes() -> None:
    assert plain_text("<b>a</b> &amp; b") == "a & b"
