"""Dutch postcodes: parse what a resident typed, then resolve it to the wijk or dorp they live in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wijkbot.municipalities import Area, Registry

# Four digits 1000-9999, optional space(s), two letters; SA, SD and SS are never issued.
_POSTCODE = re.compile(r"^\s*([1-9]\d{3})\s*([A-Za-z]{2})?\s*$")
_UNUSED_LETTERS = frozenset({"SA", "SD", "SS"})
# The same shape inside a sentence, for pulling a postcode out of free text.
POSTCODE_IN_TEXT = re.compile(r"(?<![\dA-Za-z])([1-9]\d{3})\s?([A-Za-z]{2})(?![A-Za-z])")


class Status(StrEnum):
    UNIQUE = "unique"
    AMBIGUOUS = "ambiguous"
    OUTSIDE = "outside"
    INVALID = "invalid"


@dataclass(frozen=True)
class Postcode:
    """A valid postcode: always the PC4 digits, the letters when the resident gave them."""

    digits: str
    letters: str | None = None

    def __str__(self) -> str:
        return self.digits + (self.letters or "")


@dataclass(frozen=True)
class Resolution:
    status: Status
    postcode: str | None
    municipality: str | None = None
    areas: tuple[Area, ...] = ()
    note: str | None = None
    place: str | None = field(default=None)

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON shape (DESIGN.md, `wijkbot areas resolve`)."""
        body: dict[str, Any] = {
            "status": self.status.value,
            "municipality": self.municipality,
            "areas": [{"code": a.code, "name": a.name} for a in self.areas],
        }
        if self.postcode is not None:
            body["postcode"] = self.postcode
        if self.place is not None:
            body["place"] = self.place
        if self.note is not None:
            body["note"] = self.note
        return body


def parse_postcode(text: str) -> Postcode | None:
    """A Postcode from "1234 AB", "1234ab" or "1234"; None when it is not a possible Dutch postcode."""
    match = _POSTCODE.match(text)
    if not match:
        return None
    digits, letters = match.group(1), match.group(2)
    if letters is not None:
        letters = letters.upper()
        if letters in _UNUSED_LETTERS:
            return None
    return Postcode(digits=digits, letters=letters)


def find_postcode(text: str) -> Postcode | None:
    """The first full postcode (PC6) in a sentence, if any: "ik woon op 4911 ab" -> 4911AB."""
    for match in POSTCODE_IN_TEXT.finditer(text):
        postcode = parse_postcode(match.group(1) + match.group(2))
        if postcode is not None:
            return postcode
    return None


def resolve_postcode(text: str, registry: Registry) -> Resolution:
    """Resolve a postcode to one area, several candidates, a place outside, or invalid."""
    postcode = parse_postcode(text)
    if postcode is None:
        return Resolution(status=Status.INVALID, postcode=None)
    normalised = str(postcode)
    for municipality in registry.municipalities:
        codes = municipality.pc4_index.get(postcode.digits)
        if codes:
            areas = tuple(registry.area(code) for code in codes)
            status = Status.UNIQUE if len(areas) == 1 else Status.AMBIGUOUS
            return Resolution(status=status, postcode=normalised, municipality=municipality.code, areas=areas)
        special = municipality.pc4_special.get(postcode.digits)
        if special:
            # A postbus number belongs to the municipality but to no street: ask for the wijk.
            return Resolution(
                status=Status.AMBIGUOUS,
                postcode=normalised,
                municipality=municipality.code,
                areas=municipality.areas,
                note=special,
            )
    place = next(
        (m.neighbours[postcode.digits] for m in registry.municipalities if postcode.digits in m.neighbours), None
    )
    return Resolution(status=Status.OUTSIDE, postcode=normalised, place=place)
