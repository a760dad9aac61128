"""Fixes to Rasa 3.6 that cost nothing in behaviour and a lot in time, applied before Rasa runs.

The one fix so far: Rasa checks every answer of the action server against its response schema with
`jsonschema.validate(result, schema)`. That call first checks the *schema itself* against the JSON Schema
meta-schema and builds a new validator, every time: about 23 ms of a form turn's 2-3 action calls, where
checking the answer alone takes under 1 ms (profiled, docs/bench.md). Here the schema is checked once and one
validator is kept; an answer is checked exactly as before and a wrong one raises the same ValidationError
with the same message, so Rasa handles it as before (it logs the error and the action fails).
"""

from __future__ import annotations

from typing import Any

_installed = False


def response_validator() -> Any:
    """The validator for action server answers, built once from Rasa's own schema (checked once here)."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def install() -> None:
    """Replace RemoteAction._validate_action_result by one that reuses a single validator (idempotent)."""
    global _installed
    if _installed:
        return
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
    _installed = True
