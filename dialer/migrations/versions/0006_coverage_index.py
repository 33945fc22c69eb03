"""coverage: the campaign/state/member index of callback_tasks becomes covering for `dialer coverage`

`ix_callback_tasks_campaign_state (campaign_id, state, member)` is replaced by
`ix_callback_tasks_coverage` with the same leading columns (so every query that used the old one
can use the new one) plus what the coverage report reads: deadline, reached_at, notified_at,
slack_seconds, attempts_made, created_at. The report is then one index-only pass in index order
(no table reads, no sort): 1,000,000 tasks in about half a second on SQLite.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
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
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_tasks_campaign_state")
        batch_op.create_index("ix_callback_tasks_coverage", COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_tasks_coverage")
        batch_op.create_index(
            "ix_callback_tasks_campaign_state", ["campaign_id", "state", "member"], unique=False
        )
