"""staff loop

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:24:55.982211
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread_staff_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("thread_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_item_thread_staff_id_staff_member"),
            "staff_member",
            ["thread_staff_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("staff_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("awaiting", sa.JSON(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("staff_member", schema=None) as batch_op:
        batch_op.drop_column("awaiting")

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_item_thread_staff_id_staff_member"), type_="foreignkey")
        batch_op.drop_column("thread_until")
        batch_op.drop_column("thread_staff_id")
