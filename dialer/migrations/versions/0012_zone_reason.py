"""zone reason: `callback_tasks.zone_reason`, why the task's window is not the plain one

The planner stores the reason `windows.effective_zones` gives when a customer's zones did not
simply apply (they share no moment inside the campaign hours, the number has no zone and gets its
country's safe window, or no moment is legal in every zone and the task is not callable), so that
`dialer plan` and `dialer coverage --list` can say so by name long after the plan run. NULL for
the usual task. A nullable column: no table rewrite on SQLite or PostgreSQL.

Revision ID: 0012_zone_reason
Revises: 0011_claimable_only
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_zone_reason"
down_revision: str | None = "0011_claimable_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("callback_tasks", sa.Column("zone_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the old table, and with foreign
    # keys on that cascades into the rows that refer to it (tasks, attempts, cases).
    op.drop_column("callback_tasks", "zone_reason")
