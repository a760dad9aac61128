"""Outside texts as the first message of a new chat, through Rasa and the action server: which path does the
resident end up on?

Each text is sent, as a resident would type it, to Rasa's REST webhook from a sender that has never chatted.
After the turn the tracker says where the conversation is:
- `right`: the form of the text's kind runs (idea_form for `share_idea`, report_form for `report_issue`);
- `clarified`: the assistant asked (the three-button "idea, report or question?", or "Bedoel je ...?");
- `wrong`: anything else: another form, an answer to something the resident did not ask, a place taken as
  the whole message.
And `filed`: how many items reached the database from these first messages (nothing may be filed that the
resident has not confirmed). A sample of each label (every n-th text, the same on every run) keeps the part
a few minutes long.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.stack import Stack
from bench.understanding import Example, load_outside
from db import models
from db.session import transaction

FORM_OF_LABEL = {"share_idea": "idea_form", "report_issue": "report_form", "ask_question": "question_form"}
ASKING_ACTIONS = frozenset({"action_fallback", "action_offer_human"})
FIRST_SENDER = 7_000_000


def sample(examples: list[Example], per_label: int) -> list[Example]:
    """At most `per_label` texts of each label, spread evenly over the file (deterministic)."""
    by_label: dict[str, list[Example]] = {}
    for example in examples:
        by_label.setdefault(example.intent, []).append(example)
    chosen: list[Example] = []
    for texts in by_label.values():
        step = max(1, len(texts) // per_label) if per_label else 1
        chosen.extend(texts[::step][:per_label])
    return chosen


def turn_actions(tracker: dict[str, Any]) -> list[str]:
    """The actions Rasa ran after the resident's last message."""
    events = tracker.get("events") or []
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    return [str(e.get("name")) for e in events[last_user + 1 :] if e.get("event") == "action" and e.get("name")]


def path_taken(tracker: dict[str, Any], label: str) -> str:
    """`right`, `clarified` or `wrong` (see the module docstring)."""
    loop = (tracker.get("active_loop") or {}).get("name")
    slots = tracker.get("slots") or {}
    if loop and loop == FORM_OF_LABEL.get(label):
        return "right"
    if slots.get("kind") == "unsure" or ASKING_ACTIONS & set(turn_actions(tracker)):
        return "clarified"
    return "wrong"


def count_items(stack: Stack) -> int:
    assert stack.services is not None
    with transaction(stack.services.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(models.Item)) or 0)


async def measure(stack: Stack, path: Path, *, per_label: int = 150) -> dict[str, Any]:
    examples = sample(load_outside(path), per_label)
    items_before = count_items(stack)
    paths: dict[str, Counter[str]] = {}
    wrong_where: Counter[str] = Counter()
    for number, example in enumerate(examples):
        sender = FIRST_SENDER + number
        _, replies = await stack.rasa.turn(sender, example.text)
        taken = "no answer" if replies is None else path_taken(await stack.rasa.tracker(sender), example.intent)
        paths.setdefault(example.intent, Counter())[taken] += 1
        if taken == "wrong":
            tracker = await stack.rasa.tracker(sender)
            loop = (tracker.get("active_loop") or {}).get("name")
            wrong_where[f"{example.intent} -> {loop or ','.join(turn_actions(tracker)[-2:])}"] += 1
    total = len(examples)
    all_paths: Counter[str] = sum(paths.values(), Counter())
    return {
        "path": str(path),
        "examples": total,
        "right": round(all_paths["right"] / total, 3) if total else 0.0,
        "clarified": round(all_paths["clarified"] / total, 3) if total else 0.0,
        "wrong": round((all_paths["wrong"] + all_paths["no answer"]) / total, 3) if total else 0.0,
        "per_label": {
            label: {
                "n": sum(c.values()),
                **{k: round(c[k] / sum(c.values()), 3) for k in ("right", "clarified", "wrong")},
            }
            for label, c in sorted(paths.items())
        },
        "filed_without_confirmation": count_items(stack) - items_before,
        "most_common_wrong_paths": dict(wrong_where.most_common(8)),
    }
