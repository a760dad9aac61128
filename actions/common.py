"""Shared by all actions: the process-wide services, the resident behind a conversation, buttons and slots.

Identity comes from the conversation's sender id (the REST channel's `sender`: the Telegram user id),
never from a slot. Services are opened on first use, not at import, so the action server starts fast and
tests can put their own in place with `use_services`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from sqlalchemy.orm import Session

from db import models
from db.session import transaction
from wijkbot.effects import Result, TurnKey, run_once, update_id_from_metadata
from wijkbot.municipalities import Area
from wijkbot.residents import find_resident, get_or_create_resident, telegram_id_from_sender
from wijkbot.services import Services, open_services
from wijkbot.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

_services: Services | None = None
_lock = threading.Lock()


def get_services() -> Services:
    """The process-wide services, opened (database migrated, municipality data loaded) on first use."""
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = open_services(get_settings())
    return _services


def use_services(services: Services | None) -> None:
    """Make the actions use these services (tests: the `services` fixture); None opens them anew on next use."""
    global _services
    with _lock:
        _services = services


async def in_transaction(work: Callable[[Session], T]) -> T:
    """Run `work` in one database transaction, off the event loop (other conversations go on meanwhile)."""
    services = get_services()

    def run() -> T:
        with transaction(services.sessions) as session:
            return work(session)

    return await asyncio.to_thread(run)


async def once(tracker: Tracker, action: str, work: Callable[[Session], Result]) -> Result:
    """Run `work` in one transaction, once per resident turn: when Rasa runs this turn again (the bot gave up
    waiting and resent it), the first run's result comes back and nothing is done twice (wijkbot.effects)."""
    services = get_services()
    key = turn_key(tracker, action)
    return await asyncio.to_thread(run_once, services.sessions, key, work)


def turn_key(tracker: Tracker, action: str) -> TurnKey | None:
    """The turn's key: the sender's Telegram id and the update id the bot sent along; None without either."""
    telegram_id = telegram_id_from_sender(tracker.sender_id)
    update_id = update_id_from_metadata((tracker.latest_message or {}).get("metadata"))
    if telegram_id is None or update_id is None:
        return None
    return TurnKey(telegram_id=telegram_id, update_id=update_id, action=action)


# --- who is talking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    """The Telegram account behind a conversation; the name and language are for display only."""

    telegram_id: int | None
    first_name: str | None
    language: str | None


def sender_of(tracker: Tracker) -> Sender:
    telegram = {}
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    if isinstance(metadata, dict) and isinstance(metadata.get("telegram"), dict):
        telegram = metadata["telegram"]
    first_name = telegram.get("first_name")
    language = telegram.get("language_code")
    return Sender(
        telegram_id=telegram_id_from_sender(tracker.sender_id),
        first_name=str(first_name)[:120] if first_name else None,
        language=str(language)[:10] if language else None,
    )


def resident_for(session: Session, sender: Sender, *, create: bool) -> models.Resident | None:
    """The resident behind this conversation, looked up (or created) by Telegram id only."""
    if sender.telegram_id is None:
        return None
    if create:
        return get_or_create_resident(
            session, telegram_id=sender.telegram_id, first_name=sender.first_name, language=sender.language
        )
    return find_resident(session, telegram_id=sender.telegram_id)


async def home_area_code(tracker: Tracker) -> str | None:
    """The area the resident chose as home (database), else the last area named in this conversation."""
    sender = sender_of(tracker)

    def lookup(session: Session) -> str | None:
        resident = resident_for(session, sender, create=False)
        return resident.area_code if resident is not None else None

    code = await in_transaction(lookup) if sender.telegram_id is not None else None
    if code is None:
        code = slot_text(tracker, "last_area")
    return code if code and get_services().registry.find_area(code) is not None else None


# --- slots and buttons ----------------------------------------------------------------------------


def slot_text(tracker: Tracker, name: str) -> str | None:
    value = tracker.get_slot(name)
    return value if isinstance(value, str) and value.strip() else None


def slot_area(tracker: Tracker) -> Area | None:
    code = slot_text(tracker, "area_code")
    return get_services().registry.find_area(code) if code else None


def cleared(names: Iterable[str]) -> list[EventType]:
    return [SlotSet(name, None) for name in names]


def latest_entity(tracker: Tracker, entity: str) -> str | None:
    value = next(tracker.get_latest_entity_values(entity), None)
    return str(value) if value not in (None, "") else None


def button(title: str, payload: str) -> dict[str, Any]:
    return {"title": title, "payload": payload}


def intent_payload(intent: str) -> str:
    return f"/{intent}"


def inform_payload(entity: str, value: str) -> str:
    """A button payload that sets an entity: /inform{"area_code":"WK082601"}."""
    return "/inform" + json.dumps({entity: value}, separators=(",", ":"))


def active_form(tracker: Tracker) -> str | None:
    loop = tracker.active_loop or {}
    name = loop.get("name") if isinstance(loop, dict) else None
    return str(name) if name else None
