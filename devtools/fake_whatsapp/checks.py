"""What the fake Cloud API refuses in a message object, as Meta documents it (messages, interactive reply buttons,
list messages, template components, error codes), with Meta's error codes.

Each check raises ApiError; `check_message` returns the wa_id the message goes to.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JSONDict = dict[str, Any]

TYPES = ("text", "interactive", "template", "image", "document")
TOP_KEYS = frozenset({"messaging_product", "recipient_type", "to", "type", "context", "biz_opaque_callback_data"})
UNCLEAN = re.compile(r"[\n\t]| {5,}")  # what a template's text parameter may not hold (132018)
WA_ID = re.compile(r"\+?[0-9]{5,20}")


@dataclass(frozen=True)
class Template:
    """An approved template: its body parameters ({{1}}…) and quick-reply buttons, in these languages."""

    body_parameters: int = 1
    quick_replies: int = 0
    languages: tuple[str, ...] = ("nl",)


class ApiError(Exception):
    """An error answer in Meta's Graph API shape."""

    def __init__(
        self, code: int, message: str, details: str = "", status: int = 400, error_type: str = "OAuthException"
    ) -> None:
        super().__init__(f"({code}) {message}")
        self.code = code
        self.message = message
        self.details = details or message
        self.status = status
        self.error_type = error_type

    def payload(self) -> JSONDict:
        error: JSONDict = {
            "message": f"(#{self.code}) {self.message}",
            "type": self.error_type,
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": secrets.token_urlsafe(12),
        }
        return {"error": error}


def invalid(details: str) -> ApiError:
    return ApiError(100, "Invalid parameter", details)


def _only(obj: Any, allowed: set[str] | frozenset[str], where: str) -> JSONDict:
    if not isinstance(obj, dict):
        raise invalid(f"{where} must be an object")
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise invalid(f'Unexpected key "{unknown[0]}" on param "{where}"')
    return obj


