"""Themes for the web workspace's inbox filter (wijkbot/data/themes.yaml): an item is in a theme when its text
holds one of the theme's words, case-insensitive. Plain words rather than a model, so staff can see why an item
matched and a municipality can change the list. Checked against its JSON Schema on load (wijkbot.data_schema),
and for keys used twice."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from wijkbot.data_schema import DataFileError, check, read_yaml, shown

DATA_DIR = Path(__file__).with_name("data")


@dataclass(frozen=True)
class Theme:
    key: str
    name: str
    words: tuple[str, ...]


def load_themes(data_dir: Path | None = None) -> tuple[Theme, ...]:
    """The themes of `themes.yaml`, or DataFileError naming the file, the place and the problem."""
    path = (data_dir or DATA_DIR) / "themes.yaml"
    loaded = read_yaml(path)
    check(loaded, "themes", source=shown(path))
    themes = tuple(
        Theme(
            key=str(raw["key"]),
            name=str(raw["name"]).strip(),
            words=tuple(dict.fromkeys(str(word).strip().lower() for word in raw["words"])),
        )
        for raw in loaded["themes"]
    )
    keys = [theme.key for theme in themes]
    doubled = sorted({key for key in keys if keys.count(key) > 1})
    if doubled:
        raise DataFileError(f"{shown(path)}: the theme key(s) {doubled} are used more than once")
    return themes


@cache
def shipped_themes() -> tuple[Theme, ...]:
    """The themes of the shipped file, read once per process."""
    return load_themes()


def find_theme(key: str) -> Theme | None:
    return next((theme for theme in shipped_themes() if theme.key == key), None)
