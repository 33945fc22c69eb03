"""telephony: attempt claims (claimed_at, customer_id), controls (emergency stop), trigger firings

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("claimed_at", dialer.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_attempts_customer_id_customers"),
            "customers",
            ["customer_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_attempts_customer_placed", ["customer_id", "placed_at"])
        batch_op.create_index("ix_attempts_lease", ["state", "lease_expires_at"])
    op.create_table(
        "controls",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("at", dialer.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_controls")),
    )
    op.create_table(
        "trigger_firings",
        sa.Column("campaign_slug", sa.String(length=120), nullable=False),
        sa.Column("occurrence_at", dialer.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", dialer.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("campaign_slug", "occurrence_at", name=op.f("pk_trigger_firings")),
    )


def downgrade() -> None:
    op.drop_table("trigger_firings")
    op.drop_table("controls")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_lease")
        batch_op.drop_index("ix_attempts_customer_placed")
        batch_op.drop_constraint(batch_op.f("fk_attempts_customer_id_customers"), type_="foreignkey")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("customer_id")
