"""capacity risk: `callback_tasks.capacity_short`, and the coverage index covers it

The slack refresh sets `capacity_short` on an open task when the campaign's capacity (agents, or
the dispatcher's calls per second), serving members first and then the earliest deadline, cannot
reach it before its deadline (`dialer.capacity_risk`). `dialer coverage` counts such a task as at
risk, so the column joins `ix_callback_tasks_coverage` (the report stays one index-only pass).
The column is added with a server default (no table rewrite on SQLite or PostgreSQL); the index
is rebuilt once.

Revision ID: 0009_capacity_risk
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_capacity_risk"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COVERING = [
    "campaign_id",
    "state",
    "member",
    "deadline",
    "reached_at",
    "notified_at",
    "slack_seconds",
    "attempts_made",
    "created_at",
]


def upgrade() -> None:
    op.add_column(
        "callback_tasks",
        sa.Column("capacity_short", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.drop_index("ix_callback_tasks_coverage", table_name="callback_tasks")
    op.create_index(
        "ix_callback_tasks_coverage", "callback_tasks", [*COVERING, "capacity_short"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_callback_tasks_coverage", table_name="callback_tasks")
    op.create_index("ix_callback_tasks_coverage", "callback_tasks", COVERING, unique=False)
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_column("capacity_short")
