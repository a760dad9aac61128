"""Telegram HTML (parse_mode=HTML), parsed strictly: what Telegram refuses with "can't parse entities"."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .records import JSONDict


class HtmlParseError(ValueError):
    """Text that Telegram would refuse with "can't parse entities"."""


_ALLOWED_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_NAME_RE = re.compile(r"[^\s>/]*")
_ATTR_RE = re.compile(r"""([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int  # UTF-16 offset in the plain text
    language: str | None = None


def _decode_entity(match: re.Match[str]) -> str | None:
    dec, hexa, named = match.groups()
    if named:
        return _NAMED_ENTITIES[named]
    code = int(dec) if dec else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _decode_attr(value: str) -> str:
    return _ENTITY_RE.sub(lambda m: _decode_entity(m) or m.group(0), value)


def parse_html(source: str) -> tuple[str, list[JSONDict]]:
    """Parse Telegram HTML into (plain text, entities) or raise :class:`HtmlParseError`.

    Allowed: b strong i em u ins s strike del, a href, code, pre (with code class="language-x"),
    span class="tg-spoiler", tg-spoiler, blockquote [expandable], tg-emoji emoji-id; entities &lt; &gt;
    &amp; &quot; and numeric ones. A '<' that does not open an allowed tag, a bare '&', an unknown
    entity, an unclosed or mismatched tag are errors. Offsets are UTF-16 code units, like Telegram's.
    """
    return _Parser(source).parse()


@dataclass
class _Parser:
    source: str
    out: list[str] = field(default_factory=list)
    pos16: int = 0  # UTF-16 length of the plain text so far
    stack: list[_OpenTag] = field(default_factory=list)
    entities: list[JSONDict] = field(default_factory=list)

    def parse(self) -> tuple[str, list[JSONDict]]:
        i, n = 0, len(self.source)
        while i < n:
            ch = self.source[i]
            if ch == "<":
                i = self._end_tag(i) if self.source.startswith("</", i) else self._start_tag(i)
            elif ch == "&":
                i = self._entity(i)
            else:
                self.out.append(ch)
                self.pos16 += 2 if ord(ch) > 0xFFFF else 1
                i += 1
        if self.stack:
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _byte_offset(self, k: int) -> int:
        return len(self.source[:k].encode("utf-8"))

    def _end_tag(self, i: int) -> int:
        end = self.source.find(">", i)
        if end == -1:
            raise HtmlParseError(f"Unclosed end tag at byte offset {self._byte_offset(i)}")
        name = self.source[i + 2 : end].strip().lower()
        if not self.stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {self._byte_offset(i)}")
        top = self.stack.pop()
        if name != top.name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {self._byte_offset(i)}, expected "</{top.name}>", found "</{name}>"'
            )
        self._close(top)
        return end + 1

    def _start_tag(self, i: int) -> int:
        name_match = _TAG_NAME_RE.match(self.source, i + 1)
        assert name_match is not None
        name = name_match.group(0).lower()
        if name not in _ALLOWED_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {self._byte_offset(i)}')
        attrs, after = self._attributes(name, i, name_match.end())
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset(i)}')
        self.stack.append(_OpenTag(name, attrs, self.pos16))
        return after

    def _attributes(self, name: str, i: int, j: int) -> tuple[dict[str, str], int]:
        """The attributes of the start tag `name` (opened at i) from j on, and where the tag ends."""
        source, n = self.source, len(self.source)
        attrs: dict[str, str] = {}
        while True:
            while j < n and source[j].isspace():
                j += 1
            if j >= n:
                raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {self._byte_offset(i)}')
            if source[j] == ">":
                return attrs, j + 1
            attr = _ATTR_RE.match(source, j)
            if attr is None or attr.end() == j:
                raise HtmlParseError(
                    f'Unexpected character in the start tag "{name}" at byte offset {self._byte_offset(j)}'
                )
            value = next((v for v in attr.groups()[1:] if v is not None), "")
            attrs[attr.group(1).lower()] = _decode_attr(value)
            j = attr.end()

    def _entity(self, i: int) -> int:
        entity = _ENTITY_RE.match(self.source, i)
        decoded = _decode_entity(entity) if entity else None
        if entity is None or decoded is None:
            raise HtmlParseError(
                f'Unsupported HTML entity or unescaped "&" at byte offset {self._byte_offset(i)}; escape it as "&amp;"'
            )
        self.out.append(decoded)
        self.pos16 += utf16_len(decoded)
        return entity.end()

    def _close(self, tag: _OpenTag) -> None:
        length = self.pos16 - tag.start
        if tag.name == "code" and self.stack and self.stack[-1].name == "pre":
            cls = tag.attrs.get("class", "")
            if cls.startswith("language-"):
                self.stack[-1].language = cls.removeprefix("language-")
            return
        if length <= 0:
            return
        entity: JSONDict = {"type": _ALLOWED_TAGS[tag.name], "offset": tag.start, "length": length}
        if tag.name == "a":
            href = tag.attrs.get("href", "")
            if not href:
                return
            entity["url"] = href
        elif tag.name == "pre" and tag.language:
            entity["language"] = tag.language
        elif tag.name == "blockquote" and "expandable" in tag.attrs:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.attrs.get("emoji-id", "")
        self.entities.append(entity)
