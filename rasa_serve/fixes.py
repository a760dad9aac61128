"""Fixes to Rasa 3.6 that cost nothing in behaviour and a lot in time, applied before Rasa runs.

1. Rasa checks every answer of the action server against its response schema with
   `jsonschema.validate(result, schema)`. That call first checks the *schema itself* against the JSON Schema
   meta-schema and builds a new validator, every time: about 23 ms of a form turn's 2-3 action calls, where
   checking the answer alone takes under 1 ms (profiled, docs/bench.md). Here the schema is checked once and
   one validator is kept; an answer is checked exactly as before and a wrong one raises the same
   ValidationError with the same message, so Rasa handles it as before (it logs the error and the action fails).
2. The SQL tracker store finds a conversation's current session with `timestamp >= (latest session start) OR
   (latest session start) IS NULL`, on every turn twice (to load the tracker, and to count what is stored when
   saving it). With only an index on `sender_id`, both read every event the resident ever caused: a resident
   with 300 earlier turns (~29,000 events) pays ~10 ms a turn for nothing. Here the latest session start is
   asked first (an index on sender, type and time answers it), then the session's events by sender and time
   (a second index): the same rows, in the same order. The two indexes are created when the store opens, on
   a new database and on one Rasa made before.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_installed = False
# (name, columns) of the indexes on Rasa's `events` table that fix 2 adds
EVENT_INDEXES = (
    ("ix_events_sender_type_time", ("sender_id", "type_name", "timestamp")),
    ("ix_events_sender_time", ("sender_id", "timestamp")),
)


def response_validator() -> Any:
    """The validator for action server answers, built once from Rasa's own schema (checked once here)."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def install() -> None:
    """Apply the fixes (idempotent)."""
    global _installed
    if _installed:
        return
    _reuse_one_response_validator()
    _find_the_session_by_index()
    _installed = True


def _reuse_one_response_validator() -> None:
    """Replace RemoteAction._validate_action_result by one that reuses a single validator."""
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    validator = response_validator()

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError as error:
            error.message += (
                ". Failed to validate Action server response from API, make sure your response from the Action "
                f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise
        return True

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


def create_event_indexes(engine: Any) -> None:
    """The indexes of fix 2 on Rasa's `events` table, unless they are there. Two replicas starting at once on
    PostgreSQL may both try: the one that loses finds the index made and goes on."""
    import sqlalchemy as sa

    for name, columns in EVENT_INDEXES:
        try:
            with engine.begin() as connection:
                connection.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON events ({', '.join(columns)})"))
        except sa.exc.DBAPIError as exc:  # made by another replica meanwhile
            log.info("index %s on events not created here (%s); another process made it", name, exc.orig)


def _find_the_session_by_index() -> None:
    """Replace SQLTrackerStore._event_query by the same query in two indexed steps; add the indexes."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import SessionStarted

    def _event_query(self: Any, session: Any, sender_id: str, fetch_events_from_all_sessions: bool) -> Any:
        event = self.SQLEvent
        query = session.query(event).filter(event.sender_id == sender_id)
        if not fetch_events_from_all_sessions:
            started = (
                session.query(sa.func.max(event.timestamp))
                .filter(event.sender_id == sender_id, event.type_name == SessionStarted.type_name)
                .scalar()
            )
            if started is not None:  # else every event of the sender, as Rasa's own query
                query = query.filter(event.timestamp >= started)
        return query.order_by(event.id)

    opened = SQLTrackerStore.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        opened(self, *args, **kwargs)
        create_event_indexes(self.engine)

    SQLTrackerStore._event_query = _event_query  # type: ignore[method-assign]
    SQLTrackerStore.__init__ = __init__  # type: ignore[method-assign]
