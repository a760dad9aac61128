"""The action server's texts (actions/texts.yml), filled in with every value escaped for Telegram HTML."""

from __future__ import annotations

import string
from functools import lru_cache
from html import escape
from pathlib import Path

import yaml

TEXTS_FILE = Path(__file__).with_name("texts.yml")


class Html(str):
    """Text that is already safe Telegram HTML (built from escaped parts); inserted as is."""

    __slots__ = ()


@lru_cache(maxsize=1)
def catalogue() -> dict[str, str]:
    loaded = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()):
        raise ValueError(f"{TEXTS_FILE} must map text keys to strings")
    return loaded


def placeholders(key: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(catalogue()[key]) if name}


def say(key: str, **values: object) -> str:
    """The text `key` with its {placeholders} filled; values are escaped unless they are Html."""
    template = catalogue()[key]
    missing = placeholders(key) - set(values)
    if missing:
        raise KeyError(f"text {key!r} needs {sorted(missing)}")
    return template.format(**{name: _safe(value) for name, value in values.items()})


def _safe(value: object) -> str:
    if isinstance(value, Html):
        return str(value)
    return escape(str(value), quote=False)


def button_title(key: str, **values: object) -> str:
    """A button title: plain text (Telegram shows it literally), first letter upper case."""
    text = catalogue()[key].format(**{k: str(v) for k, v in values.items()})
    return text[:1].upper() + text[1:]
