"""poll.allows_multiple, poll_tally.voters: polls where residents may pick several answers (issue 12)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 12:15:00

A poll with several answers per resident counts its voters apart from its votes; a closed poll keeps the
number of voters per area in its tally (NULL for tallies sealed before: one answer each, so the votes are
the voters). Going back drops both columns: such polls then read as polls with one answer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poll") as batch:
        batch.add_column(sa.Column("allows_multiple", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("poll_tally") as batch:
        batch.add_column(sa.Column("voters", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("poll_tally") as batch:
        batch.drop_column("voters")
    with op.batch_alter_table("poll") as batch:
        batch.drop_column("allows_multiple")
