"""initiative and supporter: an idea that asks neighbours for support, or the municipality for money (issue 11)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 12:00:00

Going back drops both tables: the items stay (of kind `initiative`, with their stage as status).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "initiative",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("share_code", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("requested", sa.Integer(), nullable=True),
        sa.Column("granted", sa.Integer(), nullable=True),
        sa.Column("budget_year", sa.Integer(), nullable=True),
        sa.Column("fund", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("support_needed", sa.Integer(), nullable=False),
        sa.Column("support_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("photo", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["staff_member.id"],
            name=op.f("fk_initiative_decided_by_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], name=op.f("fk_initiative_item_id_item"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_initiative")),
        sa.UniqueConstraint("share_code", name=op.f("uq_initiative_share_code")),
    )
    op.create_table(
        "supporter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("joins", sa.Boolean(), nullable=False),
        sa.Column("area_code", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["initiative.item_id"], name=op.f("fk_supporter_item_id_initiative"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_supporter_resident_id_resident"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supporter")),
        sa.UniqueConstraint("item_id", "resident_id", name=op.f("uq_supporter_item_id")),
    )
    op.create_index(op.f("ix_supporter_item_id"), "supporter", ["item_id"])
    op.create_index(op.f("ix_supporter_resident_id"), "supporter", ["resident_id"])


def downgrade() -> None:
    op.drop_table("supporter")
    op.drop_table("initiative")
