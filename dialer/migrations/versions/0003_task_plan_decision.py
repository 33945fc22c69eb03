"""callback_tasks: the planner's decision (sms / extended / flagged), its reason and earliest time

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_action", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("plan_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("earliest_possible_at", dialer.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_column("earliest_possible_at")
        batch_op.drop_column("plan_reason")
        batch_op.drop_column("plan_action")
