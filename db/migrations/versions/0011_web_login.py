"""web login: one-time links into the staff workspace, stored as a hash of the token

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_login",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_member.id"], name=op.f("fk_web_login_staff_id_staff_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_login")),
    )
    op.create_index(op.f("ix_web_login_staff_id"), "web_login", ["staff_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_login_staff_id"), table_name="web_login")
    op.drop_table("web_login")
