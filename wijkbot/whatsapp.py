"""WhatsApp through Meta's Cloud API, the pure part: webhooks in, message objects out (docs/whatsapp.md).

Inbound: `verify_signature` checks the `X-Hub-Signature-256` header of a webhook POST, `verify_subscription`
answers Meta's GET handshake, `parse_webhook` turns a webhook body into `Incoming` messages and
`StatusUpdate`s (never raising on hostile parts: they are skipped).

Outbound: `render` turns an outbox message (wijkbot.payloads) into the Cloud API message objects for a send
inside the resident's 24-hour customer-service window, degrading what WhatsApp cannot show (no edits, no
native polls, no ForceReply, at most 3 reply buttons or 10 list rows); `template_for` gives the approved
template to send instead outside the window, or None. `html_to_whatsapp` turns the Telegram HTML the bot
writes into WhatsApp's formatting.

Nothing here imports telegram, rasa_sdk or fastapi: the transport (bot/whatsapp_transport.py) sends, the
web app serves the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, ClassVar, Literal

from wijkbot.payloads import Buttons, Document, Edit, Payload, Photo, Poll, RasaButtons, StopPoll, Text
from wijkbot.settings import Settings

# Meta's limits (Cloud API reference: messages, interactive reply buttons, list messages, templates)
TEXT_MAX = 4096  # a text message's body
BUTTON_BODY_MAX = 1024  # the body of an interactive reply-button message
LIST_BODY_MAX = 1024  # the body of an interactive list message (Meta's SDK reference: 1024; the strict one)
CAPTION_MAX = 1024  # an image's or document's caption
BUTTON_TITLE_MAX = 20  # a reply button's title; also the list's button label
BUTTON_ID_MAX = 256  # a reply button's id
BUTTONS_MAX = 3  # reply buttons in one message
ROW_TITLE_MAX = 24  # a list row's title; also a section's title
ROW_DESCRIPTION_MAX = 72  # a list row's description
ROW_ID_MAX = 200  # a list row's id
ROWS_MAX = 10  # rows in one list message, all sections together
TEMPLATE_PARAMETER_MAX = 1024  # one text parameter of a template's body

LIST_BUTTON = "Kies"
MULTIPLE_ANSWERS = "Je kunt meer antwoorden kiezen: kies ze één voor één."
MORE_OPTIONS = "Kies uit de eerste tien, of typ je keuze:"

RASA_BUTTON_PREFIX = "rb"  # as bot/telegram_transport.rasa_button_data: the payload stays in the database
POLL_VOTE_PREFIX = "pv"  # pv:<poll id>:<option index>, pv:<poll id>:open (the template's button)
POLL_KINDS = frozenset({"poll"})  # outreach kinds (wijkbot.outreach) that go out as the poll template
SIGNATURE_PREFIX = "sha256="

Kind = Literal["text", "button", "location", "image", "other"]
Status = Literal["sent", "delivered", "read", "failed"]
STATUSES: frozenset[str] = frozenset({"sent", "delivered", "read", "failed"})


class Unrenderable(ValueError):
    """A message WhatsApp cannot show at all (a poll with more than ten options): the transport rejects it."""


@dataclass(frozen=True)
class Incoming:
    """A message a resident sent to the municipality's number."""

    wa_id: str
    message_id: str  # the wamid
    timestamp: datetime  # UTC
    name: str | None  # the profile name WhatsApp gave with it
    kind: Kind
    text: str | None = None  # a text's body, an image's caption, a pressed button's title, a location's name
    reply_id: str | None = None  # the id of the pressed reply button or list row, or a template button's payload
    reply_title: str | None = None
    context_id: str | None = None  # the wamid of the message this one answers (a button press: the message)
    latitude: float | None = None
    longitude: float | None = None
    media_id: str | None = None  # an image's media id (download it with the token)


@dataclass(frozen=True)
class StatusUpdate:
    """What became of a message the municipality sent."""

    message_id: str  # the wamid the send returned
    status: Status
    timestamp: datetime
    recipient_id: str
    error_code: int | None = None
    error_title: str | None = None


