"""resident.offered_at, resident.offer_declined_at: when the opt-in was last offered and last declined (issue 12)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 11:45:00

The offer of outreach ("Wil je af en toe horen wat er in … speelt?") is made at most once a week and not for
90 days after a "nee" (wijkbot.offers). Going back drops both columns: the offer may then be made again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.add_column(sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("offer_declined_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.drop_column("offer_declined_at")
        batch.drop_column("offered_at")
