"""import evidence: where a language came from, dropped numbers, service times as written

- `customers.language_source`: "file" (a language column) or "number" (the number's country);
  NULL leaves the campaign's default language to apply (issue 18, item 4).
- `rejected_rows.kind`: "row" (not imported) or "number" (the row was imported without this
  number), and `import_runs.numbers_dropped` counting the latter (issue 18, item 2).
- `service_events.service_time_local`: the wall-clock service time as written when it carried
  no offset, so a campaign can read it in its trigger zone (issue 17, item 3).

Columns are added with server defaults where NOT NULL (no table rewrite).

Revision ID: 0013_import_evidence
Revises: 0012_zone_reason
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_import_evidence"
down_revision: str | None = "0012_zone_reason"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("language_source", sa.String(length=10), nullable=True))
    op.add_column(
        "rejected_rows",
        sa.Column("kind", sa.String(length=10), nullable=False, server_default="row"),
    )
    op.add_column(
        "import_runs",
        sa.Column("numbers_dropped", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "service_events", sa.Column("service_time_local", sa.String(length=8), nullable=True)
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the old table, and with foreign
    # keys on that cascades into the rows that refer to it (tasks, attempts, cases).
    for table, column in (
        ("service_events", "service_time_local"),
        ("import_runs", "numbers_dropped"),
        ("rejected_rows", "kind"),
        ("customers", "language_source"),
    ):
        op.drop_column(table, column)
