"""The database schema, as SQLAlchemy 2 typed models. Migrations in db/migrations follow these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, int: Integer}


# --- municipality data (loaded from wijkbot/data, idempotently) ---------------------------------


class Municipality(Base):
    __tablename__ = "municipality"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    staff_title: Mapped[str] = mapped_column(String(60))
    council_title: Mapped[str] = mapped_column(String(60))


class Body(Base):
    """A participation body: wijkraad, dorpsraad or village association."""

    __tablename__ = "body"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipality.code"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    website: Mapped[str | None] = mapped_column(String(300))


class Area(Base):
    """A wijk or dorp (a CBS wijk)."""

    __tablename__ = "area"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(ForeignKey("municipality.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    population: Mapped[int | None]
    body_id: Mapped[str | None] = mapped_column(ForeignKey("body.id"))

    buurten: Mapped[list[Buurt]] = relationship(back_populates="area", order_by="Buurt.code")


class Buurt(Base):
    __tablename__ = "buurt"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    area_code: Mapped[str] = mapped_column(ForeignKey("area.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    population: Mapped[int | None]
    pc4: Mapped[str | None] = mapped_column(String(4))

    area: Mapped[Area] = relationship(back_populates="buurten")


# --- people ---------------------------------------------------------------------------------------


class StaffMember(Base):
    """A wijkmakelaar, wijkcoördinator, council member or lead. Rights come from here, never the chat."""

    __tablename__ = "staff_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(40))
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    invite_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What this person's next typed message means: {"action": "reply"|"close", "item_id": 12}, or None.
    awaiting: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    areas: Mapped[list[StaffArea]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def area_codes(self) -> list[str]:
        return sorted(a.area_code for a in self.areas)


class WebLogin(Base):
    """A one-time link into the web workspace (wijkbot.web_login): only a hash of the token is kept, so the
    database alone cannot sign anyone in; it works once, until `expires_at`."""

    __tablename__ = "web_login"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_member.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class StaffArea(Base):
    __tablename__ = "staff_area"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_member.id", ondelete="CASCADE"), primary_key=True)
    area_code: Mapped[str] = mapped_column(ForeignKey("area.code"), primary_key=True)


class Resident(Base):
    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    first_name: Mapped[str | None] = mapped_column(String(120))
    language: Mapped[str | None] = mapped_column(String(10))
    area_code: Mapped[str | None] = mapped_column(ForeignKey("area.code"))
    buurt_code: Mapped[str | None] = mapped_column(ForeignKey("buurt.code"))
    postcode: Mapped[str | None] = mapped_column(String(6))
    outreach_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None]
    consent_via: Mapped[str | None] = mapped_column(String(40))
    # the source of the wijk link that brought them (flyer, wijkkrant …), kept once they subscribed (wijkbot.reach)
    source: Mapped[str | None] = mapped_column(String(32))
    # the opt-in offer (wijkbot.offers): last made, and last answered "nee" (or an opt-out)
    offered_at: Mapped[datetime | None]
    offer_declined_at: Mapped[datetime | None]
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- items: ideas, reports, questions -------------------------------------------------------------


class Item(Base):
    """What a resident brought. Every write goes through wijkbot.items."""

    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    area_code: Mapped[str | None] = mapped_column(ForeignKey("area.code"), index=True)
    text: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    routed_role: Mapped[str | None] = mapped_column(String(40))
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None] = mapped_column(index=True)
    escalate_at: Mapped[datetime | None]
    # An open conversation: the resident's messages go to this staff member, not to Rasa, until then.
    thread_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    thread_until: Mapped[datetime | None]

    events: Mapped[list[ItemEvent]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="ItemEvent.id"
    )
    recipients: Mapped[list[ItemRecipient]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ItemRecipient(Base):
    """A staff member or council member an item was routed to."""

    __tablename__ = "item_recipient"

    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_member.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20), default="route")


class ItemEvent(Base):
    """The status history of an item, and the messages exchanged about it."""

    __tablename__ = "item_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str | None] = mapped_column(String(20))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    text: Mapped[str | None] = mapped_column(Text)

    item: Mapped[Item] = relationship(back_populates="events")


# --- initiatives: an idea that asks neighbours for support, or the municipality for money ----------


class Initiative(Base):
    """The initiative side of an item of kind `initiative` (its stage is the item's status, wijkbot.workflow).
    Every write goes through wijkbot.initiatives."""

    __tablename__ = "initiative"

    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)
    share_code: Mapped[str] = mapped_column(String(16), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    requested: Mapped[int | None]  # whole euros the initiator asks for; None: support only
    granted: Mapped[int | None]  # whole euros granted
    budget_year: Mapped[int | None]  # the year whose budget the grant was taken from
    fund: Mapped[str | None] = mapped_column(String(80))  # the other fund it was pointed to
    reason: Mapped[str | None] = mapped_column(Text)  # why it does not fit
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    support_needed: Mapped[int] = mapped_column(default=10)
    support_until: Mapped[datetime | None]
    scope: Mapped[str] = mapped_column(String(20), default="area")  # whose support counts: area, municipality
    criteria: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the checklist's answers, when money is asked
    photo: Mapped[str | None] = mapped_column(String(200))  # a Telegram file id of the result
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    supporters: Mapped[list[Supporter]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Supporter.id"
    )


class Supporter(Base):
    """A neighbour who supports an initiative (`joins`: also helps). Deleted with the resident (/vergeetmij)."""

    __tablename__ = "supporter"
    __table_args__ = (UniqueConstraint("item_id", "resident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("initiative.item_id", ondelete="CASCADE"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"), index=True)
    joins: Mapped[bool] = mapped_column(Boolean, default=False)
    area_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- messaging: what came in, what goes out -------------------------------------------------------


class InboundUpdate(Base):
    """Every Telegram update, stored before it is handled; `update_id` makes redelivery harmless."""

    __tablename__ = "inbound_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    # Which channel it came from (wijkbot.channels); for the web chat and WhatsApp the platform's own message
    # id, stored once: a webhook delivered twice or a widget's retried POST is one update.
    channel: Mapped[str] = mapped_column(String(20), default="telegram", server_default="telegram")
    external_id: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("channel", "external_id"),)


class OutboxMessage(Base):
    """A message to send. Written in the same transaction as its cause; sent only by the outbox sender."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("purpose", "recipient_chat_id", name="uq_outbox_purpose_recipient"),
        Index("ix_outbox_due", "status", "not_before"),
        Index("ix_outbox_chat", "recipient_chat_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(120))
    recipient_chat_id: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(30), default="sendMessage")
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    priority: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(60))
    claimed_at: Mapped[datetime | None]
    # Fencing (wijkbot.outbox): every claim writes a fresh token; a result is recorded only by the holder.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # When the current claimant started the Bot API call: a row reclaimed with this set may have arrived.
    send_started_at: Mapped[datetime | None]
    # When a send's outcome first became unknown (a timeout after the request went out; wijkbot.delivery).
    uncertain_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id", ondelete="SET NULL"))
    # The channel it goes out on (wijkbot.channels): the sender hands it to that channel's transport. WhatsApp's
    # own message id (wamid) and the last status its webhook reported (sent, delivered, read, failed).
    channel: Mapped[str] = mapped_column(String(20), default="telegram", server_default="telegram")
    channel_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    channel_status: Mapped[str | None] = mapped_column(String(20))
    channel_status_at: Mapped[datetime | None]
    # the web chat: numbered in the order the sends were recorded (the widget's cursor; rows are claimed by
    # priority and due time, so row ids are not that order)
    channel_seq: Mapped[int | None] = mapped_column(BigInteger)


