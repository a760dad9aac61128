"""polls outreach

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 07:39:09.170861
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=100), nullable=False),
        sa.Column("content_type", sa.String(length=60), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("telegram_file_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
    )
    op.create_table(
        "poll",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("area_codes", sa.JSON(), nullable=False),
        sa.Column("creator_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_via", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("results_media_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["creator_staff_id"],
            ["staff_member.id"],
            name=op.f("fk_poll_creator_staff_id_staff_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["results_media_id"], ["media.id"], name=op.f("fk_poll_results_media_id_media"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll")),
    )
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.create_index("ix_poll_status_starts_at", ["status", "starts_at"], unique=False)

    op.create_table(
        "checkin_schedule",
        sa.Column("area_code", sa.String(length=10), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["area_code"], ["area.code"], name=op.f("fk_checkin_schedule_area_code_area")),
        sa.PrimaryKeyConstraint("area_code", name=op.f("pk_checkin_schedule")),
    )
    op.create_table(
        "open_question",
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nudged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_open_question_resident_id_resident"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("resident_id", name=op.f("pk_open_question")),
    )
    with op.batch_alter_table("open_question", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_open_question_asked_at"), ["asked_at"], unique=False)

    op.create_table(
        "outreach_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=60), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_outreach_contact_resident_id_resident"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outreach_contact")),
    )
    with op.batch_alter_table("outreach_contact", schema=None) as batch_op:
        batch_op.create_index("ix_outreach_contact_resident_at", ["resident_id", "at"], unique=False)

    op.create_table(
        "poll_ballot",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("area_code", sa.String(length=10), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_poll_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("option_ids", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.id"], name=op.f("fk_poll_ballot_poll_id_poll"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_poll_ballot_resident_id_resident"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("poll_id", "resident_id", name=op.f("pk_poll_ballot")),
        sa.UniqueConstraint("telegram_poll_id", name=op.f("uq_poll_ballot_telegram_poll_id")),
    )


def downgrade() -> None:
    op.drop_table("poll_ballot")
    with op.batch_alter_table("outreach_contact", schema=None) as batch_op:
        batch_op.drop_index("ix_outreach_contact_resident_at")

    op.drop_table("outreach_contact")
    with op.batch_alter_table("open_question", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_open_question_asked_at"))

    op.drop_table("open_question")
    op.drop_table("checkin_schedule")
    with op.batch_alter_table("poll", schema=None) as batch_op:
        batch_op.drop_index("ix_poll_status_starts_at")

    op.drop_table("poll")
    op.drop_table("media")
