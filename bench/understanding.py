"""Part 4, understanding: intents and postcodes on the held-out split, training time, Rasa's memory.

The held-out split (tests/nlu/holdout.yml) is never trained on. Every example goes through Rasa's own
/model/parse on a running server. Two intent figures:
- `accuracy` / `macro_f1`: the likeliest intent, with the FallbackClassifier's `nlu_fallback` undone (the
  way `rasa test nlu` scores: a fallback does not hide the intent it shadowed);
- `served_accuracy`: what the resident gets, where `nlu_fallback` (a clarifying question) counts as wrong;
  `fallback_share` says how often that happened.
Macro-F1 is the unweighted mean of the per-intent F1 over all intents that occur as truth or prediction.
Postcodes: every annotated postcode in the split must come out (normalised to 1234AB), and no postcode may
be found where none is annotated; the same postcodes are also tried in other spellings (space, case).
Outside texts (`--outside PATH`, e.g. ../shared/data/outside/dev.yaml: a YAML list of `{text, label}` written by
nobody on the project): per-label recall as served (a `nlu_fallback` counts as not right), the fallback rate and
the confidently-wrong rate (a wrong intent above the FallbackClassifier's threshold, i.e. served and not
`nlu_fallback`). The file is only read, never copied into the project.
Training time is a cold `rasa train nlu` (or, with `--train full`, the whole `rasa train`; own cache directory)
into a temporary directory, before any server runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.common import ROOT

HOLDOUT = ROOT / "tests" / "nlu" / "holdout.yml"
FALLBACK = "nlu_fallback"
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<entity>[^)]+)\)|(?P<json>\{[^}]*\}))")


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: tuple[tuple[str, str], ...]  # (entity, text as written)


def parse_example(line: str, intent: str) -> Example:
    """Strip Rasa's inline annotations ([4911 AB](postcode), [Dorst]{"entity": "place"}) from one example."""
    entities: list[tuple[str, str]] = []
    plain, position = [], 0
    for match in _ANNOTATION.finditer(line):
        plain.append(line[position : match.start()])
        plain.append(match["text"])
        position = match.end()
        if match["entity"]:
            entities.append((match["entity"].split(":", 1)[0].strip(), match["text"]))
        else:
            with contextlib.suppress(ValueError):
                entities.append((str(json.loads(match["json"]).get("entity")), match["text"]))
    plain.append(line[position:])
    return Example("".join(plain).strip(), intent, tuple(entities))


def load_holdout(path: Path = HOLDOUT) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples: list[Example] = []
    for block in data.get("nlu") or []:
        intent = block.get("intent")
        if not intent:
            continue
        for raw in str(block.get("examples") or "").splitlines():
            line = raw.strip()
            if line.startswith("- "):
                examples.append(parse_example(line[2:].strip(), str(intent)))
    return examples


def normalise_postcode(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


def top_intent(result: dict[str, Any]) -> tuple[str, str]:
    """(intent as served, intent with the fallback undone)."""
    served = str((result.get("intent") or {}).get("name") or "")
    if served != FALLBACK:
        return served, served
    for entry in result.get("intent_ranking") or []:
        name = str(entry.get("name") or "")
        if name and name != FALLBACK:
            return served, name
    return served, served


def found_entities(result: dict[str, Any], entity: str) -> list[str]:
    text = str(result.get("text") or "")
    values = []
    for found in result.get("entities") or []:
        if found.get("entity") != entity:
            continue
        start, end = found.get("start"), found.get("end")
        span = text[start:end] if isinstance(start, int) and isinstance(end, int) else str(found.get("value") or "")
        values.append(span)
    return values


def macro_scores(truth: list[str], predicted: list[str]) -> tuple[float, dict[str, dict[str, float]]]:
    labels = sorted(set(truth) | set(predicted))
    per: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[label] = {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3), "n": tp + fn}
    macro = sum(v["f1"] for v in per.values()) / len(per) if per else 0.0
    return macro, per


def postcode_variants(postcodes: list[str]) -> list[tuple[str, str]]:
    """(sentence, expected 1234AB) in other spellings: with and without space, upper and lower case."""
    cases: list[tuple[str, str]] = []
    for code in sorted(set(postcodes)):
        digits, letters = code[:4], code[4:]
        for spelled in (
            f"{digits}{letters}",
            f"{digits} {letters}",
            f"{digits}{letters.lower()}",
            f"{digits} {letters.lower()}",
        ):
            for template in ("{pc}", "mijn postcode is {pc}", "ik woon op {pc}"):
                cases.append((template.format(pc=spelled), code))
    return cases


