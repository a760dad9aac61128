"""The parameters of a request to the fake Bot API: read from the query, a form or JSON, typed, and checked
against the names each method accepts (a name the fake does not know is refused, so a typo or a parameter the
fake would silently ignore shows up in the tests).

`PARAMETERS` is the fake's side of the contract; tests/devtools/test_bot_api_names.py checks every name in it
against the official Bot API reference (tests/devtools/bot_api_reference.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import tornado.httputil

from .records import JSONDict, UploadedFile, bad_request

_MESSAGE_OPTIONS = ("disable_notification", "protect_content", "reply_parameters", "reply_markup")

#: Per method the fake serves: the parameters it accepts (others are refused with 400).
PARAMETERS: dict[str, frozenset[str]] = {
    "getMe": frozenset(),
    "getUpdates": frozenset({"offset", "limit", "timeout", "allowed_updates"}),
    "setWebhook": frozenset(
        {"url", "certificate", "ip_address", "max_connections", "allowed_updates", "drop_pending_updates"}
        | {"secret_token"}
    ),
    "deleteWebhook": frozenset({"drop_pending_updates"}),
    "setMyCommands": frozenset({"commands", "scope", "language_code"}),
    "deleteMyCommands": frozenset({"scope", "language_code"}),
    "sendMessage": frozenset({"chat_id", "text", "parse_mode", "entities", "link_preview_options", *_MESSAGE_OPTIONS}),
    "editMessageText": frozenset(
        {"chat_id", "message_id", "inline_message_id", "text", "parse_mode", "entities", "link_preview_options"}
        | {"reply_markup"}
    ),
    "answerCallbackQuery": frozenset({"callback_query_id", "text", "show_alert", "url", "cache_time"}),
    "sendPoll": frozenset(
        {"chat_id", "question", "options", "is_anonymous", "type", "allows_multiple_answers", "allows_revoting"}
        | {"correct_option_ids", "open_period", "close_date", "is_closed", *_MESSAGE_OPTIONS}
    ),
    "stopPoll": frozenset({"chat_id", "message_id", "reply_markup"}),
    "sendPhoto": frozenset({"chat_id", "photo", "caption", "parse_mode", "caption_entities", *_MESSAGE_OPTIONS}),
    "getFile": frozenset({"file_id"}),
    "sendDocument": frozenset(
        {"chat_id", "document", "caption", "parse_mode", "caption_entities", "disable_content_type_detection"}
        | set(_MESSAGE_OPTIONS)
    ),
}

JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "options",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "link_preview_options",
        "reply_parameters",
        "correct_option_ids",
    }
)
INT_FIELDS = frozenset(
    {"chat_id", "message_id", "offset", "limit", "max_connections", "open_period", "close_date", "cache_time"}
)
FLOAT_FIELDS = frozenset({"timeout"})
BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "is_anonymous",
        "allows_multiple_answers",
        "allows_revoting",
        "show_alert",
        "drop_pending_updates",
        "is_closed",
        "disable_content_type_detection",
    }
)


def check_names(method: str, params: Mapping[str, Any], files: Mapping[str, UploadedFile]) -> None:
    """Refuse a parameter `method` does not accept (a file part counts under its field name; the parts a
    JSON field points to with ``attach://`` are not parameters)."""
    accepted = PARAMETERS[method]
    attached = {str(v).removeprefix("attach://") for v in params.values() if str(v).startswith("attach://")}
    for name in [*params, *(f for f in files if f not in attached)]:
        if name not in accepted:
            raise bad_request(f'parameter "{name}" is not accepted by {method}')


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise bad_request(f"invalid {name} specified")


def _from_json(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        if name == "reply_markup":
            raise bad_request("can't parse reply keyboard markup JSON object") from None
        raise bad_request(f"can't parse {name} JSON object") from None


def _to_int(name: str, value: str) -> int | str:
    text = value.strip()
    if name == "chat_id" and text.startswith("@"):
        return text
    try:
        return int(text)
    except ValueError:
        raise bad_request("chat not found" if name == "chat_id" else f"invalid {name} specified") from None


def _to_float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise bad_request(f"invalid {name} specified") from None


_CONVERSIONS: list[tuple[frozenset[str], Callable[[str, str], Any]]] = [
    (JSON_FIELDS, _from_json),
    (INT_FIELDS, _to_int),
    (FLOAT_FIELDS, _to_float),
]


def _typed(name: str, value: Any) -> Any:
    if name in BOOL_FIELDS:
        return _to_bool(name, value)
    if isinstance(value, str):
        for names, convert in _CONVERSIONS:
            if name in names:
                return convert(name, value)
    return value


def normalize_params(raw: Mapping[str, Any]) -> JSONDict:
    """Turn what PTB sends (form fields: strings, JSON strings) into typed values; None values are left out."""
    return {name: _typed(name, value) for name, value in raw.items() if value is not None}


def parse_request(request: tornado.httputil.HTTPServerRequest) -> tuple[JSONDict, dict[str, UploadedFile]]:
    """The typed parameters and the uploaded files of a request (query string, JSON body or form)."""
    query = request.query_arguments
    raw: dict[str, Any] = {name: values[-1].decode("utf-8") for name, values in query.items() if values}
    files: dict[str, UploadedFile] = {}
    content_type = request.headers.get("Content-Type", "")
    body = request.body or b""
    if body and content_type.lower().startswith("application/json"):
        raw.update(_json_body(body))
    elif body:
        args: dict[str, list[bytes]] = {}
        parts: dict[str, list[tornado.httputil.HTTPFile]] = {}
        tornado.httputil.parse_body_arguments(content_type, body, args, parts)
        raw.update({name: values[-1].decode("utf-8") for name, values in args.items() if values})
        for name, uploads in parts.items():
            up = uploads[-1]
            files[name] = UploadedFile(name, up.filename, up.content_type, bytes(up.body))
    return normalize_params(raw), files


def _json_body(body: bytes) -> JSONDict:
    try:
        decoded = json.loads(body)
    except ValueError:
        raise bad_request("can't parse JSON object") from None
    if not isinstance(decoded, dict):
        raise bad_request("JSON object expected")
    return decoded
