"""poll tally: closed polls keep counts per area, not ballots

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-01 11:45:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_tally",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("area_code", sa.String(length=10), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("votes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.id"], name=op.f("fk_poll_tally_poll_id_poll"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("poll_id", "area_code", name=op.f("pk_poll_tally")),
    )
    # polls closed before this revision: sum their ballots into tallies, then unlink them from residents
    bind = op.get_bind()
    polls = {pid: len(options) for pid, options in _closed_polls(bind)}
    tallies: dict[tuple[int, str], list[int]] = {}
    recipients: dict[tuple[int, str], int] = {}
    ballots = bind.execute(sa.text("SELECT poll_id, area_code, option_ids FROM poll_ballot")).all()
    for poll_id, area_code, option_ids in ballots:
        if poll_id not in polls:
            continue
        key = (poll_id, area_code)
        counts = tallies.setdefault(key, [0] * polls[poll_id])
        recipients[key] = recipients.get(key, 0) + 1
        for option in _json(option_ids) or []:
            if 0 <= int(option) < len(counts):
                counts[int(option)] += 1
    tally = sa.table(
        "poll_tally",
        sa.column("poll_id", sa.Integer()),
        sa.column("area_code", sa.String()),
        sa.column("recipients", sa.Integer()),
        sa.column("votes", sa.JSON()),
    )
    if tallies:
        op.bulk_insert(
            tally,
            [
                {"poll_id": p, "area_code": a, "recipients": recipients[(p, a)], "votes": votes}
                for (p, a), votes in tallies.items()
            ],
        )
    for poll_id in polls:
        bind.execute(sa.text("DELETE FROM poll_ballot WHERE poll_id = :p"), {"p": poll_id})


def _closed_polls(bind: sa.Connection) -> list[tuple[int, list[str]]]:
    rows = bind.execute(sa.text("SELECT id, options FROM poll WHERE status = 'closed'")).all()
    return [(int(pid), _json(options) or []) for pid, options in rows]


def _json(value: object) -> list[Any] | None:
    """A JSON column as read through plain SQL: already a list on PostgreSQL, a string on SQLite."""
    if value is None or isinstance(value, list):
        return value
    loaded = json.loads(str(value))
    return loaded if isinstance(loaded, list) else None


def downgrade() -> None:
    op.drop_table("poll_tally")