Event = Incoming | StatusUpdate


@dataclass(frozen=True)
class MediaFile:
    """What the transport uploads to /{phone_number_id}/media before sending an image or a document."""

    data: bytes
    filename: str
    mime_type: str
    media_type: Literal["image", "document"]


# -- inbound ----------------------------------------------------------------------------------------------------


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `X-Hub-Signature-256` is ``sha256=`` and the hex HMAC-SHA256 of the raw body with the app secret."""
    if not app_secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    given = header[len(SIGNATURE_PREFIX) :].strip().lower()
    if len(given) != 64 or any(c not in "0123456789abcdef" for c in given):
        return False
    return hmac.compare_digest(given, sign(app_secret, body))


def sign(app_secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 Meta puts after ``sha256=`` (the fake signs its webhooks with it)."""
    return hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str | None:
    """Meta's GET handshake: the `hub.challenge` to echo when mode and verify token match, else None."""
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    token = params.get("hub.verify_token")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    challenge = params.get("hub.challenge")
    return challenge if isinstance(challenge, str) else None


def parse_webhook(payload: Any, phone_number_id: str | None = None) -> list[Event]:
    """The messages and statuses in a webhook body, in order. Malformed parts are skipped; ValueError only when
    the body is not a WhatsApp Business Account webhook at all. With `phone_number_id`, events for another
    number of the same business account are ignored."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise ValueError("not a WhatsApp Business Account webhook")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise ValueError("a WhatsApp webhook without entries")
    events: list[Event] = []
    for entry in entries:
        for value in _message_values(entry):
            metadata = value.get("metadata")
            number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            if phone_number_id is not None and number != phone_number_id:
                continue
            events.extend(_parse_value(value))
    return events


def _message_values(entry: Any) -> list[dict[str, Any]]:
    changes = entry.get("changes") if isinstance(entry, dict) else None
    if not isinstance(changes, list):
        return []
    return [
        change["value"]
        for change in changes
        if isinstance(change, dict) and change.get("field") == "messages" and isinstance(change.get("value"), dict)
    ]


def _parse_value(value: dict[str, Any]) -> list[Event]:
    names: dict[str, str] = {}
    for contact in _dicts(value.get("contacts")):
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        if isinstance(contact.get("wa_id"), str) and isinstance(name, str):
            names[contact["wa_id"]] = name
    events: list[Event] = []
    for message in _dicts(value.get("messages")):
        incoming = _incoming(message, names)
        if incoming is not None:
            events.append(incoming)
    for status in _dicts(value.get("statuses")):
        update = _status(status)
        if update is not None:
            events.append(update)
    return events


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _timestamp(value: Any) -> datetime | None:
    """Meta's timestamps: seconds since the epoch, as a string."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _incoming(message: dict[str, Any], names: Mapping[str, str]) -> Incoming | None:
    wa_id, message_id = _str(message.get("from")), _str(message.get("id"))
    at = _timestamp(message.get("timestamp"))
    kind = _str(message.get("type"))
    if wa_id is None or message_id is None or at is None or kind is None:
        return None
    context = message.get("context")
    base = Incoming(
        wa_id=wa_id,
        message_id=message_id,
        timestamp=at,
        name=names.get(wa_id),
        kind="other",
        context_id=_str(context.get("id")) if isinstance(context, dict) else None,
    )
    body = message.get(kind)
    reader = _READERS.get(kind)
    if reader is None or not isinstance(body, dict):
        return base
    return reader(base, body)


def _text(base: Incoming, body: dict[str, Any]) -> Incoming | None:
    text = _str(body.get("body"))
    return _replace(base, kind="text", text=text) if text is not None else _replace(base, kind="other")


def _interactive(base: Incoming, body: dict[str, Any]) -> Incoming:
    kind = body.get("type")
    reply = body.get(kind) if kind in ("button_reply", "list_reply") else None
    if not isinstance(reply, dict) or _str(reply.get("id")) is None:
        return base
    title = _str(reply.get("title"))
    return _replace(base, kind="button", reply_id=reply["id"], reply_title=title, text=title)


