"""Shared fixtures: a real SQLite file always, the real PostgreSQL when DIALER_TEST_DATABASE_URL is set.

Each PostgreSQL test gets its own schema (dropped afterwards) so runs never see each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialer.clock import SettableClock
from dialer.store import Store

PG_URL = os.environ.get("DIALER_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dialer.db'}"


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL schema: (url, schema); skipped locally, fatal in CI, when unset."""
    if not PG_URL:
        if IN_CI:
            pytest.fail("DIALER_TEST_DATABASE_URL is not set: CI must run the PostgreSQL half")
        pytest.skip("DIALER_TEST_DATABASE_URL is not set; PostgreSQL store tests skipped")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield PG_URL, schema
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same store suite on both engines."""
    if request.param == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path / 'dialer.db'}")
    else:
        url, schema = request.getfixturevalue("pg_schema")
        s = Store.open(url, schema=schema)
    try:
        yield s
    finally:
        s.close()
