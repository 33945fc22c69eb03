"""fleet: leases (who runs the periodic jobs), the shared pacing budget, the claim's own index

`leases` elects one runner of planning, escalation and reports across several `dialer run`
processes; `pacing_budget` holds each pacing key's next free start slot so every dispatcher
together keeps one rate. `ix_attempts_claimable (due_at, id) WHERE state = 'scheduled'` serves
the claim's `ORDER BY due_at, id` straight from the index (no sort, however many are pending).

Revision ID: 0008
Revises: 0007_console
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.models

revision: str = "0008"
down_revision: str | None = "0007_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", dialer.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", dialer.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "pacing_budget",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("next_at", sa.Double(), nullable=False),
        sa.Column("blocked_until", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_pacing_budget")),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attempts_claimable",
            ["due_at", "id"],
            unique=False,
            sqlite_where=sa.text("state = 'scheduled'"),
            postgresql_where=sa.text("state = 'scheduled'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_claimable")
    op.drop_table("pacing_budget")
    op.drop_table("leases")