def _template_button(base: Incoming, body: dict[str, Any]) -> Incoming:
    payload, text = _str(body.get("payload")), _str(body.get("text"))
    if payload is None:
        return base
    return _replace(base, kind="button", reply_id=payload, reply_title=text, text=text)


def _location(base: Incoming, body: dict[str, Any]) -> Incoming:
    latitude, longitude = _coordinate(body.get("latitude"), 90), _coordinate(body.get("longitude"), 180)
    if latitude is None or longitude is None:
        return base
    label = ", ".join(p for p in (_str(body.get("name")), _str(body.get("address"))) if p) or None
    return _replace(base, kind="location", latitude=latitude, longitude=longitude, text=label)


def _coordinate(value: Any, bound: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if -bound <= number <= bound else None


def _image(base: Incoming, body: dict[str, Any]) -> Incoming:
    return _replace(base, kind="image", text=_str(body.get("caption")), media_id=_str(body.get("id")))


def _replace(base: Incoming, **changes: Any) -> Incoming:
    return replace(base, **changes)


_READERS: dict[str, Callable[[Incoming, dict[str, Any]], Incoming | None]] = {
    "text": _text,
    "interactive": _interactive,
    "button": _template_button,
    "location": _location,
    "image": _image,
}


def _status(status: dict[str, Any]) -> StatusUpdate | None:
    message_id, recipient = _str(status.get("id")), _str(status.get("recipient_id"))
    state, at = status.get("status"), _timestamp(status.get("timestamp"))
    if message_id is None or recipient is None or at is None or state not in STATUSES:
        return None
    code: int | None = None
    title: str | None = None
    errors = _dicts(status.get("errors"))
    if errors:
        raw = errors[0].get("code")
        code = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        title = _str(errors[0].get("title")) or _str(errors[0].get("message"))
    return StatusUpdate(message_id, state, at, recipient, code, title)


# -- formatting -------------------------------------------------------------------------------------------------


class _Converter(HTMLParser):
    """Telegram HTML to WhatsApp's markers: each element's output is rewritten when it closes."""

    WRAP: ClassVar[dict[str, str]] = {"b": "*", "strong": "*", "i": "_", "em": "_", "s": "~", "strike": "~", "del": "~"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[tuple[str, int, str | None]] = []  # tag, where its text starts, href

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")
            return
        href = dict(attrs).get("href") if tag == "a" else None
        self.open.append((tag, len(self.out), href))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.open) - 1, -1, -1):
            if self.open[depth][0] == tag:
                break
        else:
            return  # a closing tag that was never opened: ignored
        while len(self.open) > depth:
            self._close(*self.open.pop())

    def _close(self, tag: str, start: int, href: str | None) -> None:
        inner = "".join(self.out[start:])
        del self.out[start:]
        self.out.append(_wrapped(tag, inner, href, self.WRAP))

    def handle_data(self, data: str) -> None:
        self.out.append(data)

    def result(self) -> str:
        self.close()
        while self.open:
            self._close(*self.open.pop())
        return "".join(self.out)


def _wrapped(tag: str, inner: str, href: str | None, wraps: Mapping[str, str]) -> str:
    if tag == "a":
        if not href or inner.strip() == href or not inner.strip():
            return href or inner
        return f"{inner} ({href})"
    if tag == "pre" or (tag == "code" and "\n" in inner):
        return f"```{inner}```" if inner.strip() else inner
    if tag == "code":
        return f"`{inner}`" if inner.strip() else inner
    if tag == "blockquote":
        return "\n".join(f"> {line}" for line in inner.split("\n"))
    marker = wraps.get(tag)
    if marker is None or not inner.strip():
        return inner  # u, tg-spoiler, span, unknown tags: the text only
    # WhatsApp needs the markers next to the text: whitespace goes outside them
    stripped = inner.strip()
    lead, tail = inner[: len(inner) - len(inner.lstrip())], inner[len(inner.rstrip()) :]
    return f"{lead}{marker}{stripped}{marker}{tail}"


