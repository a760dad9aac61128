"""drop postcode_area: the PC4 index was written at every load and never read (postcodes resolve from the
registry, wijkbot.postcodes)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00

Going back recreates the empty table; the loader of that revision fills it again at its next start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("postcode_area")


def downgrade() -> None:
    op.create_table(
        "postcode_area",
        sa.Column("pc4", sa.String(length=4), nullable=False),
        sa.Column("area_code", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["area_code"], ["area.code"], name=op.f("fk_postcode_area_area_code_area")),
        sa.PrimaryKeyConstraint("pc4", "area_code", name=op.f("pk_postcode_area")),
    )