class ChannelCounter(Base):
    """The last chat id ("chat") and update id ("update") given out on the other channels: never given twice."""

    __tablename__ = "channel_counter"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class EarlyStatus(Base):
    """A platform's status for a message whose send is not recorded yet (the webhook can beat the sender's
    own bookkeeping); applied to the outbox row when the send is recorded (wijkbot.outbox)."""

    __tablename__ = "early_status"

    channel_message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    error: Mapped[str | None] = mapped_column(Text)


class ChannelAddress(Base):
    """A person on a channel other than Telegram (a web chat session, a WhatsApp number) and the chat id the
    rest of wijkbot knows them by: from wijkbot.channels.CHANNEL_BASE (2**53) up, never a Telegram id."""

    __tablename__ = "channel_address"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(200))
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    last_inbound_at: Mapped[datetime | None]  # WhatsApp's 24-hour customer-service window starts here
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- polls and outreach ---------------------------------------------------------------------------


class Media(Base):
    """A file to send (e.g. a results chart). Uploaded once; Telegram's file id is reused afterwards."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(100))
    content_type: Mapped[str] = mapped_column(String(60))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    telegram_file_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Poll(Base):
    """A neighbourhood poll: scheduled, then open (sent to the subscribers of its areas), then closed."""

    __tablename__ = "poll"
    __table_args__ = (Index("ix_poll_status_starts_at", "status", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON)
    area_codes: Mapped[list[str]] = mapped_column(JSON)
    creator_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    created_via: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    starts_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    results_media_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    # residents may pick several answers (Telegram's allows_multiple_answers; issue 12)
    allows_multiple: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # only the subscribers who live in these buurten of its areas (resident.buurt_code); None: the whole areas
    buurt_codes: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))


class PollBallot(Base):
    """One resident's copy of a poll: which Telegram poll it became, and their current vote."""

    __tablename__ = "poll_ballot"

    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id", ondelete="CASCADE"), primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"), primary_key=True)
    area_code: Mapped[str] = mapped_column(String(10))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    telegram_poll_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    option_ids: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))
    voted_at: Mapped[datetime | None]
    changes: Mapped[int] = mapped_column(default=0)


