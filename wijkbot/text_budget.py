"""Telegram's length limits, measured the way Telegram measures them, and payloads fitted to them.

Telegram counts a message's length in UTF-16 code units of the *visible* text, after the HTML is parsed:
tags count nothing, an entity such as `&amp;` counts as the one character it stands for, and a character
outside the Basic Multilingual Plane (most emoji) counts as two. Limits: a text 4,096, a caption 1,024, a
poll question 300 and a poll option 100.

`fit_message` makes any outbox message fit: a long text is split into several messages at paragraph, line
or word boundaries, never inside a tag or an entity (tags open at a cut are closed and opened again in the
next part); what cannot be split (an edit, a caption, a poll) is shortened with a pointer ("…").
wijkbot.outbox applies it to every row it writes, so no row can exceed a limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from html import unescape

from wijkbot.payloads import Document, Edit, Payload, Photo, Poll, Text

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
POLL_QUESTION_LIMIT = 300
POLL_OPTION_LIMIT = 100
POINTER = "…"

_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*>|&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);|.", re.S)
_EMPTY_PAIR = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)(?:\s[^>]*)?></\1>")
_SPACE = " \t\r\n"


def units(text: str) -> int:
    """The length of plain text in UTF-16 code units (an astral character, such as most emoji, is 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@dataclass(frozen=True)
class _Token:
    raw: str
    width: int  # visible UTF-16 units
    tag: str | None = None  # the tag name, for a tag
    closing: bool = False


def _tokens(text: str, *, html: bool) -> list[_Token]:
    if not html:
        return [_Token(ch, units(ch)) for ch in text]
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(text):
        raw = match.group(0)
        if match.group(2):
            tokens.append(_Token(raw, 0, match.group(2).lower(), bool(match.group(1))))
        elif raw.startswith("&") and len(raw) > 1:
            tokens.append(_Token(raw, units(unescape(raw))))
        else:
            tokens.append(_Token(raw, units(raw)))
    return tokens


def visible_length(text: str, *, html: bool = True) -> int:
    """What Telegram counts against its limit: UTF-16 units of the text after the HTML is parsed."""
    return sum(token.width for token in _tokens(text, html=html))


def _open_after(stack: list[_Token], token: _Token) -> None:
    if token.tag is None:
        return
    if not token.closing:
        stack.append(token)
    elif stack and stack[-1].tag == token.tag:
        stack.pop()


def _tidy(text: str) -> str:
    """Strip the whitespace Telegram would drop, and tag pairs left without content by a cut."""
    while True:
        tidier = _EMPTY_PAIR.sub("", text)
        if tidier == text:
            return text.strip(_SPACE)
        text = tidier


def _break_at(tokens: list[_Token], start: int, end: int) -> int:
    """Where to end a part that must stop before `end`: after a blank line, else a line break, else a space,
    if one is in the part's second half; else right at `end`."""
    half = start + (end - start) // 2
    for separator in ("\n\n", "\n", " "):
        for i in range(end - 1, half, -1):
            raw = tokens[i].raw
            if separator == "\n\n":
                if raw == "\n" and i > start and tokens[i - 1].raw == "\n":
                    return i + 1
            elif raw == separator:
                return i + 1
    return end


def split_text(text: str, *, limit: int = TEXT_LIMIT, html: bool = True) -> list[str]:
    """Split `text` into parts of at most `limit` visible units each, at paragraph, line or word boundaries.

    Tags and entities are never cut; a tag open at a cut is closed at the end of the part and opened again
    at the start of the next one. A text that fits comes back unchanged, as one part.
    """
    if units(text) <= limit:  # tags and entities only ever make the source longer than what is visible
        return [text]
    tokens = _tokens(text, html=html)
    if sum(t.width for t in tokens) <= limit:
        return [text]
    parts: list[str] = []
    stack: list[_Token] = []  # tags open at the start of the current part
    start = 0
    while start < len(tokens):
        while start < len(tokens) and tokens[start].raw in _SPACE:
            start += 1
        width, end = 0, start
        while end < len(tokens) and width + tokens[end].width <= limit:
            width += tokens[end].width
            end += 1
        end = max(end, start + 1)
        cut = end if end == len(tokens) else _break_at(tokens, start, end)
        opened = list(stack)
        for token in tokens[start:cut]:
            _open_after(stack, token)
        body = "".join(t.raw for t in opened) + "".join(t.raw for t in tokens[start:cut])
        body += "".join(f"</{t.tag}>" for t in reversed(stack)) if html else ""
        part = _tidy(body)
        if visible_length(part, html=html):
            parts.append(part)
        start = cut
    return parts or [text]


def truncate(text: str, *, limit: int, html: bool = True, pointer: str = POINTER) -> str:
    """`text` shortened to `limit` visible units with `pointer` at the end (at a word boundary when one is
    near), its open tags closed; a text that fits comes back unchanged."""
    if units(text) <= limit:
        return text
    tokens = _tokens(text, html=html)
    if sum(t.width for t in tokens) <= limit:
        return text
    room = max(0, limit - visible_length(pointer, html=html))
    width, end = 0, 0
    while end < len(tokens) and width + tokens[end].width <= room:
        width += tokens[end].width
        end += 1
    space = next((i for i in range(end - 1, max(end - 40, 0), -1) if tokens[i].raw in _SPACE), None)
    cut = space if space is not None and space > end * 3 // 4 else end
    stack: list[_Token] = []
    for token in tokens[:cut]:
        _open_after(stack, token)
    kept = "".join(t.raw for t in tokens[:cut]).rstrip(_SPACE)
    closing = "".join(f"</{t.tag}>" for t in reversed(stack)) if html else ""
    return _tidy(kept + pointer + closing)


def fit_lines(
    head: str, lines: Sequence[str], tail: str, *, limit: int = TEXT_LIMIT, more: Callable[[int], str]
) -> str:
    """`head`, as many of `lines` as fit (one per line), `more(left out)` when some did not, then `tail`:
    one message of at most `limit` visible units (for a list where splitting makes no sense)."""
    shown = list(lines)
    while True:
        left_out = len(lines) - len(shown)
        body = "\n".join([*shown, more(left_out)] if left_out else shown)
        text = f"{head}{body}{tail}"
        if visible_length(text) <= limit or not shown:
            return text if visible_length(text) <= limit else truncate(text, limit=limit)
        shown.pop()


@dataclass(frozen=True)
class Page:
    """One page of a long list: its text, its number (from 1) and how many pages there are."""

    text: str
    number: int
    count: int


def paginate(
    title: str,
    lines: Sequence[str],
    *,
    number: int,
    per_page: int = 15,
    limit: int = TEXT_LIMIT,
    line_limit: int = 400,
) -> Page:
    """Page `number` of `lines` under `title` ("Titel (2/3)"): at most `per_page` lines a page, and never more
    than `limit` visible units (a line longer than `line_limit` is shortened with a pointer). A number past
    the end gives the last page."""
    reserve = visible_length(title) + 16  # the title and " (99/99)\n"
    budget = max(1, limit - reserve)
    pages: list[list[str]] = [[]]
    used = 0
    for raw in lines:
        line = truncate(raw, limit=min(line_limit, budget))
        cost = visible_length(line) + 1
        if pages[-1] and (len(pages[-1]) >= per_page or used + cost > budget):
            pages.append([])
            used = 0
        pages[-1].append(line)
        used += cost
    count = len(pages)
    number = min(max(1, number), count)
    heading = f"{title} ({number}/{count})" if count > 1 else title
    return Page(text=heading + "\n" + "\n".join(pages[number - 1]), number=number, count=count)


def page_buttons(page: Page, *, prefix: str) -> list[list[dict[str, str]]] | None:
    """ "◂ Vorige" and "Volgende ▸" buttons for a page of several, with callback data "<prefix>:<number>"."""
    row = []
    if page.number > 1:
        row.append({"text": "◂ Vorige", "callback_data": f"{prefix}:{page.number - 1}"})
    if page.number < page.count:
        row.append({"text": "Volgende ▸", "callback_data": f"{prefix}:{page.number + 1}"})
    return [row] if row else None


def fit_message(message: Payload) -> list[Payload]:
    """One outbox message as one or more messages, each within Telegram's limits.

    A text too long is split into several messages, in order; buttons stay on the last one. An edit, a
    caption and a poll cannot be split: they are shortened with a pointer.
    """
    if isinstance(message, Text):
        parts = split_text(message.text)
        if len(parts) == 1:
            return [message]
        bare = replace(message, buttons=None, rasa_buttons=None)
        return [*(replace(bare, text=text) for text in parts[:-1]), replace(message, text=parts[-1])]
    if isinstance(message, Edit):
        return [replace(message, text=truncate(message.text, limit=TEXT_LIMIT))]
    if isinstance(message, Photo) and message.caption is not None:
        return [replace(message, caption=truncate(message.caption, limit=CAPTION_LIMIT))]
    if isinstance(message, Document) and message.caption is not None:  # documents' captions are plain text
        return [replace(message, caption=truncate(message.caption, limit=CAPTION_LIMIT, html=False))]
    if isinstance(message, Poll):
        question = truncate(message.question, limit=POLL_QUESTION_LIMIT, html=False)
        options = [truncate(o, limit=POLL_OPTION_LIMIT, html=False) for o in message.options]
        return [replace(message, question=question, options=options)]
    return [message]
