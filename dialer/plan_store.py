"""The planner's store shell: the campaign row, do-not-contact lists, keyset batches, and fast
reads and writes of tasks.

On SQLite, rows are read and written through the driver with values in their stored form (the
per-row type processing of SQLAlchemy costs more than the planning); PostgreSQL uses Core.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import BindParameter, Select, Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dialer.campaigns import CampaignSpec
from dialer.clock import ensure_utc
from dialer.models import (
    CallbackTask,
    Campaign,
    DoNotContact,
)
from dialer.plan_model import PlannedTask

# ---------------------------------------------------------------------------------- shell


def upsert_campaign(session: Session, spec: CampaignSpec, now: datetime) -> int:
    """The campaign row for `spec` (by slug), created or brought up to the file's definition."""
    definition = spec.as_definition()
    row = session.execute(
        select(Campaign.id, Campaign.definition_sha256).where(Campaign.slug == spec.slug)
    ).first()
    if row is None:
        return int(
            session.execute(
                insert(Campaign).returning(Campaign.id),
                {
                    "slug": spec.slug,
                    "name": spec.name,
                    "kind": spec.kind,
                    "purpose": spec.purpose,
                    "definition": definition,
                    "definition_sha256": spec.sha256 or None,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        )
    if row.definition_sha256 != (spec.sha256 or None):
        session.execute(
            update(Campaign)
            .where(Campaign.id == row.id)
            .values(
                name=spec.name,
                kind=spec.kind,
                purpose=spec.purpose,
                definition=definition,
                definition_sha256=spec.sha256 or None,
                updated_at=now,
            )
        )
    return int(row.id)


def do_not_contact(
    session: Session, purpose: str
) -> tuple[dict[int, set[str]], dict[str, set[str]]]:
    """Do-not-contact entries that apply to this purpose: by customer id and by number."""
    scopes = ("all", "marketing") if purpose == "marketing" else ("all",)
    by_customer: dict[int, set[str]] = defaultdict(set)
    by_number: dict[str, set[str]] = defaultdict(set)
    rows = session.execute(
        select(DoNotContact.customer_id, DoNotContact.e164, DoNotContact.channel).where(
            DoNotContact.scope.in_(scopes)
        )
    )
    for cid, e164, channel in rows:
        if cid is not None:
            by_customer[cid].add(channel or "all")
        if e164:
            by_number[e164].add(channel or "all")
    return by_customer, by_number


def id_batches(session: Session, query: Select[Any], size: int) -> Iterator[list[int]]:
    """Keyset pagination over customer ids: bounded memory on both engines, no server cursors."""
    last = 0
    col = query.selected_columns[0]
    while True:
        ids = list(session.scalars(query.where(col > last).order_by(col).limit(size)))
        if not ids:
            return
        yield ids
        last = ids[-1]


_TASK_COLUMNS = (
    "campaign_id",
    "customer_id",
    "service_event_id",
    "dedupe_key",
    "member",
    "state",
    "deadline",
    "priority",
    "slack_seconds",
    "attempts_made",
    "next_attempt_at",
    "outcome",
    "plan_action",
    "plan_reason",
    "zone_reason",
    "earliest_possible_at",
    "created_at",
    "updated_at",
)
_SQLITE_CHUNK = 32_000 // len(_TASK_COLUMNS)  # bound parameters per statement stay < 32,766


@lru_cache(maxsize=1 << 16)
def _sqlite_stamp(at: datetime) -> str:
    """An aware time as UTCDateTime stores it on SQLite (few distinct deadlines/starts: cached)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def insert_tasks(
    session: Session, dialect: str, tasks: list[PlannedTask], campaign_id: int, now: datetime
) -> dict[tuple[int, str], int]:
    """Insert what is not there yet; (customer_id, dedupe_key) -> id of each row really created.

    SQLite: multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` through the driver with
    values already in stored form (the ORM's RETURNING path inserts one row at a time there).
    Elsewhere: a Core insert, which SQLAlchemy batches into multi-row statements itself.
    """
    if not tasks:
        return {}
    made: dict[tuple[int, str], int] = {}
    if dialect == "sqlite":
        conn = session.connection()
        stamp = _sqlite_stamp
        created = stamp(now)
        flat: list[Any] = []
        for t in tasks:
            inf = t.infeasible
            flat += (
                campaign_id, t.customer_id, t.service_event_id, t.dedupe_key, t.member, t.state,
                stamp(t.deadline), t.priority, t.slack_seconds, 0,
                stamp(t.next_attempt_at) if t.next_attempt_at else None, t.outcome,
                inf.code if inf else None, inf.reason if inf else None, t.zone_reason,
                stamp(inf.earliest_possible) if inf and inf.earliest_possible else None,
                created, created,
            )  # fmt: skip
        width = len(_TASK_COLUMNS)
        one = "(" + ", ".join("?" * width) + ")"
        for i in range(0, len(tasks), _SQLITE_CHUNK):
            n = min(_SQLITE_CHUNK, len(tasks) - i)
            sql = (
                f"INSERT INTO callback_tasks ({', '.join(_TASK_COLUMNS)}) VALUES "  # noqa: S608
                + ", ".join([one] * n)
                + " ON CONFLICT (campaign_id, customer_id, dedupe_key) DO NOTHING"
                " RETURNING id, customer_id, dedupe_key"
            )
            params = tuple(flat[i * width : (i + n) * width])
            for tid, cid, key in _driver(conn, sql, params):
                made[(cid, key)] = tid
        return made
    rows = [t.row(campaign_id, now) for t in tasks]
    table = cast(Table, CallbackTask.__table__)
    stmt = (
        pg_insert(table)
        .on_conflict_do_nothing(index_elements=["campaign_id", "customer_id", "dedupe_key"])
        .returning(table.c.id, table.c.customer_id, table.c.dedupe_key)
    )
    for tid, cid, key in session.connection().execute(stmt, rows):
        made[(cid, key)] = tid
    return made


NO_BLOCKS: frozenset[str] = frozenset()


BATCH_IDS: BindParameter[list[int]] = bindparam(
    "ids", expanding=True
)  # the batch's customer ids, bound per execution


def core_rows(
    conn: Connection, stmt: Select[*tuple[Any, ...]], ids: list[int], key: int = 0
) -> Sequence[Any]:
    return conn.execute(stmt, {"ids": ids}).all()


def raw_rows(
    conn: Connection, stmt: Select[*tuple[Any, ...]], ids: list[int], key: int = 0
) -> Sequence[Any]:
    """SQLite: the statement through the driver, values as stored (converted by the caller).

    A million customers' rows through SQLAlchemy's per-row result processing (JSON, dates) cost
    more than the planning itself; the few distinct stored values are converted once, cached.
    The batch's ids (ascending, from `id_batches`) travel as one `BETWEEN` range when they are
    dense (a range scan instead of one index lookup per id; rows of other customers in the range,
    column `key`, are dropped), else as one JSON array (`json_each`).
    """
    compiled = _compiled(conn.dialect, stmt)
    params = compiled.construct_params({"ids": ids})
    dense = bool(ids) and ids[-1] - ids[0] < 2 * len(ids)
    values: list[Any] = []
    for v in (params[k] for k in compiled.positiontup or ()):
        if isinstance(v, list):
            values += (v[0], v[-1]) if dense else (json.dumps(v),)
        else:
            values.append(v.isoformat() if isinstance(v, date) else v)
    where = "BETWEEN ? AND ?" if dense else "IN (SELECT value FROM json_each(?))"
    rows = _driver(conn, _JSON_IN.sub(where, str(compiled)), tuple(values))
    if dense and len(rows) and ids[-1] - ids[0] + 1 != len(ids):
        wanted = set(ids)
        rows = [r for r in rows if r[key] in wanted]
    return rows


def _driver(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """Run `sql` on the connection's own sqlite3 cursor (same transaction): plain tuples back,
    without a SQLAlchemy Row per row (a million rows four times over)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        return list(cursor.execute(sql, params).fetchall())
    finally:
        cursor.close()


_JSON_IN = re.compile(r"IN \(__\[POSTCOMPILE_[a-z0-9_]+\]\)")


def _compiled(dialect: Any, stmt: Select[*tuple[Any, ...]]) -> Any:
    return stmt.compile(dialect=dialect)


@lru_cache(maxsize=4096)
def _date_text(text: str) -> date:
    return date.fromisoformat(text[:10])


def as_date(value: Any) -> date:
    return _date_text(value) if isinstance(value, str) else value


@lru_cache(maxsize=1 << 16)
def _utc_text(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _utc_text(value)
    return ensure_utc(value)
