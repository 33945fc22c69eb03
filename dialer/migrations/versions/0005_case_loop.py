"""complaints close the loop: the issue's case states, case_steps (who and when), case columns

Stored states are renamed: intake → open, proposed → investigating (a solution proposed but not
yet carried out is still being handled), implemented → resolved, called_back → followed_up.
Every existing case gets its opening step so its history starts where the case did.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAMES = (
    ("intake", "open"),
    ("proposed", "investigating"),
    ("implemented", "resolved"),
    ("called_back", "followed_up"),
)
BACK = (("open", "intake"), ("resolved", "implemented"), ("followed_up", "called_back"))


def _rename(pairs: Sequence[tuple[str, str]]) -> None:
    cases = sa.table("follow_up_cases", sa.column("state", sa.String))
    for old, new in pairs:
        op.execute(cases.update().where(cases.c.state == old).values(state=new))


def upgrade() -> None:
    when = dialer.models.UTCDateTime(timezone=True)
    with op.batch_alter_table("follow_up_cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=20), nullable=False, server_default="answer")
        )
        batch_op.add_column(sa.Column("reason", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("stands", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("judgement", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reply", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("follow_up_round", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("opened_by", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("judged_at", when, nullable=True))
        batch_op.add_column(sa.Column("followed_up_at", when, nullable=True))
        batch_op.create_index("ix_follow_up_cases_follow_up_task", ["follow_up_task_id"])
    op.create_table(
        "case_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("at", when, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("department", sa.String(length=120), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["follow_up_cases.id"],
            name=op.f("fk_case_steps_case_id_follow_up_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_steps")),
    )
    with op.batch_alter_table("case_steps", schema=None) as batch_op:
        batch_op.create_index("ix_case_steps_case", ["case_id", "at"])
    _rename(RENAMES)
    op.execute(
        "INSERT INTO case_steps (case_id, from_state, to_state, actor, at, note) "
        "SELECT id, NULL, 'open', 'migration', opened_at, description FROM follow_up_cases"
    )


def downgrade() -> None:
    _rename(BACK)
    with op.batch_alter_table("case_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_case_steps_case")
    op.drop_table("case_steps")
    with op.batch_alter_table("follow_up_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_up_cases_follow_up_task")
        batch_op.drop_column("followed_up_at")
        batch_op.drop_column("judged_at")
        batch_op.drop_column("opened_by")
        batch_op.drop_column("follow_up_round")
        batch_op.drop_column("reply")
        batch_op.drop_column("judgement")
        batch_op.drop_column("stands")
        batch_op.drop_column("reason")
        batch_op.drop_column("source")
