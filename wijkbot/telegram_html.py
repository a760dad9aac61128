"""Text that is safe to send with Telegram's HTML parse mode, and within its length limit."""

from __future__ import annotations

import re
from html import escape

from wijkbot.text_budget import TEXT_LIMIT, split_text

MAX_MESSAGE = TEXT_LIMIT
_ALLOWED_TAGS = ("b", "i", "u", "s", "code")
_TOKEN = re.compile(
    r"(?P<tag></?(?:" + "|".join(_ALLOWED_TAGS) + r")>)"
    r"|(?P<entity>&(?:lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});)"
    r"|(?P<char>[<>&\"])"
)


def sanitize_html(text: str) -> str:
    """Keep simple balanced tags and valid entities; escape every other <, >, & and quote."""
    out: list[str] = []
    stack: list[str] = []
    balanced = True
    position = 0
    for match in _TOKEN.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        if match.group("tag"):
            tag = match.group("tag")
            name = tag.strip("</>")
            if tag.startswith("</"):
                if stack and stack[-1] == name:
                    stack.pop()
                else:
                    balanced = False
            else:
                stack.append(name)
            out.append(tag)
        elif match.group("entity"):
            out.append(match.group("entity"))
        else:
            out.append(escape(match.group("char")))
    out.append(text[position:])
    result = "".join(out)
    if stack or not balanced:
        result = re.sub(r"</?(?:" + "|".join(_ALLOWED_TAGS) + r")>", "", result)
    return result


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split long text into parts within Telegram's limit (UTF-16 units of the visible text), at paragraph,
    line or word boundaries; tags are closed at the end of a part and reopened in the next (text_budget)."""
    return split_text(text, limit=limit)


def plain_text(text: str) -> str:
    """The text without tags and with entities decoded: the fallback when Telegram refuses the HTML."""
    from html import unescape

    return unescape(re.sub(r"</?[a-z][^>]*>", "", text))
