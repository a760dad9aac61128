"""Real rasa_sdk trackers and dispatchers for action tests, and the assistant's domain as Rasa sends it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.texts import say

ROOT = Path(__file__).resolve().parents[2]
SENDER = "555000111"


@lru_cache(maxsize=1)
def domain() -> DomainDict:
    """domain/*.yml merged the way Rasa merges a domain directory (enough for the SDK's form helpers)."""
    merged: dict[str, Any] = {"intents": [], "entities": [], "slots": {}, "forms": {}, "responses": {}, "actions": []}
    for path in sorted((ROOT / "domain").glob("*.yml")):
        part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key in ("intents", "entities", "actions"):
            merged[key] += part.get(key, [])
        for key in ("slots", "forms", "responses"):
            merged[key].update(part.get(key, {}))
        if "session_config" in part:
            merged["session_config"] = part["session_config"]
    return merged


def user_event(
    text: str, intent: str = "inform", entities: Sequence[dict[str, Any]] = (), **metadata: Any
) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": list(entities), "text": text},
        "metadata": metadata,
    }


def latest(
    text: str,
    intent: str = "inform",
    entities: Sequence[dict[str, Any]] = (),
    ranking: Sequence[tuple[str, float]] = (),
    first_name: str = "Anna",
    update_id: int | None = None,
) -> dict[str, Any]:
    """The latest user message as Rasa sends it; `update_id` is the Telegram update the bot sends along."""
    metadata: dict[str, Any] = {
        "telegram": {"user_id": 0, "chat_id": 0, "first_name": first_name, "language_code": "nl"}
    }
    if update_id is not None:
        metadata["update_id"] = update_id
    return {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": list(entities),
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
        "metadata": metadata,
    }


def tracker(
    *,
    sender: str = SENDER,
    slots: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    events: Sequence[dict[str, Any]] = (),
    form: str | None = None,
) -> Tracker:
    all_slots = {name: None for name in domain()["slots"]}
    all_slots["requested_slot"] = None
    all_slots.update(slots or {})
    return Tracker(
        sender_id=sender,
        slots=all_slots,
        latest_message=message or latest(""),
        events=list(events),
        paused=False,
        followup_action=None,
        active_loop={"name": form} if form else {},
        latest_action_name="action_listen",
    )


def form_turn(
    form: str,
    requested: str | None,
    candidates: dict[str, Any],
    *,
    slots: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    sender: str = SENDER,
) -> Tracker:
    """The temporary tracker Rasa's FormAction sends to validate_<form>: the extracted slot candidates last."""
    current = dict(slots or {})
    current.update(candidates)
    current["requested_slot"] = requested
    events: list[dict[str, Any]] = [
        user_event((message or {}).get("text", "")),
        {"event": "slot", "name": "requested_slot", "value": requested},
        {"event": "action", "name": form},
        *({"event": "slot", "name": k, "value": v} for k, v in candidates.items()),
    ]
    return tracker(sender=sender, slots=current, message=message, events=events, form=form)


async def run(action: Action, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run an action like the action server does: (returned events, messages sent)."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, domain())
    return list(events), dispatcher.messages


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("text") or "" for m in messages]


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


__all__ = ["SENDER", "domain", "form_turn", "latest", "run", "say", "slot_events", "texts", "tracker", "user_event"]
