"""announcement, announcement_reply: a raad or staff member's announcement to their wijk's subscribers, and the
residents' "Ik kom" / "Herinner me" (issue 12)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 12:00:00

Going back drops both tables: the announcements and the answers to them are forgotten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "announcement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("creator_staff_id", sa.Integer(), nullable=True),
        sa.Column("area_codes", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_staff_id"],
            ["staff_member.id"],
            name=op.f("fk_announcement_creator_staff_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcement")),
    )
    op.create_table(
        "announcement_reply",
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcement.id"],
            name=op.f("fk_announcement_reply_announcement_id_announcement"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_announcement_reply_resident_id_resident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("announcement_id", "resident_id", "answer", name=op.f("pk_announcement_reply")),
    )


def downgrade() -> None:
    op.drop_table("announcement_reply")
    op.drop_table("announcement")
