"""Dutch word analysis for the NLU pipeline: lemmas, compound parts and domain classes of a word.

Pure Python, no Rasa: the Rasa component (`nlu_components.tokenizer`) wraps it, and tests/nlu tests it from the
app environment with a small vocabulary. In the Rasa environment the vocabulary and the lemmas come from
simplemma's Dutch dictionary (a PyPI package that ships its data: nothing is downloaded at run time).

Why: Dutch glues words together (lantaarnpaal, stoeptegel, speeltuintje, hondenpoepbak). Whole-word features
only help when the resident used the very word of a training example; the parts (lantaarn + paal, speel +
tuin, honden + poep + bak) and a domain class (`openbare ruimte`, `gebrek`, `activiteit`) let a message share
features with examples that use other words for the same kind of thing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from nlu_components.vocabulary import DOMAIN_CLASSES

# Heads of three letters that are real compound heads (fietspad, prullenbak, kuilgat); any other head needs at
# least four letters, so that `ouderen` is not oud + eren and `kinderen` not kin + deren.
SHORT_HEADS = frozenset(
    {"pad", "weg", "bak", "gat", "tak", "bos", "dak", "hek", "put", "wal", "bus", "zak", "pot", "les", "dag", "fee"}
    | {"bal", "bed", "bol", "dam", "dok", "gas", "kar", "lat", "mat", "pan", "rek", "rit", "ton", "vat", "zon"}
)
# Endings that look like words but are inflection (ouderen = oud + eren, parkeren = park + eren).
NOT_HEADS = frozenset({"eren", "deren", "ende", "ieren", "nieren", "ering", "ingen", "tjes"})
MIN_MODIFIER = 3
MIN_WORD = 6
_DIMINUTIVE = ("etje", "tje", "pje", "je")
_WORD = re.compile(r"^[a-zà-ÿ]+$")

Known = Callable[[str], bool]
Lemma = Callable[[str], str]


def split_compound(word: str, known: Known, depth: int = 3) -> list[str]:
    """The parts of a compound, longest known head first (`stoeptegel` -> [stoep, tegel]); [] when none.

    A part is a word `known` accepts; a modifier may end in the linking `s` (`ontmoetingsplek` -> ontmoeting +
    plek) and may itself be a compound (`hondenpoepbak` -> honden + poep + bak).
    """
    word = word.lower()
    if depth <= 0 or len(word) < MIN_WORD or not _WORD.match(word):
        return []
    for start in range(MIN_MODIFIER, len(word) - 2):
        head = word[start:]
        if (len(head) < 4 and head not in SHORT_HEADS) or head in NOT_HEADS or not known(head):
            continue
        modifier = word[:start]
        candidates = [modifier]
        if modifier.endswith("s") and len(modifier) > MIN_MODIFIER:
            candidates.append(modifier[:-1])
        for candidate in candidates:
            if len(candidate) >= MIN_MODIFIER and known(candidate):
                return [candidate, head]
        for candidate in candidates:
            parts = split_compound(candidate, known, depth - 1)
            if parts:
                return [*parts, head]
    return []


def strip_diminutive(word: str, known: Known) -> str | None:
    """`bankje` -> bank, `boompje` -> boom, `tuintje` -> tuin; None when it is no diminutive of a known word."""
    for ending in _DIMINUTIVE:
        for suffix in (ending + "s", ending):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                stem = word[: -len(suffix)]
                if known(stem):
                    return stem
    return None


def domain_classes(forms: Iterable[str]) -> list[str]:
    """The domain classes (vocabulary.DOMAIN_CLASSES) any of `forms` belongs to, in a fixed order."""
    found = []
    form_set = set(forms)
    for name, stems in DOMAIN_CLASSES.items():
        if form_set & stems:
            found.append(name)
    return found


class Analyser:
    """Turns one token into extra forms: its lemma, compound parts (lemmatised), and domain class markers."""

    def __init__(self, known: Known, lemma: Lemma) -> None:
        self.known = known
        self.lemma = lemma
        self.analyse = lru_cache(maxsize=50_000)(self._analyse)

    def _analyse(self, word: str) -> tuple[str, tuple[str, ...]]:
        """(lemma of the word, extra forms: compound parts and `__class` markers), without the word itself."""
        lower = word.lower()
        lemma = self.lemma(lower) or lower
        forms: list[str] = []
        small = strip_diminutive(lemma, self.known) or strip_diminutive(lower, self.known)
        if small and small != lemma:
            forms.append(small)
        parts = split_compound(lemma, self.known) or split_compound(lower, self.known)
        for part in parts:
            # a part as written, unless its lemma is shorter (lessen -> les, activiteiten -> activiteit): a
            # lemma of a bare part is often a verb that merely shares the letters (tuin -> tuinen)
            part_lemma = self.lemma(part) or part
            if len(part_lemma) >= len(part):
                part_lemma = part
            for form in (part_lemma, strip_diminutive(part_lemma, self.known)):
                if form and form not in forms and form != lemma:
                    forms.append(form)
        classes = domain_classes([lower, lemma, *forms])
        forms.extend(f"__{name}" for name in classes)
        return lemma, tuple(forms)


def simplemma_analyser() -> Analyser:
    """The analyser on simplemma's Dutch dictionary (Rasa environment only)."""
    import simplemma
    from simplemma.strategies.dictionaries import DefaultDictionaryFactory

    dictionary = DefaultDictionaryFactory().get_dictionary("nl")

    def known(word: str) -> bool:
        return word in dictionary

    def lemma(word: str) -> str:
        return str(simplemma.lemmatize(word, lang="nl"))

    return Analyser(known, lemma)
