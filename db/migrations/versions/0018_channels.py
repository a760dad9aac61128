"""Channels (issue 14): residents on the web chat and WhatsApp beside Telegram

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 18:30:00

- `channel_address`: a person on a channel other than Telegram (a web chat session, a WhatsApp number) and
  the chat id the rest of wijkbot knows them by (from 2**53 up: never a Telegram id), with the time they last
  wrote (WhatsApp's 24-hour window).
- `outbox.channel` (existing rows: telegram), the platform's own message id and its last reported status.
- `channel_counter`: the last chat id and update id given out, so that none is given twice (not even after an
  erasure removed the highest), and the last number of a web chat message in the order the sends committed
  (`outbox.channel_seq`: the widget's cursor).
- `early_status`: a status that arrived before its send was recorded (Meta may answer that fast).
- `inbound_update.channel` and `external_id`: the platform's message id, stored once per channel.

Going back drops them; rows for other channels then read as Telegram rows to chats that do not exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_address")),
        sa.UniqueConstraint("chat_id", name=op.f("uq_channel_address_chat_id")),
        sa.UniqueConstraint("channel", "address", name=op.f("uq_channel_address_channel")),
    )
    counter = op.create_table(
        "channel_counter",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_channel_counter")),
    )
    op.bulk_insert(
        counter,
        [{"name": "chat", "value": 2**53}, {"name": "update", "value": 2**53}, {"name": "web", "value": 0}],
    )
    op.create_table(
        "early_status",
        sa.Column("channel_message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("channel_message_id", name=op.f("pk_early_status")),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=20), nullable=False, server_default="telegram"))
        batch.add_column(sa.Column("channel_message_id", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("channel_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("channel_status_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("channel_seq", sa.BigInteger(), nullable=True))
        batch.create_index(op.f("ix_outbox_channel_message_id"), ["channel_message_id"])
        batch.create_index("ix_outbox_chat", ["recipient_chat_id", "id"])
    with op.batch_alter_table("inbound_update") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=20), nullable=False, server_default="telegram"))
        batch.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch.create_unique_constraint(op.f("uq_inbound_update_channel"), ["channel", "external_id"])


def downgrade() -> None:
    with op.batch_alter_table("inbound_update") as batch:
        batch.drop_constraint(op.f("uq_inbound_update_channel"), type_="unique")
        batch.drop_column("external_id")
        batch.drop_column("channel")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_chat")
        batch.drop_index(op.f("ix_outbox_channel_message_id"))
        batch.drop_column("channel_seq")
        batch.drop_column("channel_status_at")
        batch.drop_column("channel_status")
        batch.drop_column("channel_message_id")
        batch.drop_column("channel")
    op.drop_table("early_status")
    op.drop_table("channel_counter")
    op.drop_table("channel_address")
