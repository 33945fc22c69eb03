"""claimable only: on PostgreSQL the claim's partial index is the only one that serves its window

The claim reads its window of candidates as `coalesce(state = 'scheduled', false) AND due_at
<= now ORDER BY due_at, id LIMIT n`, and the partial index `ix_attempts_claimable (due_at, id)`
now has that predicate, written the same way. With `state = 'scheduled'` in both, the indexes
led by `state` (`ix_attempts_due`, `ix_attempts_lease`) could serve the window too, and on
statistics taken before the day's attempts were scheduled the planner read every scheduled
attempt through one of them and sorted them all, for each claim, instead of walking the
partial index in claim order. No index on `state` can serve the `coalesce` form, and no other
condition proves it (lookups by id stay on the primary key). SQLite keeps its index as it is.

Revision ID: 0011_claimable_only
Revises: 0010_case_lookups
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_claimable_only"
down_revision: str | None = "0010_case_lookups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _claimable(where: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_attempts_claimable", table_name="attempts")
    op.create_index(
        "ix_attempts_claimable", "attempts", ["due_at", "id"], postgresql_where=sa.text(where)
    )


def upgrade() -> None:
    _claimable("coalesce(state = 'scheduled', false)")


def downgrade() -> None:
    _claimable("state = 'scheduled'")
