"""The data files' JSON Schemas (wijkbot/data/schema/), checked whenever a file is loaded.

A file that breaks its schema is refused with one message that names the file, the place in it (a JSON path
such as `$.municipalities.GM0826.staff_title`) and what is wrong, for every problem at once; the loaders
(wijkbot.municipalities, wijkbot.routing) raise it as their own error type before reading anything, so a bad
file never ends in a KeyError deep inside. What a schema cannot say (a postcode naming an area that does not
exist, the last routing rule matching everything) the loaders check afterwards.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_DIR = Path(__file__).with_name("data") / "schema"
_ROOT = Path(__file__).resolve().parent.parent
MAX_PROBLEMS = 10


class DataFileError(ValueError):
    """A data file is wrong; the message names the file, the place in it and what is wrong."""


def shown(path: Path) -> str:
    """The file as a person finds it: relative to the checkout when it is in it."""
    try:
        return str(path.resolve().relative_to(_ROOT))
    except ValueError:
        return str(path)


@cache
def schema(name: str) -> dict[str, Any]:
    """The schema `wijkbot/data/schema/<name>.schema.json` (itself checked against JSON Schema 2020-12)."""
    loaded = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(loaded)
    assert isinstance(loaded, dict)
    return loaded


def read_yaml(path: Path, *, error: type[DataFileError] = DataFileError) -> Any:
    """A data file's content; a YAML mistake is reported with the file, line and column."""
    try:
        with path.open(encoding="utf-8") as stream:  # a stream: YAML's own message then names the file too
            return yaml.safe_load(stream)
    except yaml.YAMLError as exc:
        raise error(f"{shown(path)} is not valid YAML: {exc}") from None


def check(document: Any, name: str, *, source: str, error: type[DataFileError] = DataFileError) -> None:
    """Raise `error` listing every way `document` (read from `source`) breaks the schema `name`."""
    validator = Draft202012Validator(schema(name))
    problems = sorted(validator.iter_errors(document), key=lambda e: (e.json_path, e.message))
    if not problems:
        return
    lines = [describe(problem) for problem in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"... and {len(problems) - MAX_PROBLEMS} more")
    shown_schema = f"wijkbot/data/schema/{name}.schema.json"
    raise error(f"{source} does not match its schema ({shown_schema}):\n" + "\n".join(f"  {line}" for line in lines))


def describe(problem: ValidationError) -> str:
    """`at <path>: <what is wrong> (<what is expected>)`; of alternatives (anyOf), the closest one speaks."""
    detail = best_match(problem.context) if problem.context else problem
    hint = problem.schema.get("description") if isinstance(problem.schema, dict) else None
    if hint is None and isinstance(detail.schema, dict):
        hint = detail.schema.get("description")
    return f"at {detail.json_path}: {detail.message}" + (f" ({hint})" if hint else "")