async def evaluate(parse: Any, examples: list[Example] | None = None) -> dict[str, Any]:
    """Score the held-out split with `parse(text) -> /model/parse result` (an async callable)."""
    examples = examples if examples is not None else load_holdout()
    truth, served, undone = [], [], []
    postcode_expected = postcode_found = postcode_false = 0
    place_expected = place_found = 0
    misses: Counter[str] = Counter()
    holdout_postcodes: list[str] = []
    started = time.perf_counter()
    for example in examples:
        result = await parse(example.text)
        as_served, without_fallback = top_intent(result)
        truth.append(example.intent)
        served.append(as_served)
        undone.append(without_fallback)
        if without_fallback != example.intent:
            misses[f"{example.intent} -> {without_fallback}"] += 1
        wanted = [normalise_postcode(text) for entity, text in example.entities if entity == "postcode"]
        got = [normalise_postcode(text) for text in found_entities(result, "postcode")]
        holdout_postcodes.extend(wanted)
        postcode_expected += len(wanted)
        postcode_found += sum(1 for value in wanted if value in got)
        postcode_false += len([value for value in got if value not in wanted])
        places = [text.casefold() for entity, text in example.entities if entity == "place"]
        got_places = [text.casefold() for text in found_entities(result, "place")]
        place_expected += len(places)
        place_found += sum(1 for value in places if value in got_places)
    parse_seconds = time.perf_counter() - started
    variants = postcode_variants(holdout_postcodes)
    variants_right = 0
    for sentence, code in variants:
        got = [normalise_postcode(text) for text in found_entities(await parse(sentence), "postcode")]
        variants_right += got == [code]
    total = len(examples)
    macro, per_intent = macro_scores(truth, undone)
    served_macro, _ = macro_scores(truth, served)
    accuracy = sum(t == p for t, p in zip(truth, undone, strict=True)) / total if total else 0.0
    served_accuracy = sum(t == p for t, p in zip(truth, served, strict=True)) / total if total else 0.0
    return {
        "examples": total,
        "intents": len(set(truth)),
        "accuracy": round(accuracy, 3),
        "macro_f1": round(macro, 3),
        "served_accuracy": round(served_accuracy, 3),
        "served_macro_f1": round(served_macro, 3),
        "fallback_share": round(served.count(FALLBACK) / total, 3) if total else 0.0,
        "postcodes": {
            "annotated": postcode_expected,
            "extracted": postcode_found,
            "false_positives": postcode_false,
            "spelling_variants": len(variants),
            "spelling_variants_right": variants_right,
        },
        "places": {"annotated": place_expected, "extracted": place_found},
        "parse_ms_mean": round(parse_seconds / total * 1000, 1) if total else None,
        "per_intent": per_intent,
        "most_common_confusions": dict(misses.most_common(10)),
    }


def load_outside(path: Path) -> list[Example]:
    """A list of `{text: ..., label: ...}` entries (other keys ignored)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    if isinstance(data, dict):
        data = data.get("examples") or data.get("texts") or []
    return [
        Example(str(entry["text"]).strip(), str(entry["label"]), ())
        for entry in data
        if isinstance(entry, dict) and entry.get("text") and entry.get("label")
    ]


async def evaluate_outside(parse: Any, path: Path) -> dict[str, Any]:
    """Score texts nobody on the project wrote, as served: recall per label, fallback and confidently-wrong rates."""
    examples = load_outside(path)
    per_label: dict[str, Counter[str]] = {}
    confusions: Counter[str] = Counter()
    for example in examples:
        result = await parse(example.text)
        served, _ = top_intent(result)
        counts = per_label.setdefault(example.intent, Counter())
        counts["n"] += 1
        if served == example.intent:
            counts["right"] += 1
        elif served == FALLBACK:
            counts["fallback"] += 1
        else:
            counts["wrong"] += 1
            confusions[f"{example.intent} -> {served}"] += 1
    total = len(examples)

    def share(count: int, n: int) -> float:
        return round(count / n, 3) if n else 0.0

    right = sum(c["right"] for c in per_label.values())
    fallback = sum(c["fallback"] for c in per_label.values())
    wrong = sum(c["wrong"] for c in per_label.values())
    return {
        "path": str(path),
        "examples": total,
        "served_accuracy": share(right, total),
        "fallback_rate": share(fallback, total),
        "confidently_wrong_rate": share(wrong, total),
        "per_label": {
            label: {
                "n": c["n"],
                "recall": share(c["right"], c["n"]),
                "fallback": share(c["fallback"], c["n"]),
                "wrong": share(c["wrong"], c["n"]),
            }
            for label, c in sorted(per_label.items())
        },
        "most_common_confusions": dict(confusions.most_common(10)),
    }


def training_time(workdir: Path, *, full: bool = False) -> dict[str, Any]:
    """A cold training run into `workdir` (an empty cache: nothing reused from earlier runs); wall-clock seconds.

    By default the NLU model only (`rasa train nlu`: what the understanding figures depend on); `full` runs
    the Makefile's whole `rasa train` (NLU and dialogue policies), which takes much longer.
    """
    out = workdir / ("models-full" if full else "models-nlu")
    env = dict(os.environ)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env["RASA_CACHE_DIRECTORY"] = str(workdir / "rasa-cache")
    env["TF_DETERMINISTIC_OPS"] = "1"  # as `make train` trains
    rasa = str(ROOT / ".venv-rasa" / "bin" / "rasa")
    if full:
        args = [rasa, "train", "--config", "config.yml", "--domain", "domain", "--data", "nlu", "dialogue"]
    else:
        args = [rasa, "train", "nlu", "--config", "config.yml", "--nlu", "nlu"]
    args += ["--out", str(out), "--fixed-model-name", "bench"]
    log = workdir / "train.log"
    started = time.monotonic()
    with log.open("wb") as handle:
        completed = subprocess.run(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError("rasa train failed:\n" + "\n".join(tail))
    model = out / "bench.tar.gz"
    return {
        "what": "rasa train (NLU and dialogue)" if full else "rasa train nlu",
        "seconds": round(seconds, 1),
        "model_mb": round(model.stat().st_size / 1e6, 1) if model.exists() else None,
        "how": "cold: own RASA_CACHE_DIRECTORY, nothing reused from earlier training",
    }
