"""case lookups: follow-up cases found by the answer that opened them and by customer

Words or a reason given after the answer (the IVR's reasons menu, a second SMS, the agent's
note) join the case that answer opened, found by `outcome_id` on every such step; a customer's
case history is found by `customer_id`. Both were full scans of `follow_up_cases`, which only
grows.

Revision ID: 0010_case_lookups
Revises: 0009_capacity_risk
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_case_lookups"
down_revision: str | None = "0009_capacity_risk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_follow_up_cases_outcome", "follow_up_cases", ["outcome_id"])
    op.create_index("ix_follow_up_cases_customer", "follow_up_cases", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_follow_up_cases_customer", table_name="follow_up_cases")
    op.drop_index("ix_follow_up_cases_outcome", table_name="follow_up_cases")