def _string(obj: JSONDict, key: str, where: str, limit: int, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{where}.{key} is required and must be a non-empty string")
    if len(value) > limit:
        raise ApiError(131009, "Parameter value is not valid", f"{where}.{key} is longer than {limit} characters")
    return value


def check_message(body: Any, templates: Mapping[str, Template], media: set[str]) -> str:
    """Check a POST /messages body as Meta does; the recipient's wa_id (without "+") when it passes."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    kind = body.get("type", "text")
    if kind not in TYPES:
        raise invalid(f"type: {kind!r} is not a supported message type")
    _only(body, TOP_KEYS | {kind}, "message")
    if body.get("messaging_product") != "whatsapp":
        raise invalid('messaging_product is required and must be "whatsapp"')
    if body.get("recipient_type", "individual") != "individual":
        raise invalid('recipient_type must be "individual"')
    to = body.get("to")
    if not isinstance(to, str) or not WA_ID.fullmatch(to):
        raise invalid("to is required and must be a phone number or wa_id")
    if kind not in body:
        raise invalid(f"The parameter {kind} is required")
    context = body.get("context")
    if context is not None:
        _string(_only(context, {"message_id"}, "context"), "message_id", "context", 512)
    CHECKS[kind](body[kind], templates, media)
    return to.lstrip("+")


def _check_text(text: Any, templates: Mapping[str, Template], media: set[str]) -> None:
    text = _only(text, {"body", "preview_url"}, "text")
    _string(text, "body", "text", 4096)
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise invalid("text.preview_url must be a boolean")


def _check_media(kind: str, obj: Any, media: set[str]) -> None:
    allowed = {"id", "link", "caption"} | ({"filename"} if kind == "document" else set())
    obj = _only(obj, allowed, kind)
    if ("id" in obj) == ("link" in obj):
        raise invalid(f"{kind} needs exactly one of id and link")
    if "id" in obj and obj["id"] not in media:
        raise ApiError(131053, "Media upload error", f"{kind}.id {obj['id']!r} is not a media id of this number")
    if "link" in obj:
        _string(obj, "link", kind, 2048)
    _string(obj, "caption", kind, 1024, required=False)
    _string(obj, "filename", kind, 240, required=False)


def _check_image(obj: Any, templates: Mapping[str, Template], media: set[str]) -> None:
    _check_media("image", obj, media)


def _check_document(obj: Any, templates: Mapping[str, Template], media: set[str]) -> None:
    _check_media("document", obj, media)


def _check_interactive(obj: Any, templates: Mapping[str, Template], media: set[str]) -> None:
    obj = _only(obj, {"type", "header", "body", "footer", "action"}, "interactive")
    kind = obj.get("type")
    if kind not in ("button", "list"):
        raise invalid('interactive.type must be "button" or "list"')
    body = _only(obj.get("body"), {"text"}, "interactive.body")
    _string(body, "text", "interactive.body", 1024)  # reply buttons and lists alike
    if "footer" in obj:
        _string(_only(obj["footer"], {"text"}, "interactive.footer"), "text", "interactive.footer", 60)
    if "header" in obj:
        header = _only(obj["header"], {"type", "text"}, "interactive.header")
        if header.get("type") != "text":
            raise invalid("interactive.header.type: only text headers are served by the fake")
        _string(header, "text", "interactive.header", 60)
    if kind == "button":
        _check_buttons(_only(obj.get("action"), {"buttons"}, "interactive.action"))
    else:
        _check_list(_only(obj.get("action"), {"button", "sections"}, "interactive.action"))


def _unique(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise ApiError(131009, "Parameter value is not valid", f"{what} must be unique")


def _check_buttons(action: JSONDict) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise ApiError(131009, "Parameter value is not valid", "interactive.action.buttons: 1 to 3 buttons")
    ids: list[str] = []
    titles: list[str] = []
    for button in buttons:
        button = _only(button, {"type", "reply"}, "button")
        if button.get("type") != "reply":
            raise invalid('button.type must be "reply"')
        reply = _only(button.get("reply"), {"id", "title"}, "button.reply")
        ids.append(str(_string(reply, "id", "button.reply", 256)))
        titles.append(str(_string(reply, "title", "button.reply", 20)))
    _unique(ids, "button ids")
    _unique(titles, "button titles")


def _check_list(action: JSONDict) -> None:
    _string(action, "button", "interactive.action", 20)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise ApiError(131009, "Parameter value is not valid", "interactive.action.sections: 1 to 10 sections")
    ids: list[str] = []
    for section in sections:
        section = _only(section, {"title", "rows"}, "section")
        _string(section, "title", "section", 24, required=len(sections) > 1)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise invalid("section.rows is required")
        for row in rows:
            row = _only(row, {"id", "title", "description"}, "row")
            ids.append(str(_string(row, "id", "row", 200)))
            _string(row, "title", "row", 24)
            _string(row, "description", "row", 72, required=False)
    if len(ids) > 10:
        raise ApiError(131009, "Parameter value is not valid", "a list message has at most 10 rows")
    _unique(ids, "row ids")


def _check_template(obj: Any, templates: Mapping[str, Template], media: set[str]) -> None:
    obj = _only(obj, {"name", "language", "components"}, "template")
    name = _string(obj, "name", "template", 512)
    language = _only(obj.get("language"), {"code", "policy"}, "template.language")
    code = _string(language, "code", "template.language", 15)
    template = templates.get(str(name))
    if template is None or code not in template.languages:
        raise ApiError(132001, "Template name does not exist in the translation", f"template {name!r} in {code!r}")
    body_values: list[str] = []
    buttons: list[str] = []
    components = obj.get("components", [])
    if not isinstance(components, list):
        raise invalid("template.components must be a list")
    for component in components:
        component = _only(component, {"type", "sub_type", "index", "parameters"}, "component")
        if component.get("type") == "body":
            body_values.extend(_text_parameters(component.get("parameters")))
        elif component.get("type") == "button":
            buttons.append(_quick_reply(component, template))
        else:
            raise invalid(f"component.type {component.get('type')!r}: the fake's templates have body and buttons")
    if len(body_values) != template.body_parameters or len(buttons) != template.quick_replies:
        raise ApiError(
            132000,
            "Number of parameters does not match the expected number of params",
            f"body: {len(body_values)} of {template.body_parameters}, buttons: {len(buttons)} of "
            f"{template.quick_replies}",
        )


def _text_parameters(parameters: Any) -> list[str]:
    if not isinstance(parameters, list):
        raise invalid("component.parameters must be a list")
    values: list[str] = []
    for parameter in parameters:
        parameter = _only(parameter, {"type", "text"}, "parameter")
        if parameter.get("type") != "text":
            raise invalid("body parameters of the fake's templates are text")
        text = _string(parameter, "text", "parameter", 32768)
        if UNCLEAN.search(str(text)):
            raise ApiError(
                132018,
                "There was an issue with the parameters in your template.",
                "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
            )
        if len(str(text)) > 1024:
            raise ApiError(132005, "Translated text too long", "a body parameter is longer than 1024 characters")
        values.append(str(text))
    return values


def _quick_reply(component: JSONDict, template: Template) -> str:
    if component.get("sub_type") != "quick_reply":
        raise invalid("button component sub_type must be quick_reply")
    index = component.get("index")
    if not isinstance(index, str | int) or not str(index).isdigit() or int(index) >= template.quick_replies:
        raise invalid(f"button component index {index!r} is not a button of this template")
    parameters = component.get("parameters")
    if not isinstance(parameters, list) or len(parameters) != 1:
        raise invalid("a quick-reply button takes one payload parameter")
    parameter = _only(parameters[0], {"type", "payload"}, "parameter")
    if parameter.get("type") != "payload":
        raise invalid("a quick-reply button's parameter is of type payload")
    return str(_string(parameter, "payload", "parameter", 256))


CHECKS = {
    "text": _check_text,
    "interactive": _check_interactive,
    "template": _check_template,
    "image": _check_image,
    "document": _check_document,
}
