"""Reading what a resident answers while bringing in an idea, report or question.

Plain functions over text and municipality data, shared by the action server and the bot: is a first
message already a description, which help is asked for, yes or no, and which initiative criteria
(municipality data, `Municipality.initiative_criteria`) an idea does not meet yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from wijkbot.municipalities import Criterion, Municipality

MIN_ANSWER_CHARS = 3
MAX_ANSWER_CHARS = 2000

# Words that say *that* someone has an idea, report or question, not *what* it is.
_GENERIC_WORDS = frozenset(
    """
    ik wij we je jij u mijn ons onze onze de het een en of voor van in op aan bij met om te over naar
    heb hebben heeft had wil willen wilde graag zou zouden kan kunnen mag mogen moet iets wat nog even
    idee ideeen ideetje initiatief bewonersinitiatief buurtinitiatief plan plannetje voorstel suggestie
    melding melden meld doorgeven doorgegeven probleem klacht vraag vraagje vragen stellen stel delen deel
    buurt wijk straat dorp omgeving onze buurt hier daar er is zijn was leuk goed hallo hoi hey dag
    have an idea for our my the a i we report question problem issue neighbourhood neighborhood street
    meedoen doen mee helpen initiatieven
    """.split()
)

HELP_KINDS: dict[str, str] = {
    "money": "geld",
    "permission": "toestemming of vergunning",
    "materials": "materiaal",
    "advice": "advies",
    "neighbours": "contact met buren",
    "none": "geen hulp nodig",
}
_HELP_WORDS: dict[str, tuple[str, ...]] = {
    "money": ("geld", "budget", "subsidie", "euro", "betalen", "financ", "kosten", "money", "funding", "poen"),
    "permission": ("vergunning", "toestemming", "mag het", "regels", "permission", "permit"),
    "materials": ("materia", "spullen", "gereedschap", "planten", "zand", "verf", "material"),
    "advice": ("advies", "hulp bij", "meedenken", "tips", "uitleg", "advice"),
    "neighbours": ("buren", "buurtbewoners", "buurtgenoten", "bewoners", "contact", "neighbours", "neighbors"),
    "none": ("niets", "niks", "geen", "nee", "nothing", "weet ik niet", "weet niet"),
}
_NEIGHBOUR_WORDS = ("buren", "buurman", "buurvrouw", "buurtgenoten", "buurtbewoners", "bewoners", "straat", "neighbour")
_YES = frozenset("ja jaa jep jazeker yes yep ok oke oké prima klopt zeker natuurlijk graag goed jawel tuurlijk".split())
_NO = frozenset("nee neen nope no niet nooit geen nah".split())


def words(text: str) -> list[str]:
    return re.findall(r"[a-zà-ÿ0-9]+", text.lower())


def is_descriptive(text: str) -> bool:
    """Whether a first message already says what it is about ("de lantaarnpaal bij ons is kapot"),
    so the assistant need not ask again; "ik heb een idee" is not."""
    if text.lstrip().startswith("/"):
        return False
    all_words = words(text)
    content = [w for w in all_words if w not in _GENERIC_WORDS and not w.isdigit()]
    return len(all_words) >= 4 and len(content) >= 2


def clean_answer(text: str | None) -> str | None:
    """A usable free-text answer, trimmed, or None for an empty, too short or button-payload answer."""
    if not isinstance(text, str):
        return None
    cleaned = " ".join(text.split())
    if cleaned.startswith("/") or len(cleaned) < MIN_ANSWER_CHARS:
        return None
    return cleaned[:MAX_ANSWER_CHARS]


def parse_help(text: str) -> list[str]:
    """The kinds of help named in an answer, as keys of HELP_KINDS, in that order; [] when none is clear."""
    lowered = f" {' '.join(words(text))} "
    if text.strip().lower() in HELP_KINDS:
        return [text.strip().lower()]
    found = [kind for kind, hints in _HELP_WORDS.items() if kind != "none" and any(f" {h}" in lowered for h in hints)]
    if not found and any(f" {h} " in lowered for h in _HELP_WORDS["none"]):
        return ["none"]
    return found


def describe_help(kinds: list[str]) -> str:
    """ "geld, materiaal" for the summary and the staff notification."""
    return ", ".join(HELP_KINDS[k] for k in kinds if k in HELP_KINDS)


def parse_yes_no(text: str) -> bool | None:
    """True for ja/yes, False for nee/no, None when the answer is neither."""
    found = words(text)
    if not found:
        return None
    first_yes = next((i for i, w in enumerate(found) if w in _YES), None)
    first_no = next((i for i, w in enumerate(found) if w in _NO), None)
    if first_yes is None and first_no is None:
        return None
    if first_no is None:
        return True
    if first_yes is None:
        return False
    return first_yes < first_no


def mentions_neighbours(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _NEIGHBOUR_WORDS)


def next_criterion(municipality: Municipality, answers: Mapping[str, bool]) -> Criterion | None:
    """The first initiative criterion not answered yet, or None when all are (or there are none)."""
    return next((c for c in municipality.initiative_criteria if c.key not in answers), None)


def missing_criteria(municipality: Municipality, answers: Mapping[str, bool]) -> list[Criterion]:
    """Criteria the resident answered "no" to, in the municipality's order."""
    return [c for c in municipality.initiative_criteria if answers.get(c.key) is False]
