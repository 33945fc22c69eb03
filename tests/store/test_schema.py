"""The migrations build exactly the models' schema, on SQLite and PostgreSQL, and keep invariants."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from dialer.clock import SettableClock
from dialer.errors import StoreError
from dialer.ingest import row_digest
from dialer.migrate import head_revision
from dialer.models import (
    Attempt,
    AttemptState,
    Base,
    CallbackTask,
    Campaign,
    Customer,
    ImportRun,
    RejectedRow,
)
from dialer.store import Store


def test_migrations_match_models(store: Store) -> None:
    assert store.current_revision() == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(store: Store) -> None:
    store.upgrade()
    store.upgrade()
    assert "customers" in store.table_names()


def _task(session, clock: SettableClock) -> CallbackTask:  # type: ignore[no-untyped-def]
    now = clock.now()
    customer = Customer(
        customer_key="C1", name="王小明", time_zones=["Asia/Taipei"], created_at=now, updated_at=now
    )
    campaign = Campaign(
        slug="after-service",
        name="After service",
        kind="after_service",
        purpose="service",
        created_at=now,
        updated_at=now,
    )
    session.add_all([customer, campaign])
    session.flush()
    task = CallbackTask(
        campaign_id=campaign.id,
        customer_id=customer.id,
        dedupe_key="e1",
        member=True,
        deadline=now + timedelta(days=3),
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    return task


def test_times_round_trip_as_aware_utc(store: Store, clock: SettableClock) -> None:
    with store.transaction() as session:
        task = _task(session, clock)
        task_id = task.id
    with store.sessions() as session:
        loaded = session.get(CallbackTask, task_id)
        assert loaded is not None
        assert loaded.deadline.tzinfo is not None
        assert loaded.deadline == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_naive_datetime_is_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.transaction() as session:
        session.add(
            ImportRun(
                source_name="x.csv",
                source_sha256="0" * 64,
                file_format="csv",
                actor="t",
                started_at=datetime(2026, 1, 1),  # noqa: DTZ001
            )
        )


def test_at_most_one_in_flight_attempt_per_task(store: Store, clock: SettableClock) -> None:
    now = clock.now()
    with store.transaction() as session:
        task = _task(session, clock)
        session.add(
            Attempt(
                task_id=task.id,
                number=1,
                channel="voice",
                due_at=now,
                state=AttemptState.CLAIMED,
                created_at=now,
            )
        )
        session.add(
            Attempt(
                task_id=task.id,
                number=2,
                channel="sms",
                due_at=now,
                state=AttemptState.SCHEDULED,
                created_at=now,
            )
        )
        task_id = task.id
    with pytest.raises(IntegrityError), store.transaction() as session:
        second = session.scalars(select(Attempt).where(Attempt.number == 2)).one()
        second.state = AttemptState.PLACED
    with store.transaction() as session:  # once the first ends, the next may fly
        first = session.scalars(
            select(Attempt).where(Attempt.task_id == task_id, Attempt.number == 1)
        ).one()
        first.state = AttemptState.COMPLETED
        session.flush()
        second = session.scalars(select(Attempt).where(Attempt.number == 2)).one()
        second.state = AttemptState.PLACED


def test_foreign_keys_are_enforced(store: Store, clock: SettableClock) -> None:
    now = clock.now()
    with pytest.raises(IntegrityError), store.transaction() as session:
        session.add(
            CallbackTask(
                campaign_id=999,
                customer_id=999,
                dedupe_key="x",
                deadline=now,
                created_at=now,
                updated_at=now,
            )
        )


def test_sqlite_runs_in_wal_with_foreign_keys(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()


def test_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot reach the database") as info:
        Store.open("postgresql://nobody@127.0.0.1:1/none")
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "not a url at all", "sqlite:////no/such/folder/dialer.db"]
)
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        Store.open(url)


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_0014_gives_stored_rejected_rows_their_content_digest(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, clock: SettableClock
) -> None:
    """Rows rejected before migration 0014 get the digest `row_digest` gives new ones, so a row
    rejected again after the upgrade counts once with the old one."""
    if engine == "sqlite":
        store = Store.open(f"sqlite:///{tmp_path / 'old.db'}", upgrade=False)
    else:
        url, schema = request.getfixturevalue("pg_schema")
        store = Store.open(url, schema=schema, upgrade=False)
    try:
        store.upgrade("0011_claimable_only")
        raw = {"姓名": "王小明", "手機": "12", "會員": "是"}
        with store.engine.begin() as conn:
            run_id = conn.execute(
                text(
                    "INSERT INTO import_runs (source_name, source_sha256, file_format, status, "
                    "rows_read, rows_imported, rows_updated, rows_unchanged, rows_rejected, "
                    "members_rejected, events_added, actor, started_at) VALUES ('a.csv', :sha, "
                    "'csv', 'completed', 1, 0, 0, 0, 1, 1, 0, 't', :at) RETURNING id"
                ),
                {"sha": "0" * 64, "at": clock.now().replace(tzinfo=None)},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO rejected_rows (import_run_id, row_number, reason, member, raw) "
                    "VALUES (:run, 2, 'bad number', :member, :raw)"
                ),
                {"run": run_id, "member": True, "raw": json.dumps(raw, ensure_ascii=False)},
            )
        store.upgrade()
        with store.sessions() as s:
            assert s.scalar(select(RejectedRow.content_sha256)) == row_digest(raw)
    finally:
        store.close()
