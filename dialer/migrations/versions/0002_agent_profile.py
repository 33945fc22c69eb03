"""agents: skills, working hours and days, time zone

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skills", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("work_start", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("work_end", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("work_days", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
        batch_op.drop_column("work_days")
        batch_op.drop_column("work_end")
        batch_op.drop_column("work_start")
        batch_op.drop_column("skills")