def html_to_whatsapp(text: str) -> str:
    """Telegram HTML as WhatsApp formatting: <b> *x*, <i> _x_, <s> ~x~, <code> `x` (```x``` for <pre> and code
    over several lines), <a href=u>t</a> "t (u)" (just u when t is u), <blockquote> "> " lines; entities
    unescaped, newlines and <br> kept, other tags dropped with their text kept."""
    converter = _Converter()
    converter.feed(text)
    return converter.result()


def shorten(text: str, limit: int) -> str:
    """The text within `limit` characters, cut with "…" when longer."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clean_parameter(text: str) -> str:
    """A template text parameter as Meta accepts it: no newlines or tabs, no runs of more than four spaces,
    at most 1024 characters, not empty."""
    flat = re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()
    return shorten(flat, TEMPLATE_PARAMETER_MAX) or "-"


def split_body(text: str, limit: int) -> list[str]:
    """The text in parts of at most `limit` characters, cut at a paragraph, a line or a word when possible."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > limit // 2:
                break
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


# -- outbound: inside the window --------------------------------------------------------------------------------


def rasa_button_id(row_id: int, index: int) -> str:
    """A Rasa button's reply id: the same as its Telegram callback data (bot/telegram_transport)."""
    return f"{RASA_BUTTON_PREFIX}:{row_id}:{index}"


def poll_vote_id(poll_id: str, index: int | str) -> str:
    """A poll option's reply id: pv:<poll id>:<option index> (or :open, the template's button)."""
    return f"{POLL_VOTE_PREFIX}:{poll_id}:{index}"


def media_file(payload: Payload) -> MediaFile | None:
    """The file the transport must upload before `render` can send this message, if any."""
    if isinstance(payload, Photo) and payload.upload is not None:
        name = payload.upload.filename or "image.png"
        mime = "image/jpeg" if name.lower().endswith((".jpg", ".jpeg")) else "image/png"
        return MediaFile(payload.upload.data, name, mime, "image")
    if isinstance(payload, Document):
        return MediaFile(payload.document_text.encode("utf-8"), payload.filename, "text/plain", "document")
    return None


def render(
    payload: Payload,
    *,
    row_id: int,
    poll_id: str | None = None,
    media_id: str | None = None,
    to: str | None = None,
) -> list[dict[str, Any]]:
    """The Cloud API message objects for this outbox message inside the window, to send in order.

    Without `to` each object has only ``type`` and its part; with `to` also ``messaging_product``,
    ``recipient_type`` and ``to``, ready to post. `media_id`: what /media answered for `media_file(payload)`
    (a Photo without it is shown by its caption only; a Document needs it). `poll_id`: the id a Poll's votes
    carry (``pv:<poll_id>:<index>``). StopPoll, and a Photo without media and caption, give []. Unrenderable
    for a poll of more than ten options.
    """
    messages = _render(payload, row_id, poll_id, media_id)
    if to is None:
        return messages
    return [{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **m} for m in messages]


def _render(payload: Payload, row_id: int, poll_id: str | None, media_id: str | None) -> list[dict[str, Any]]:
    if isinstance(payload, Text):
        return _render_text(html_to_whatsapp(payload.text), _choices(payload.buttons, payload.rasa_buttons, row_id))
    if isinstance(payload, Edit):
        return _render_text(html_to_whatsapp(payload.text), _choices(payload.buttons, None, row_id))
    if isinstance(payload, Photo):
        return _render_media("image", media_id, html_to_whatsapp(payload.caption or ""), None)
    if isinstance(payload, Document):
        if media_id is None:
            raise ValueError("a document is sent by its media id: upload media_file(payload) first")
        return _render_media("document", media_id, payload.caption or "", payload.filename)
    if isinstance(payload, Poll):
        return _render_poll(payload, poll_id)
    if isinstance(payload, StopPoll):
        return []
    raise Unrenderable(f"no WhatsApp form for {type(payload).__name__}")


