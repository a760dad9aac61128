"""A report names a problem; a headline that names none is an idea (pure Python; no Rasa).

`report_issue` is what is wrong at a spot now: "lamp kapot Kerkstraat", "er ligt al weken grofvuil", "de
put is verstopt", "de verlichting doet het nie". A headline that only names a thing, a place or an activity
("Bankje bij de vijver", "Karate in het buurthuis", "Drijvende tuinen op de singel") is a proposal, though
the classifier, which has seen many street and object words in reports, is often sure it is a report.

A message names a problem when one of its words is in the `gebrek` class (nlu_components.vocabulary, found by
the DutchTokenizer as a `__gebrek` token, also inside compounds: `hondenpoep`, `fietswrak`) or when it has one
of the phrases below: something not working, a duration or recurrence ("al weken", "sinds", "elke nacht"),
something lying or standing where it should not ("er ligt", "staat vol"), damage done ("omver gereden", "in
brand gestoken"). When the classifier's top intent is `report_issue` and the message names no problem, most
of the report's confidence goes to `share_idea`: the idea form starts, and inside it a resident who then
describes a defect is offered the switch (actions.kinds).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

REPORT = "report_issue"
IDEA = "share_idea"
DEFECT_MARKER = "__gebrek"
# The share of its confidence a report without a problem keeps. The rest goes to share_idea, so a guarded
# first message is not a close call (actions.kinds.CLOSE_MARGIN) and, typed as the "what" of a report form,
# is not offered the idea form (actions.kinds.SWITCH_MARGIN): tests/actions/test_kinds.py checks both.
KEEP = 0.32

_PROBLEM = re.compile(
    r"""\b(?:
        (?:doet|doen|werkt|werken|brandt|branden|sluit|gaat|kan|kunnen)\s+(?:het\s+)?(?:nie|niet|nooit)\b
      | niet\s+meer | nie\s+meer | geen\s+(?:licht|stroom|water) | staat\s+uit | is\s+uit | zijn\s+uit | blijft\s+aan
      | al\s+(?:een\s+|de\s+)?(?:paar\s+|half\s+|hele\s+)?(?:dag|dagen|week|weken|maand|maanden|jaar|jaren|tijd|tijden|
            eeuwen|sinds|lang|een\s+tijdje)
      | sinds | nog\s+steeds | steeds\s+weer | telkens | elke\s+(?:dag|nacht|avond|ochtend|week)
      | iedere\s+(?:dag|nacht|avond|ochtend|week) | weer\s+eens
      | er\s+(?:ligt|liggen|staat|staan|hangt|hangen|zit|zitten|loopt|lopen|rijdt|rijden)
      | (?:ligt|liggen|staat|staan|hangt|hangen|zit|zitten)\s+er\b
      | (?:ligt|liggen|staat|staan|hangt|zit|zitten)\s+(?:er\s+)?(?:vol|open|scheef|los|omhoog|schuin)
      | ligt\s+in | liggen\s+in | vol\s+met | omver | om\s*(?:ver)?gereden | aangereden | in\s+brand
      | gestoken | gegooid | gesloopt | gestolen | gekalkt | gespoten | beschadigd | vernield | kapotgemaakt
      | weggehaald | verdwenen | ontbreekt | mist | afgebroken | omgewaaid | omgevallen | verzakt\w* | ingezakt
      | steekt\s+(?:uit|omhoog) | hoog\s+op | stinkt | stank | lekt | lekkage | overstroomt | verstopt
      | gevaarlijk\w* | onveilig\w* | bijna\s+(?:een\s+)?(?:ongeluk|aangereden|gevallen)
      | niet | nie | geen | nooit | eruit | is\s+weg | zijn\s+weg | overal | vol | onder\s+water | loopt\s+onder
      | zo\s+(?:hoog|laag|kort|ver|hard|snel|vol|glad|donker) | te\s+(?:hard|snel|hoog|laag|vol|donker)
      | keihard | hard\s+gereden | \w*overlast | meld\w* | brand\s+nie
      | er\s+(?:wordt|worden|komt|komen|drijft|drijven|zwerft|zwerven|slaapt|slapen|blijft|blijven|groeit|groeien)
      | \w*(?:verlichting|lamp|lampen|licht|lantaarn\w*)\s+(?:is\s+|zijn\s+)?uit
      | omhoog | steeds | op\s+de\s+grond | elke\s+\w+ | iedere\s+\w+
      | (?:hangt|hangen|steekt|steken)\s+(?:half\s+|ver\s+)?(?:over|laag|uit)
      | (?:maken|repareren|snoeien|weghalen|ophalen|legen|maaien|vegen|strooien|vervangen|rechtzetten)\b
      | for\s+weeks | too\s+fast | way\s+too | everywhere
      | broken | damaged | not\s+working | doesn'?t\s+work | dirty | dangerous | overflowing | blocked | stolen
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def names_a_problem(text: str, tokens: Iterable[str] = ()) -> bool:
    """Whether the message names something wrong: a `__gebrek` token among `tokens`, or a problem phrase."""
    return DEFECT_MARKER in set(tokens) or bool(_PROBLEM.search(text))


def as_idea(ranking: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ranking with all but KEEP of report_issue's confidence moved to share_idea, likeliest first."""
    entries = [dict(entry) for entry in ranking]
    report = next((entry for entry in entries if entry.get("name") == REPORT), None)
    if report is None:
        return entries
    moved = float(report.get("confidence") or 0.0) * (1 - KEEP)
    report["confidence"] = float(report.get("confidence") or 0.0) - moved
    idea = next((entry for entry in entries if entry.get("name") == IDEA), None)
    if idea is None:
        idea = {"name": IDEA, "confidence": 0.0}
        entries.append(idea)
    idea["confidence"] = float(idea.get("confidence") or 0.0) + moved
    return sorted(entries, key=lambda entry: -float(entry["confidence"]))
