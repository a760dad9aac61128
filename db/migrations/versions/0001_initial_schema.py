"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 07:16:26.093072
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "inbound_update",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_inbound_update")),
    )
    with op.batch_alter_table("inbound_update", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_update_chat_id"), ["chat_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbound_update_status"), ["status"], unique=False)

    op.create_table(
        "municipality",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("staff_title", sa.String(length=60), nullable=False),
        sa.Column("council_title", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_municipality")),
    )
    op.create_table(
        "staff_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("invite_code", sa.String(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_member")),
        sa.UniqueConstraint("invite_code", name=op.f("uq_staff_member_invite_code")),
        sa.UniqueConstraint("telegram_id", name=op.f("uq_staff_member_telegram_id")),
    )
    op.create_table(
        "body",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("municipality_code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["municipality_code"], ["municipality.code"], name=op.f("fk_body_municipality_code_municipality")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_body")),
    )
    op.create_table(
        "area",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("municipality_code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("body_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["body_id"], ["body.id"], name=op.f("fk_area_body_id_body")),
        sa.ForeignKeyConstraint(
            ["municipality_code"], ["municipality.code"], name=op.f("fk_area_municipality_code_municipality")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_area")),
    )
    with op.batch_alter_table("area", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_area_municipality_code"), ["municipality_code"], unique=False)

    op.create_table(
        "buurt",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("area_code", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("pc4", sa.String(length=4), nullable=True),
        sa.ForeignKeyConstraint(["area_code"], ["area.code"], name=op.f("fk_buurt_area_code_area")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_buurt")),
    )
    with op.batch_alter_table("buurt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_buurt_area_code"), ["area_code"], unique=False)

    op.create_table(
        "postcode_area",
        sa.Column("pc4", sa.String(length=4), nullable=False),
        sa.Column("area_code", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["area_code"], ["area.code"], name=op.f("fk_postcode_area_area_code_area")),
        sa.PrimaryKeyConstraint("pc4", "area_code", name=op.f("pk_postcode_area")),
    )
    op.create_table(
        "staff_area",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("area_code", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["area_code"], ["area.code"], name=op.f("fk_staff_area_area_code_area")),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_member.id"],
            name=op.f("fk_staff_area_staff_id_staff_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", "area_code", name=op.f("pk_staff_area")),
    )
    op.create_table(
        "resident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("first_name", sa.String(length=120), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("area_code", sa.String(length=10), nullable=True),
        sa.Column("buurt_code", sa.String(length=10), nullable=True),
        sa.Column("postcode", sa.String(length=6), nullable=True),
        sa.Column("outreach_opt_in", sa.Boolean(), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_via", sa.String(length=40), nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_code"], ["area.code"], name=op.f("fk_resident_area_code_area")),
        sa.ForeignKeyConstraint(["buurt_code"], ["buurt.code"], name=op.f("fk_resident_buurt_code_buurt")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident")),
        sa.UniqueConstraint("telegram_id", name=op.f("uq_resident_telegram_id")),
    )
    op.create_table(
        "item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("area_code", sa.String(length=10), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("routed_role", sa.String(length=40), nullable=True),
        sa.Column("assigned_staff_id", sa.Integer(), nullable=True),
        sa.Column("claimed_by_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["area_code"], ["area.code"], name=op.f("fk_item_area_code_area")),
        sa.ForeignKeyConstraint(
            ["assigned_staff_id"],
            ["staff_member.id"],
            name=op.f("fk_item_assigned_staff_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by_id"],
            ["staff_member.id"],
            name=op.f("fk_item_claimed_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_item_resident_id_resident"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item")),
    )
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_area_code"), ["area_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_remind_at"), ["remind_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_resident_id"), ["resident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_status"), ["status"], unique=False)

    op.create_table(
        "item_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], name=op.f("fk_item_event_item_id_item"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_member.id"],
            name=op.f("fk_item_event_staff_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_event")),
    )
    with op.batch_alter_table("item_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_event_item_id"), ["item_id"], unique=False)

    op.create_table(
        "item_recipient",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["item.id"], name=op.f("fk_item_recipient_item_id_item"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_member.id"],
            name=op.f("fk_item_recipient_staff_id_staff_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", "staff_id", name=op.f("pk_item_recipient")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=120), nullable=False),
        sa.Column("recipient_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=60), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], name=op.f("fk_outbox_item_id_item"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("purpose", "recipient_chat_id", name="uq_outbox_purpose_recipient"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "not_before"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    op.drop_table("item_recipient")
    with op.batch_alter_table("item_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_event_item_id"))

    op.drop_table("item_event")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_status"))
        batch_op.drop_index(batch_op.f("ix_item_resident_id"))
        batch_op.drop_index(batch_op.f("ix_item_remind_at"))
        batch_op.drop_index(batch_op.f("ix_item_area_code"))

    op.drop_table("item")
    op.drop_table("resident")
    op.drop_table("staff_area")
    op.drop_table("postcode_area")
    with op.batch_alter_table("buurt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buurt_area_code"))

    op.drop_table("buurt")
    with op.batch_alter_table("area", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_area_municipality_code"))

    op.drop_table("area")
    op.drop_table("body")
    op.drop_table("staff_member")
    op.drop_table("municipality")
    with op.batch_alter_table("inbound_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_update_status"))
        batch_op.drop_index(batch_op.f("ix_inbound_update_chat_id"))

    op.drop_table("inbound_update")
