"""A place inside a message with content is not an answer about a place (pure Python; no Rasa).

`inform` is the intent of a bare answer to "waar is het?": "Dorst", "4902 AB", "ik woon in de Slotjes",
"bij de kerk in Berghem". The place lookup is a strong feature, so a headline such as "Meer schaduw in de
speeltuin in Dorst" leaned to `inform` though it is an idea. The words that answers about a place are made of
are learnt from the `inform` training examples (outside their entities); a message with more than a few other
words is something else; without a place or postcode entity, one other word is enough ("Concerten in de
kerk"), unless the message opens with a preposition of place ("bij het bruggetje", "in de Componistenbuurt").
Street names (words ending in -straat, -laan, -weg, ...) count as neither. Then `inform` is taken out of the
ranking. When the likeliest of the rest is an intent that carries content (an idea, a report, a question,
...), the rest is renormalised: that intent with its share of what is left. Otherwise the rest keeps its own
small confidences, so the FallbackClassifier turns the message into `nlu_fallback` (the assistant asks what it
is) rather than, say, `greet`.

The other way round, a message that is nothing but a place or postcode (a few words such as "ik woon in"
aside: WHERE_WORDS) is `inform`, whatever the classifier made of the name ("Dommelbergen" read as an idea).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

INFORM = "inform"
# More content words than this outside the inform vocabulary and the entities: not a bare place answer.
MAX_FOREIGN_WORDS = 2
# ... and when the message has no place or postcode entity at all (one when it opens with a preposition of place).
MAX_FOREIGN_WORDS_WITHOUT_PLACE = 0
PLACE_PREPOSITIONS = frozenset(
    {"bij", "in", "op", "aan", "naast", "achter", "voor", "tegenover", "langs", "onder", "over", "nabij", "vlakbij"}
)
# Intents that carry what the resident wants: inform's share may go to them.
CONTENT_INTENTS = frozenset({"share_idea", "report_issue", "ask_question", "join_initiative", "ask_budget"})
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STREET = re.compile(r"(straat|laan|weg|plein|singel|dreef|hof|kade|gracht|dijk|steeg|baan|ring|pad)$")


def words(text: str) -> list[str]:
    """The words of three letters or more, lower case (numbers and postcodes are not words)."""
    return [match.group(0).lower() for match in _WORD.finditer(text)]


def outside_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The text with the given (start, end) spans blanked out."""
    chars = list(text)
    for start, end in spans:
        for index in range(max(start, 0), min(end, len(chars))):
            chars[index] = " "
    return "".join(chars)


def foreign_words(text: str, spans: Iterable[tuple[int, int]], vocabulary: frozenset[str]) -> list[str]:
    """The words of `text`, outside the entity spans, that no training answer about a place used."""
    found = words(outside_spans(text, spans))
    return [word for word in found if word not in vocabulary and not _STREET.search(word)]


def is_place_answer(text: str, spans: Sequence[tuple[int, int]], vocabulary: frozenset[str]) -> bool:
    if spans:
        limit = MAX_FOREIGN_WORDS
    else:
        first = text.split(maxsplit=1)[0].lower() if text.strip() else ""
        limit = MAX_FOREIGN_WORDS_WITHOUT_PLACE + (first in PLACE_PREPOSITIONS)
    return len(foreign_words(text, spans, vocabulary)) <= limit


# The only words a bare place answer has beside its place or postcode ("ik woon in Dorst", "in de Slotjes", "wij
# zitten in Oss-Noord"): prepositions, and saying where one lives or is. A landmark ("speeltuin Dorst") is not
# among them: that may be the start of an idea.
WHERE_WORDS = PLACE_PREPOSITIONS | frozenset(
    {"ik", "wij", "we", "woon", "wonen", "woont", "zit", "zitten", "ben", "zijn", "van", "uit", "het", "een"}
    | {"mijn", "ons", "onze", "daar", "hier", "dat", "is", "live", "the", "near", "at"}
)
# What a bare place answer keeps of the likeliest other intent's confidence when it is made `inform`.
KEEP_OF_OTHER = 0.1


def is_bare_place(text: str, spans: Sequence[tuple[int, int]]) -> bool:
    """Whether the message is a place or postcode and nothing more ("Dommelbergen", "in de Componistenbuurt")."""
    return bool(spans) and all(word in WHERE_WORDS for word in words(outside_spans(text, spans)))


def as_inform(ranking: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ranking with all but KEEP_OF_OTHER of the likeliest intent's confidence moved to `inform`."""
    entries = sorted((dict(entry) for entry in ranking), key=lambda entry: -float(entry.get("confidence") or 0.0))
    if not entries or entries[0].get("name") == INFORM:
        return entries
    inform = next((entry for entry in entries if entry.get("name") == INFORM), None)
    if inform is None:
        inform = {"name": INFORM, "confidence": 0.0}
        entries.append(inform)
    moved = float(entries[0].get("confidence") or 0.0) * (1 - KEEP_OF_OTHER)
    entries[0]["confidence"] = float(entries[0].get("confidence") or 0.0) - moved
    inform["confidence"] = float(inform.get("confidence") or 0.0) + moved
    return sorted(entries, key=lambda entry: -float(entry["confidence"]))


def without_inform(ranking: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ranking without `inform`, likeliest first; renormalised over the rest when the likeliest of the rest
    carries content, left as it is otherwise (so that a fallback catches it)."""
    rest = sorted(
        (dict(entry) for entry in ranking if entry.get("name") != INFORM),
        key=lambda entry: -float(entry.get("confidence") or 0.0),
    )
    total = sum(float(entry.get("confidence") or 0.0) for entry in rest)
    if total > 0 and rest[0].get("name") in CONTENT_INTENTS:
        for entry in rest:
            entry["confidence"] = float(entry.get("confidence") or 0.0) / total
    return rest
