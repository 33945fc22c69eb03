"""customer subdivision: the state or province of the customer's address

A state/province column of the customer file (issue 17) is stored as its ISO 3166-2 code
("US-FL"): its floor applies on top of the number's and it gives a toll-free number the zones of
the customer's state. Existing customers have none (NULL), as before.

Revision ID: 0015_customer_subdivision
Revises: 0014_rejected_row_content
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_customer_subdivision"
down_revision: str | None = "0014_rejected_row_content"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch (table copy) of `customers` on SQLite would drop the old table,
    # and with foreign keys on that cascades into every task and case of those customers.
    op.add_column("customers", sa.Column("subdivision", sa.String(10), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the old table, and with foreign
    # keys on that cascades into the rows that refer to it (tasks, attempts, cases).
    op.drop_column("customers", "subdivision")
