"""The training data and the held-out split stay apart.

The held-out figure (bench/understanding.py) means something only while none of its sentences is trained on.
The same text under two intents teaches DIET nothing but noise, and the same text twice weighs it double.
Texts are compared as a resident would see them: annotations stripped, case and end punctuation ignored.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HOLDOUT = ROOT / "tests" / "nlu" / "holdout.yml"
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\([^)]+\)|\{[^}]*\})")


def normalised(example: str) -> str:
    plain = _ANNOTATION.sub(lambda match: match["text"], example)
    return " ".join(plain.lower().split()).strip(" .!?,")


def examples(path: Path) -> list[tuple[str, str]]:
    """(intent, normalised text) for every example of every intent in one Rasa NLU file."""
    found = []
    for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                found.append((block["intent"], normalised(line[2:])))
    return found


def training_examples() -> list[tuple[str, str]]:
    return [pair for path in sorted((ROOT / "nlu").glob("*.yml")) for pair in examples(path)]


def test_normalising_strips_annotations_case_and_end_punctuation() -> None:
    assert normalised('Bankje bij [Dorst]{"entity": "place"}!') == "bankje bij dorst"
    assert normalised("mijn postcode is [4911 AB](postcode).") == "mijn postcode is 4911 ab"


def test_no_held_out_sentence_is_trained_on() -> None:
    trained = {text for _, text in training_examples()}
    held_out = {text for _, text in examples(HOLDOUT)}
    assert len(held_out) > 300
    assert sorted(held_out & trained) == []


def test_no_training_sentence_is_written_twice() -> None:
    seen = Counter(training_examples())
    assert sorted(pair for pair, count in seen.items() if count > 1) == []


def test_no_training_sentence_is_taught_under_two_intents() -> None:
    intents: dict[str, set[str]] = defaultdict(set)
    for intent, text in training_examples():
        intents[text].add(intent)
    assert {text: sorted(names) for text, names in intents.items() if len(names) > 1} == {}
