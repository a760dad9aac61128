"""The pure-Python word analysis behind the NLU's DutchTokenizer (nlu_components.dutch), on a small word list."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from nlu_components.dutch import Analyser, domain_classes, split_compound, strip_diminutive
from nlu_components.vocabulary import DOMAIN_CLASSES

ROOT = Path(__file__).resolve().parents[2]

WORDS = set(
    "lantaarn paal stoep tegel speel tuin honden hond poep bak ontmoeting plek buurt moestuin kook les lessen "
    "oud eren kin deren park fiets pad bank boom feest activiteiten activiteit dag zit".split()
)
LEMMAS = {"lessen": "les", "activiteiten": "activiteit", "honden": "hond", "bomen": "boom", "speeltuintje": "speeltuin"}


def known(word: str) -> bool:
    return word in WORDS


def lemma(word: str) -> str:
    return LEMMAS.get(word, word)


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("lantaarnpaal", ["lantaarn", "paal"]),
        ("stoeptegel", ["stoep", "tegel"]),
        ("speeltuin", ["speel", "tuin"]),
        ("hondenpoepbak", ["honden", "poep", "bak"]),  # a compound modifier, split again
        ("ontmoetingsplek", ["ontmoeting", "plek"]),  # the linking s
        ("kooklessen", ["kook", "lessen"]),
        ("Fietspad", ["fiets", "pad"]),  # a short head that is a real head
    ],
)
def test_split_compound(word: str, parts: list[str]) -> None:
    assert split_compound(word, known) == parts


@pytest.mark.parametrize("word", ["ouderen", "kinderen", "parkeren", "tuin", "bank", "straat123", "xyzxyzxyz"])
def test_no_false_split(word: str) -> None:
    assert split_compound(word, known) == []


def test_diminutive() -> None:
    assert strip_diminutive("bankje", known) == "bank"
    assert strip_diminutive("boompjes", known) == "boom"
    assert strip_diminutive("tuintje", known) == "tuin"
    assert strip_diminutive("meisje", known) is None


def test_domain_classes() -> None:
    assert domain_classes(["lantaarnpaal"]) == ["openbare_ruimte"]
    assert domain_classes(["kapot", "tegel"]) == ["openbare_ruimte", "gebrek"]
    assert domain_classes(["moestuin"]) == ["activiteit"]
    assert domain_classes(["idee"]) == []
    assert all(word == word.lower() for words in DOMAIN_CLASSES.values() for word in words)


def test_analyser_adds_parts_and_classes() -> None:
    analyser = Analyser(known, lemma)
    assert analyser.analyse("speeltuintje") == ("speeltuin", ("speel", "tuin", "__openbare_ruimte", "__activiteit"))
    assert analyser.analyse("kooklessen") == ("kooklessen", ("kook", "les", "__activiteit"))
    assert analyser.analyse("stoeptegel") == ("stoeptegel", ("stoep", "tegel", "__openbare_ruimte"))
    assert analyser.analyse("idee") == ("idee", ())


RASA_CHECK = """
from rasa.shared.nlu.training_data.message import Message
from nlu_components.tokenizer import DutchTokenizer
tokenizer = DutchTokenizer(DutchTokenizer.get_default_config())
tokens = tokenizer.tokenize(Message({"text": "lantaarnpaal kapot"}), "text")
print(json.dumps([[t.text, t.start, t.end] for t in tokens]))
"""


def test_the_rasa_tokenizer_adds_parts_and_classes_within_the_span_of_their_word() -> None:
    """The Rasa component, run by the Rasa environment's Python with simplemma's real Dutch dictionary."""
    python = ROOT / ".venv-rasa" / "bin" / "python"
    assert python.exists(), "the Rasa environment is missing: run `make setup`"
    done = subprocess.run(
        [str(python), "-c", "import json\n" + RASA_CHECK], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    tokens = json.loads(done.stdout.strip().splitlines()[-1])
    texts = [text for text, _, _ in tokens]
    assert texts[0] == "lantaarnpaal" and "paal" in texts and "__gebrek" in texts
    assert all(0 <= start < end <= len("lantaarnpaal kapot") for _, start, end in tokens)
