"""What an outbox row asks Telegram to do: one frozen type per Bot API method the bot uses.

A row stores its method (`outbox.method`) and its payload as JSON (`outbox.payload`); `to_json` writes the
same keys the rows have always had (a field at its default is left out), and `from_json` reads every row
written before these types existed. A key no type has is ignored: the old rows' `parse_mode`, which nothing
read (the transport sends texts and captions as HTML and falls back to plain text). The transport
(bot/telegram_transport.py) turns each type into one Bot API call; docs/outbox.md lists who writes which,
under which purpose.

Nothing here imports telegram: the types are plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

Buttons = list[list[dict[str, str]]]  # an inline keyboard: rows of {"text", "callback_data"}
RasaButtons = list[dict[str, str]]  # Rasa's buttons: {"title", "payload"}; the payload stays in the database


class UnreadablePayload(ValueError):
    """A stored row whose method is unknown or whose payload lacks what its method needs."""


@dataclass(frozen=True)
class OutreachMark:
    """An unsolicited message (poll, check-in, nudge, results): screened when claimed (wijkbot.outreach)."""

    resident_id: int
    kind: str
    poll_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return _compact(self)

    @classmethod
    def from_json(cls, data: Any) -> OutreachMark | None:
        if not isinstance(data, dict):
            return None
        poll_id = data.get("poll_id")
        return cls(int(data["resident_id"]), str(data["kind"]), int(poll_id) if poll_id is not None else None)


@dataclass(frozen=True)
class Ballot:
    """Which ballot a Telegram poll is: its poll id is recorded on the ballot once sent (wijkbot.polls)."""

    poll_id: int
    resident_id: int

    def to_json(self) -> dict[str, Any]:
        return _compact(self)


@dataclass(frozen=True)
class Upload:
    """A stored file's bytes, attached by the sender when it claims a row (wijkbot.media); never stored."""

    data: bytes
    filename: str


@dataclass(frozen=True, kw_only=True)
class Text:
    """sendMessage: HTML text, with inline buttons or Rasa's buttons (not both)."""

    METHOD: ClassVar[str] = "sendMessage"
    text: str
    buttons: Buttons | None = None
    rasa_buttons: RasaButtons | None = None
    outreach: OutreachMark | None = None
    ephemeral: bool = False  # deleted instead of marked sent (the goodbye after an erasure)
    # a question whose answer the resident types: Telegram opens the reply field (ForceReply) with this
    # placeholder, and the answer arrives as a reply to this message (wijkbot.initiatives: the postcode)
    ask: str | None = None


@dataclass(frozen=True, kw_only=True)
class Photo:
    """sendPhoto: a Telegram file id (`photo`) or a stored file (`media_id`), with an HTML caption."""

    METHOD: ClassVar[str] = "sendPhoto"
    photo: str | None = None
    media_id: int | None = None
    caption: str | None = None
    outreach: OutreachMark | None = None
    upload: Upload | None = None  # set at claim for a file Telegram has not seen; not stored


@dataclass(frozen=True, kw_only=True)
class Poll:
    """sendPoll: a native, non-anonymous Telegram poll (votes must reach the bot)."""

    METHOD: ClassVar[str] = "sendPoll"
    question: str
    options: list[str]
    allows_multiple_answers: bool = False
    ballot: Ballot | None = None
    outreach: OutreachMark | None = None


@dataclass(frozen=True, kw_only=True)
class Document:
    """sendDocument: a text file built in memory (the /mijngegevens export), plain caption."""

    METHOD: ClassVar[str] = "sendDocument"
    document_text: str
    filename: str
    caption: str | None = None


@dataclass(frozen=True, kw_only=True)
class Edit:
    """editMessageText: replace the text (and buttons) of a message the bot sent earlier."""

    METHOD: ClassVar[str] = "editMessageText"
    message_id: int
    text: str
    buttons: Buttons | None = None


@dataclass(frozen=True, kw_only=True)
class StopPoll:
    """stopPoll: close a Telegram poll the bot sent."""

    METHOD: ClassVar[str] = "stopPoll"
    message_id: int


Payload = Text | Photo | Poll | Document | Edit | StopPoll
TYPES: dict[str, type[Payload]] = {t.METHOD: t for t in (Text, Photo, Poll, Document, Edit, StopPoll)}
NOT_STORED = frozenset({"upload"})


@dataclass(frozen=True)
class Delivery:
    """What the channel gave back for a sent row: its message id, and for a poll or photo the ids to keep."""

    message_id: int | None
    poll_id: str | None = None
    file_id: str | None = None
    channel_message_id: str | None = None  # the platform's own id, when not a number (WhatsApp's wamid)


def _compact(value: Any) -> dict[str, Any]:
    """The fields of a dataclass that differ from their defaults, nested marks as JSON."""
    data: dict[str, Any] = {}
    for spec in fields(value):
        item = getattr(value, spec.name)
        if spec.name in NOT_STORED or item is None or item is False:
            continue
        data[spec.name] = item.to_json() if isinstance(item, OutreachMark | Ballot) else item
    return data


def to_json(payload: Payload) -> dict[str, Any]:
    """The row's `payload` column for this message."""
    return _compact(payload)


def from_json(method: str, data: dict[str, Any]) -> Payload:
    """The message a stored row holds; UnreadablePayload when its method is unknown or a field is missing."""
    kind = TYPES.get(method)
    if kind is None:
        raise UnreadablePayload(f"unknown outbox method {method}")
    known = {spec.name for spec in fields(kind)} - NOT_STORED
    values = {k: v for k, v in data.items() if k in known}
    try:
        if "outreach" in values:
            values["outreach"] = OutreachMark.from_json(values["outreach"])
        if isinstance(values.get("ballot"), dict):
            values["ballot"] = Ballot(int(values["ballot"]["poll_id"]), int(values["ballot"]["resident_id"]))
        return kind(**values)
    except (TypeError, ValueError, KeyError) as exc:
        raise UnreadablePayload(f"{method}: {exc}") from exc
