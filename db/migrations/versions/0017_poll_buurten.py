"""poll.buurt_codes: a poll for one or more buurten of its wijk instead of the whole wijk (issue 12)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 12:30:00

NULL is the whole of the poll's areas, as before. Going back drops the column: such polls then read as polls
for their whole areas (ballots already sent stay as they are).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poll") as batch:
        batch.add_column(sa.Column("buurt_codes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("poll") as batch:
        batch.drop_column("buurt_codes")
