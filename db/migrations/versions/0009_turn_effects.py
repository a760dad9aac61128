"""turn effects: a side effect of a resident turn is done once per (resident, Telegram update, action)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "turn_effect",
        sa.Column("telegram_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("telegram_id", "update_id", "action", name=op.f("pk_turn_effect")),
    )
    op.create_index(op.f("ix_turn_effect_created_at"), "turn_effect", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_turn_effect_created_at"), table_name="turn_effect")
    op.drop_table("turn_effect")
