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
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("subdivision", sa.String(10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("subdivision")
