"""resident.source: the source of the wijk link (flyer, wijkkrant …) that brought a resident (issue 12)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00

Going back drops the column: the subscriptions stay, only where they came from is forgotten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.add_column(sa.Column("source", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.drop_column("source")
