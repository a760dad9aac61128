"""Where a resident means: a postcode, a place name or a sentence holding one, resolved to wijken or dorpen.

Used by the assistant's forms (actions/area.py) and open to bot/ too: one answer shape for every way a
resident can say where something is, built on `wijkbot.postcodes.resolve_postcode` and the registry.
"""

from __future__ import annotations

import re

from wijkbot.municipalities import Area, Registry, normalise_name
from wijkbot.postcodes import Resolution, Status, find_postcode, parse_postcode, resolve_postcode


def resolve_place(text: str, registry: Registry) -> Resolution:
    """Resolve a place name ("Dorst", "de Ruwaard", "Vogelbuurt") or a sentence naming one.

    An exact name wins; otherwise the longest known names found as whole words in the text are used.
    Several areas (a woonplaats such as "Oss", a buurt name used in both municipalities) are ambiguous.
    """
    areas = _exact_place(text, registry)
    if not areas:
        areas = _places_in_text(text, registry)
    if not areas:
        return Resolution(status=Status.INVALID, postcode=None, place=text.strip() or None)
    municipalities = {a.municipality_code for a in areas}
    return Resolution(
        status=Status.UNIQUE if len(areas) == 1 else Status.AMBIGUOUS,
        postcode=None,
        municipality=municipalities.pop() if len(municipalities) == 1 else None,
        areas=areas,
        place=text.strip(),
    )


def resolve_location(text: str, registry: Registry) -> Resolution:
    """Resolve whatever a resident typed for "where": a full postcode anywhere in the text, a bare PC4,
    an area code (from a button), or a place name. INVALID when nothing in it points anywhere."""
    stripped = text.strip()
    area = registry.find_area(stripped.upper()) if re.fullmatch(r"(?i)WK\d{6}", stripped) else None
    if area is not None:
        return Resolution(status=Status.UNIQUE, postcode=None, municipality=area.municipality_code, areas=(area,))
    postcode = parse_postcode(stripped) or find_postcode(stripped)
    if postcode is not None:
        return resolve_postcode(str(postcode), registry)
    return resolve_place(stripped, registry)


def _exact_place(text: str, registry: Registry) -> tuple[Area, ...]:
    found = registry.areas_by_place(text)
    if found:
        return found
    # "de Ruwaard", "het Centrum", "wijk Slotjes": drop one leading article or "wijk"/"dorp".
    words = normalise_name(text).split()
    if len(words) > 1 and words[0] in {"de", "het", "wijk", "dorp", "buurt", "in"}:
        return registry.areas_by_place(" ".join(words[1:]))
    return ()


def _places_in_text(text: str, registry: Registry) -> tuple[Area, ...]:
    """Known names appearing as whole words in the text; a name inside a longer match does not count.

    A municipality named alongside a wijk narrows the wijk down ("Vrachelen in Oosterhout"); a wijk of
    another municipality is dropped then ("Oss Noord-West" is in Oss, not Oosterhout's wijk West).
    """
    haystack = f" {normalise_name(text)} "
    names = sorted({normalise_name(n) for n in registry.place_names() if len(n) > 2}, key=len, reverse=True)
    municipality_names = {normalise_name(m.name): m.code for m in registry.municipalities}
    taken: list[tuple[int, int]] = []
    named_municipalities: set[str] = set()
    found: list[Area] = []
    for name in names:
        start = haystack.find(f" {name} ")
        while start >= 0:
            span = (start + 1, start + 1 + len(name))
            if not any(a <= span[0] and span[1] <= b for a, b in taken):
                taken.append(span)
                if name in municipality_names:
                    named_municipalities.add(municipality_names[name])
                else:
                    found.extend(registry.areas_by_place(name))
                break
            start = haystack.find(f" {name} ", start + 1)
    if named_municipalities:
        inside = [a for a in found if a.municipality_code in named_municipalities]
        if inside:
            return tuple(dict.fromkeys(inside))
        found = [
            a
            for name, code in municipality_names.items()
            if code in named_municipalities
            for a in registry.areas_by_place(name)
        ]
    return tuple(dict.fromkeys(found))


def area_choices(areas: tuple[Area, ...], registry: Registry) -> list[tuple[str, str]]:
    """(code, button title) per candidate: "Slotjes", or "Centrum (Oss)" when the municipalities are mixed."""
    mixed = len({a.municipality_code for a in areas}) > 1
    return [
        (a.code, f"{a.name} ({registry.municipality(a.municipality_code).name})" if mixed else a.name) for a in areas
    ]
