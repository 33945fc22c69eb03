"""`dialer run`'s nightly summary report: a cron job per campaign asking for one, at 23:30 in
the campaign's default time zone, writing reports/<slug>-<local date>.html (settable clock)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from report_seeding import SLUG, seed_report
from sqlalchemy import select

from dialer.clock import SettableClock
from dialer.config import Settings
from dialer.models import AuditEntry
from dialer.runner import Runner, RunOptions
from dialer.store import Store

ROOT = Path(__file__).parents[2]


@pytest.fixture
def runner(store: Store, clock: SettableClock, tmp_path: Path) -> Iterator[Runner]:
    campaigns = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", campaigns)
    settings = Settings(database_url="sqlite://", _env_file=None)  # type: ignore[call-arg]
    options = RunOptions(port=0, campaigns_dir=campaigns, reports_dir=tmp_path / "reports")
    r = Runner(settings, store, clock, options)
    try:
        yield r
    finally:
        r.stop()


def test_nightly_report_is_scheduled_at_2330_local_and_written(
    runner: Runner, store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    seed_report(store, clock)  # the clock is now 2026-11-24 10:00 Asia/Taipei
    runner.start(schedule=False)
    job = runner.scheduler.get_job(f"report:{SLUG}")
    assert job is not None and job.args == (SLUG,)
    fire = job.trigger.get_next_fire_time(None, clock.now())
    assert fire.astimezone(UTC) == datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # 23:30 Taipei
    clock.set(fire)
    written = runner.nightly_report(SLUG)
    assert written == tmp_path / "reports" / f"{SLUG}-2026-11-24.html"
    assert 'id="coverage-curve"' in written.read_text(encoding="utf-8")
    with store.sessions() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.export"))
        assert entry.actor == "runner" and entry.subject_id == SLUG


def test_a_campaign_not_planned_yet_is_skipped_quietly(
    runner: Runner, store: Store, clock: SettableClock
) -> None:
    [other] = [s for s in runner.specs if s.slug != SLUG and s.nightly_report][:1]
    assert runner.nightly_report(other.slug) is None
    assert runner.stats.errors == 0


def test_a_job_that_lost_its_database_connection_logs_one_line_not_a_traceback(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from sqlalchemy.exc import DBAPIError

    lost = DBAPIError(
        "SELECT 1", {}, ConnectionError("server closed the connection unexpectedly\nmore"),
        connection_invalidated=True,
    )  # fmt: skip

    def drops() -> None:
        raise lost

    def fails() -> None:
        raise DBAPIError("SELECT 1", {}, ValueError("syntax error"))

    caplog.set_level(logging.WARNING)
    assert runner._guard("plan", drops) is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == (
        "plan: database connection lost (server closed the connection unexpectedly); "
        "the next run goes on"
    )
    caplog.clear()
    runner._guard("plan", fails)  # any other database error keeps its traceback
    assert caplog.records[0].exc_info is not None
    assert runner.stats.errors == 2
