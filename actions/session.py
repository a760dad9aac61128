"""A new Rasa session that carries each slot's last value only (issue 17).

A Telegram chat never ends, so Rasa ends a session after `session_expiration_time` (domain/core.yml) and
runs `action_session_start` on the next message. Rasa 3.6's own `ActionSessionStart` (with
`carry_over_slots_to_new_session: true`) copies *every* `SlotSet` of the previous session into the new one,
the copies it made at the previous start included, so each session starts with all earlier sessions' slot
events and a resident who keeps coming back gets slower with every visit (docs/bench.md: 28,767 events after
304 turns). This replaces it the way Rasa documents ("Customizing action_session_start"): `SessionStarted`,
one `SlotSet` per carried slot whose value differs from its initial value, then `action_listen`, so a
session starts with the same few events however long the chat is.

Carried are only the slots meant to outlive a conversation: `last_area` (offered again next time; the
home area in the database comes first) and `session_started_metadata`, which Rasa sets to the metadata of
the message that starts the session just before this action runs and which its own session start carries
into the new session. Everything else belongs to one form or one exchange and is cleared when a form starts
(StartForm, action_prefill_area); carrying it would only bring a stale `kind` (which influences the
dialogue) into a conversation whose form is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

# Rasa's slot with the metadata of the message that started the session (rasa.shared.core.constants).
SESSION_METADATA = "session_started_metadata"
CARRIED_SLOTS = ("last_area", SESSION_METADATA)


def carries_over(domain: Mapping[str, Any]) -> bool:
    """The domain's `carry_over_slots_to_new_session` (Rasa's default: true)."""
    config = domain.get("session_config") or {}
    return bool(config.get("carry_over_slots_to_new_session", True))


def initial_value(domain: Mapping[str, Any], slot: str) -> Any:
    spec = (domain.get("slots") or {}).get(slot) or {}
    return spec.get("initial_value") if isinstance(spec, Mapping) else None


def carried_slot_events(
    slots: Mapping[str, Any], domain: Mapping[str, Any], carried: Iterable[str] = CARRIED_SLOTS
) -> list[EventType]:
    """One SlotSet per carried slot whose current value differs from its initial value, in `carried` order."""
    if not carries_over(domain):
        return []
    return [
        SlotSet(name, slots[name]) for name in carried if name in slots and slots[name] != initial_value(domain, name)
    ]


def session_start_events(slots: Mapping[str, Any], domain: Mapping[str, Any]) -> list[EventType]:
    """What a new session starts with: SessionStarted, the carried slots, then listening for the message."""
    return [SessionStarted(), *carried_slot_events(slots, domain), ActionExecuted("action_listen")]


class ActionSessionStart(Action):
    """Replaces Rasa's `action_session_start` (listed in domain/core.yml so Rasa calls this one)."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return session_start_events(tracker.slots, domain)
