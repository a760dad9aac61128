"""outbox fencing: a claim token checked on every state change, when a send started, when it became uncertain

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot drop columns in place (downgrade); on PostgreSQL it is plain ALTER TABLE
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("send_started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("uncertain_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # 'uncertain' exists only from this revision on: such rows count as failed before it
    op.execute("UPDATE outbox SET status = 'failed' WHERE status = 'uncertain'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("uncertain_at")
        batch.drop_column("send_started_at")
        batch.drop_column("claim_token")