class PollTally(Base):
    """A closed poll's counts for one area. At closing the ballots are summed here and deleted, so nothing
    links a resident to a choice any more: the invitation promises that the municipality sees only totals."""

    __tablename__ = "poll_tally"

    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id", ondelete="CASCADE"), primary_key=True)
    area_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    recipients: Mapped[int]
    votes: Mapped[list[int]] = mapped_column(JSON)
    voters: Mapped[int | None]  # None: sealed before polls could have several answers (votes == voters)


class OutreachContact(Base):
    """An unsolicited message planned for a resident (poll, check-in, nudge): the weekly cap counts these."""

    __tablename__ = "outreach_contact"
    __table_args__ = (Index("ix_outreach_contact_resident_at", "resident_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime]


class CheckinSchedule(Base):
    """When an area's next periodic check-in is due."""

    __tablename__ = "checkin_schedule"

    area_code: Mapped[str] = mapped_column(ForeignKey("area.code"), primary_key=True)
    next_at: Mapped[datetime]
    last_at: Mapped[datetime | None]


class OpenQuestion(Base):
    """The assistant asked this resident a form question and is waiting for the answer (for one nudge)."""

    __tablename__ = "open_question"

    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"), primary_key=True)
    asked_at: Mapped[datetime] = mapped_column(index=True)
    nudged_at: Mapped[datetime | None]


class TurnEffect(Base):
    """What a side effect of one resident turn gave (the item filed, the subscription changed), keyed by the
    Telegram update that caused it. Rasa may run a turn twice (the bot gave up waiting and sent it again);
    the second run finds this row and answers with the first result instead of acting again."""

    __tablename__ = "turn_effect"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(60), primary_key=True)
    result: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# --- announcements (issue 12) ------------------------------------------------------------------------


class Announcement(Base):
    """A raad or staff member's message to the subscribers of their wijk: a meeting, a buurtschouw, an inloop
    (wijkbot.announcements). Sent at once within the outreach caps and quiet hours."""

    __tablename__ = "announcement"

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="SET NULL"))
    area_codes: Mapped[list[str]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]  # when the meeting is
    place: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(default=0)  # residents it was queued for
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnnouncementReply(Base):
    """A resident's "Ik kom" or "Herinner me" under an announcement."""

    __tablename__ = "announcement_reply"

    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcement.id", ondelete="CASCADE"), primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"), primary_key=True)
    answer: Mapped[str] = mapped_column(String(10), primary_key=True)  # come, remind
    at: Mapped[datetime]
