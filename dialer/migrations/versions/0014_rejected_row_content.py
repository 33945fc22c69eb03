"""rejected row content: each rejected row keeps the sha256 of its content

"Member rows rejected at import", shown beside member coverage, summed `import_runs.
members_rejected`, so importing one file twice counted its bad member rows twice. The rows are
now counted once per distinct content (`dialer.ingest.row_digest` of the row's raw cells), and
the rows already stored get their digest here, computed the same way.

Revision ID: 0014_rejected_row_content
Revises: 0013_import_evidence
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014_rejected_row_content"
down_revision: str | None = "0013_import_evidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _digest(raw: Any) -> str:
    """As `dialer.ingest.row_digest` (copied: a migration does not import the code it serves)."""
    if isinstance(raw, str):
        raw = json.loads(raw)
    text = json.dumps(raw or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("rejected_rows") as batch:
        batch.add_column(sa.Column("content_sha256", sa.String(64), nullable=True))
    op.create_index(
        "ix_rejected_rows_member_content", "rejected_rows", ["member", "content_sha256"]
    )
    bind = op.get_bind()
    rows = sa.table(
        "rejected_rows",
        sa.column("id", sa.Integer),
        sa.column("raw", sa.JSON),
        sa.column("content_sha256", sa.String),
    )
    after = 0
    while True:
        got = bind.execute(
            sa.select(rows.c.id, rows.c.raw)
            .where(rows.c.id > after)
            .order_by(rows.c.id)
            .limit(BATCH)
        ).all()
        if not got:
            break
        after = got[-1].id
        bind.execute(
            sa.update(rows)
            .where(rows.c.id == sa.bindparam("b_id"))
            .values(content_sha256=sa.bindparam("b_sha")),
            [{"b_id": r.id, "b_sha": _digest(r.raw)} for r in got],
        )


def downgrade() -> None:
    op.drop_index("ix_rejected_rows_member_content", table_name="rejected_rows")
    with op.batch_alter_table("rejected_rows") as batch:
        batch.drop_column("content_sha256")
