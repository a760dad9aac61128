"""Text that is safe to send with Telegram's HTML parse mode, and within its length limit."""

from __future__ import annotations

import re
from html import escape

MAX_MESSAGE = 4096
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


def split_message(text: str, limit: int = MAX_MESSAGE - 96) -> list[str]:
    """Split long text into parts under Telegram's limit, at paragraph, line or word boundaries.

    Tags are closed at the end of a part and reopened at the start of the next one.
    """
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    carry: list[str] = []
    while rest:
        prefix = "".join(f"<{t}>" for t in carry)
        room = limit - len(prefix) - 20
        if len(rest) <= room:
            parts.append(prefix + rest)
            break
        cut = max(rest.rfind("\n\n", 0, room), rest.rfind("\n", 0, room), rest.rfind(" ", 0, room))
        if cut <= room // 2:
            cut = room
        # never cut inside a tag or an entity
        lt, amp = rest.rfind("<", 0, cut), rest.rfind("&", 0, cut)
        if lt > rest.rfind(">", 0, cut):
            cut = lt
        if amp > rest.rfind(";", 0, cut):
            cut = amp
        chunk, rest = rest[:cut], rest[cut:].lstrip()
        carry = _open_tags(prefix + chunk)
        parts.append(prefix + chunk + "".join(f"</{t}>" for t in reversed(carry)))
    return parts


def _open_tags(text: str) -> list[str]:
    stack: list[str] = []
    for match in re.finditer(r"<(/?)(" + "|".join(_ALLOWED_TAGS) + r")>", text):
        if match.group(1):
            if stack and stack[-1] == match.group(2):
                stack.pop()
        else:
            stack.append(match.group(2))
    return stack


def plain_text(text: str) -> str:
    """The text without tags and with entities decoded: the fallback when Telegram refuses the HTML."""
    from html import unescape

    return unescape(re.sub(r"</?[a-z][^>]*>", "", text))