@dataclass(frozen=True)
class _Choice:
    id: str
    title: str


def _choices(buttons: Buttons | None, rasa_buttons: RasaButtons | None, row_id: int) -> tuple[list[_Choice], str]:
    """The buttons as reply choices, and the lines for link buttons (WhatsApp has no link buttons here)."""
    choices: list[_Choice] = []
    links: list[str] = []
    for row in buttons or []:
        for button in row:
            title = str(button.get("text", ""))
            if button.get("callback_data"):
                choices.append(_Choice(str(button["callback_data"])[:BUTTON_ID_MAX], title))
            elif button.get("url"):
                links.append(f"{title}: {button['url']}")
    for index, rasa in enumerate(rasa_buttons or []):
        choices.append(_Choice(rasa_button_id(row_id, index), str(rasa.get("title", ""))))
    return choices, "\n".join(links)


def _render_text(body: str, choices_and_links: tuple[list[_Choice], str]) -> list[dict[str, Any]]:
    choices, links = choices_and_links
    if links:
        body = f"{body}\n\n{links}" if body.strip() else links
    if not choices:
        return [_text_message(part) for part in split_body(body, TEXT_MAX)] or [_text_message("…")]
    if len(choices) <= BUTTONS_MAX:
        leading, last = _last_part(body, BUTTON_BODY_MAX)
        return [*leading, _buttons_message(last, choices)]
    if len(choices) <= ROWS_MAX:
        leading, last = _last_part(body, LIST_BODY_MAX)
        return [*leading, _list_message(last, choices)]
    numbered = "\n".join(f"{n}. {choice.title}" for n, choice in enumerate(choices, 1))
    texts = [_text_message(part) for part in split_body(f"{body}\n\n{numbered}", TEXT_MAX)]
    return [*texts, _list_message(MORE_OPTIONS, choices[:ROWS_MAX])]


def _last_part(body: str, limit: int) -> tuple[list[dict[str, Any]], str]:
    """A long body as text messages first, its last part (within `limit`) for the interactive message."""
    body = body.strip() or "…"
    if len(body) <= limit:
        return [], body
    start = len(body) - limit  # the last part starts at a paragraph, a line or a word within the last `limit`
    for separator in ("\n\n", "\n", " "):
        found = body.find(separator, start)
        if 0 < found < len(body) - limit // 2:
            start = found
            break
    head, last = body[:start], body[start:].strip()
    return [_text_message(part) for part in split_body(head, TEXT_MAX)], last[-limit:]


def _text_message(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _unique_titles(choices: list[_Choice], limit: int) -> list[str]:
    """Titles within `limit`, made unique (Meta refuses two buttons with one title)."""
    titles: list[str] = []
    for choice in choices:
        title = shorten(choice.title, limit) or "…"
        number = 2
        while title in titles:
            suffix = f" {number}"
            title = shorten(choice.title, limit - len(suffix)) + suffix
            number += 1
        titles.append(title)
    return titles


def _buttons_message(body: str, choices: list[_Choice]) -> dict[str, Any]:
    titles = _unique_titles(choices, BUTTON_TITLE_MAX)
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": choice.id, "title": title}}
                    for choice, title in zip(choices, titles, strict=True)
                ]
            },
        },
    }


def _list_message(body: str, choices: list[_Choice]) -> dict[str, Any]:
    titles = _unique_titles(choices, ROW_TITLE_MAX)
    rows: list[dict[str, Any]] = []
    for choice, title in zip(choices, titles, strict=True):
        row: dict[str, Any] = {"id": choice.id[:ROW_ID_MAX], "title": title}
        full = choice.title.strip()
        if title != full:  # the rest of a long title, as the row's description
            row["description"] = shorten(full, ROW_DESCRIPTION_MAX)
        rows.append(row)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {"button": LIST_BUTTON, "sections": [{"rows": rows}]},
        },
    }


def _render_media(kind: str, media_id: str | None, caption: str, filename: str | None) -> list[dict[str, Any]]:
    caption = caption.strip()
    if media_id is None:  # a Telegram file id WhatsApp cannot fetch: the caption alone
        return [_text_message(part) for part in split_body(caption, TEXT_MAX)]
    media: dict[str, Any] = {"id": media_id}
    if filename:
        media["filename"] = filename
    rest: list[dict[str, Any]] = []
    if caption and len(caption) <= CAPTION_MAX:
        media["caption"] = caption
    elif caption:  # too long for a caption: the text follows
        rest = [_text_message(part) for part in split_body(caption, TEXT_MAX)]
    return [{"type": kind, kind: media}, *rest]


def _render_poll(poll: Poll, poll_id: str | None) -> list[dict[str, Any]]:
    if poll_id is None:
        raise ValueError("a poll needs the poll id its votes carry")
    if len(poll.options) > ROWS_MAX:
        raise Unrenderable(f"a poll of {len(poll.options)} options: WhatsApp shows at most {ROWS_MAX}")
    if not poll.options:
        raise Unrenderable("a poll without options")
    body = poll.question.strip() or "…"
    if poll.allows_multiple_answers:
        body = f"{body}\n\n{MULTIPLE_ANSWERS}"
    choices = [_Choice(poll_vote_id(poll_id, i), option) for i, option in enumerate(poll.options)]
    if len(choices) <= BUTTONS_MAX:
        return [_buttons_message(shorten(body, BUTTON_BODY_MAX), choices)]
    return [_list_message(shorten(body, LIST_BODY_MAX), choices)]


# -- outbound: outside the window -------------------------------------------------------------------------------


def template_for(payload: Payload, settings: Settings, *, poll_id: str | None = None) -> dict[str, Any] | None:
    """The approved template to send instead of this message when the resident's window is closed, or None.

    A Poll, or a Text/Photo whose outreach kind is a poll kind: WHATSAPP_TEMPLATE_POLL, body {{1}} the question
    (or the text), a quick-reply button with payload ``pv:<poll_id>:open`` (`poll_id`; for a Text/Photo without
    it, ``poll<outreach.poll_id>``). Other outreach Texts (check-in, nudge, announcement, results):
    WHATSAPP_TEMPLATE_CHECKIN, body {{1}} the text. Anything else: WHATSAPP_TEMPLATE_NOTICE when set.
    None when the template for it is not configured, and for StopPoll. Like `render`'s objects without `to`.
    """
    if isinstance(payload, StopPoll):
        return None
    outreach = getattr(payload, "outreach", None)
    kind = outreach.kind if outreach is not None else None
    if isinstance(payload, Poll) or (kind in POLL_KINDS and isinstance(payload, Text | Photo)):
        name = settings.whatsapp_template_poll
        if poll_id is None and outreach is not None and outreach.poll_id is not None:
            poll_id = f"poll{outreach.poll_id}"
        if not name or poll_id is None:
            return None
        return _template(name, settings, _template_text(payload), poll_vote_id(poll_id, "open"))
    if kind is not None and isinstance(payload, Text):
        name = settings.whatsapp_template_checkin
        return _template(name, settings, _template_text(payload), None) if name else None
    name = settings.whatsapp_template_notice
    return _template(name, settings, _template_text(payload), None) if name else None


def _template_text(payload: Payload) -> str:
    if isinstance(payload, Poll):
        return payload.question
    if isinstance(payload, Text | Edit):
        return html_to_whatsapp(payload.text)
    if isinstance(payload, Photo):
        return html_to_whatsapp(payload.caption or "")
    if isinstance(payload, Document):
        return payload.caption or payload.filename
    return ""


def _template(name: str, settings: Settings, text: str, button_payload: str | None) -> dict[str, Any]:
    components: list[dict[str, Any]] = [
        {"type": "body", "parameters": [{"type": "text", "text": clean_parameter(text)}]}
    ]
    if button_payload is not None:
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": button_payload}],
            }
        )
    return {
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": settings.whatsapp_template_language},
            "components": components,
        },
    }
