"""`dialer run`'s ticks on the real store with a settable clock (triggers once, watched folder,
escalation, dispatch through its own sandbox), and the command itself: ready, then SIGTERM drains."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import requests
from seeding import seed
from sqlalchemy import func, select, update

from dialer import attempts as books
from dialer.agents import AgentSpec, add_agent
from dialer.assign import assign_open_tasks
from dialer.clock import SettableClock
from dialer.config import Settings
from dialer.models import Attempt, CallbackTask, ImportRun, TriggerFiring
from dialer.runner import Runner, RunOptions
from dialer.store import Store

ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "dialer" / "samples" / "customers.csv"

# The shipped campaign's own table for the person's calls (dropped where a variant makes its own).
AGENT_ATTEMPTS = '[attempts.agent]\nmax_attempts = 2\nspacing = "1h"\nring_timeout = "30s"\n'


@pytest.fixture
def runner_factory(store: Store, clock: SettableClock, tmp_path: Path) -> Iterator[object]:
    made: list[Runner] = []
    campaigns = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", campaigns)
    watch = tmp_path / "inbox"
    watch.mkdir()

    def make() -> Runner:
        settings = Settings(database_url="sqlite://", _env_file=None)  # type: ignore[call-arg]
        r = Runner(
            settings, store, clock, RunOptions(port=0, campaigns_dir=campaigns, watch=watch, cps=5)
        )
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


def count(store: Store, model: type) -> int:
    with store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_triggers_fire_once_even_across_a_restart(
    runner_factory: object, store: Store, clock: SettableClock
) -> None:
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # Monday 10:00 Taipei, after 09:00
    first = runner_factory()  # type: ignore[operator]
    first.start(schedule=False)
    assert first.stats.triggers_fired == ["maintenance-reminder"]  # this Monday's 09:00
    assert first.fire_due_triggers() == []
    first.stop()
    again = runner_factory()  # type: ignore[operator]
    again.start(schedule=False)  # a restart neither misses nor repeats it
    assert again.stats.triggers_fired == []
    clock.advance(timedelta(days=7))
    assert again.fire_due_triggers() == ["maintenance-reminder"]
    with store.sessions() as s:
        fired = s.scalars(
            select(TriggerFiring.occurrence_at).order_by(TriggerFiring.occurrence_at)
        ).all()
    assert fired == [
        datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 1, 0, tzinfo=UTC),
    ]


def test_watched_folder_files_are_imported_once_and_planned(
    runner_factory: object, store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    runner = runner_factory()  # type: ignore[operator]
    runner.start(schedule=False)
    assert count(store, ImportRun) == 0
    shutil.copy(SAMPLE, tmp_path / "inbox" / "extract-2026-11-23.csv")
    assert runner.import_tick() == 1
    assert runner.import_tick() == 0  # the same file again: nothing
    assert count(store, ImportRun) == 1
    assert count(store, CallbackTask) > 0


def test_watched_folder_skips_a_symlink_out_of_it_with_a_logged_reason(
    runner_factory: object,
    store: Store,
    clock: SettableClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(SAMPLE, outside / "secret.csv")
    (tmp_path / "inbox" / "secret.csv").symlink_to(outside / "secret.csv")
    (tmp_path / "inbox" / "nested.csv").mkdir()
    runner = runner_factory()  # type: ignore[operator]
    runner.start(schedule=False)
    assert runner.import_tick() == 0
    assert count(store, ImportRun) == 0
    said = caplog.text
    assert "secret.csv skipped: it is a symbolic link" in said
    assert "nested.csv skipped: it is a folder" in said
    shutil.copy(SAMPLE, tmp_path / "inbox" / "extract.csv")  # a real file beside them is read
    assert runner.import_tick() == 1


def test_the_runner_log_masks_a_number_quoted_by_an_import_error(
    runner_factory: object, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "inbox" / "extract.csv").write_text("王小明,0912345678\n", encoding="utf-8")
    runner = runner_factory()  # type: ignore[operator]
    runner.start(schedule=False)
    assert runner.import_tick() == 0 and runner.stats.errors == 2  # at start-up, and now
    assert "missing required column" in caplog.text
    assert "0912345678" not in caplog.text and "0••••••678" in caplog.text


def test_dialer_run_for_ends_with_a_fifo_in_the_watched_folder(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.mkfifo(inbox / "extract.csv")  # opening it would wait for a writer that never comes
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env["DIALER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'run.db'}"
    cmd = [sys.executable, "-m", "dialer", "run", "--port", "0", "--for", "1"]
    cmd += ["--dir", str(ROOT / "campaigns"), "--watch", str(inbox)]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "extract.csv skipped: it is a FIFO" in result.stderr
    assert result.stdout.splitlines()[-1].startswith("stopped:")


def test_escalation_sends_late_members_to_sms_and_pulls_others_in(
    runner_factory: object, store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    shutil.copy(SAMPLE, tmp_path / "inbox" / "extract.csv")
    runner = runner_factory()  # type: ignore[operator]
    runner.start(schedule=False)
    now = clock.now()
    with store.transaction() as s:
        rows = s.execute(
            select(CallbackTask.id, CallbackTask.deadline)
            .where(CallbackTask.deadline > now, CallbackTask.plan_action.is_(None))
            .order_by(CallbackTask.id)
            .limit(2)
        ).all()
        assert len(rows) == 2
        (member, _), (other, _) = rows
        for (tid, deadline), is_member in zip(rows, (True, False), strict=True):
            s.execute(
                update(CallbackTask)
                .where(CallbackTask.id == tid)
                .values(
                    state="in_progress",
                    member=is_member,
                    next_attempt_at=deadline + timedelta(hours=1),
                )
            )
    assert runner.escalate_tick() == 2
    with store.sessions() as s:
        got = dict(
            s.execute(
                select(CallbackTask.id, CallbackTask.plan_action).where(
                    CallbackTask.id.in_([member, other])
                )
            ).all()
        )
        due = set(
            s.scalars(
                select(CallbackTask.next_attempt_at).where(CallbackTask.id.in_([member, other]))
            )
        )
    assert got == {member: "sms", other: None} and due == {now}
    assert runner.escalate_tick() == 0


def test_the_runner_dials_its_own_sandbox_without_credentials(
    runner_factory: object, store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    shutil.copy(SAMPLE, tmp_path / "inbox" / "extract.csv")
    runner = runner_factory()  # type: ignore[operator]
    runner.start(schedule=False)
    assert runner.sandbox is not None
    runner.dispatch_tick()  # sends, and records what came back by the next tick
    runner.drain()
    assert runner.stats.placed > 0
    log = f"{runner._sandbox_server.base_url}/sandbox/log.json"  # whom it called: not for all
    assert requests.get(log, timeout=5).status_code == 401
    assert len(runner.sandbox.requests[("POST", "calls")]) == runner.stats.placed
    with store.sessions() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(Attempt).where(Attempt.provider_sid.is_not(None))
            )
            == runner.stats.placed
        )


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_dialer_run_says_where_it_listens_and_stops_on_the_first_signal(
    tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    """The first SIGTERM (exit 0) or Ctrl-C (exit 130) stops `dialer run`: drained, the
    "stopped:" line, no traceback. The first line says where the webhooks and the console
    listen; the console answers there."""
    env = {**os.environ, "DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}"}
    for key in ("DIALER_TWILIO_ACCOUNT_SID", "DIALER_TWILIO_AUTH_TOKEN"):
        env.pop(key, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer", "run", "--port", "0", "--dir", str(ROOT / "campaigns")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        found = re.match(
            r"dialer running: webhooks at (http://127\.0\.0\.1:\d+), console at "
            r"(http://127\.0\.0\.1:\d+/console/), dialling the sandbox, 3 campaign\(s\); "
            r"a status line every minute \(--quiet: none\); Ctrl-C or SIGTERM stops$",
            ready.strip(),
        )
        assert found is not None, (ready, proc.stderr)
        sign_in = httpx.get(f"{found.group(2)}sign-in", timeout=10)
        assert sign_in.status_code == 200
        proc.send_signal(stop)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert rest.startswith("stopped:") and "Traceback" not in err


def test_a_signal_during_start_up_stops_before_the_catch_up_goes_on(
    runner_factory: object, store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    """The first signal arrives while the runner is starting (its event is set): the catch-up
    stops between steps, nothing is planned, and `stop` returns at once with nothing left."""
    shutil.copy(SAMPLE, tmp_path / "inbox" / "extract.csv")
    runner = runner_factory()  # type: ignore[operator]
    runner.stopping.set()
    runner.start(schedule=False)
    assert count(store, ImportRun) == 0 and count(store, CallbackTask) == 0
    assert runner.stop() == []


def test_the_status_line_of_the_minute(
    runner_factory: object, store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    """One line a minute (the scheduler's "status" job, every 60 s): placed, answered by a
    person, reached since start; member tasks open; the next window (tries due now, or the
    next scheduled try). Computed at the settable clock's instant, without waiting."""
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    lines: list[str] = []
    runner = runner_factory()  # type: ignore[operator]
    runner.on_status = lines.append
    runner.start(schedule=False)
    job = runner.scheduler.get_job("status")
    assert job is not None and job.trigger.interval == timedelta(minutes=1)
    quiet = runner_factory()  # type: ignore[operator]
    quiet.start(schedule=False)  # `--quiet`: no on_status, so no status job
    assert quiet.scheduler.get_job("status") is None
    [spec] = [s for s in runner.specs if s.slug == "after-service-satisfaction"]
    ids = seed(store, clock, spec, n=3, key_prefix="S")
    with store.transaction() as s:
        s.execute(
            update(CallbackTask)
            .where(CallbackTask.id == ids[0])
            .values(state="reached", reached_at=clock.now(), outcome="satisfied")
        )
        s.execute(  # the seeded tasks are due now: their tries are not scheduled yet
            update(CallbackTask).where(CallbackTask.id.in_(ids[1:])).values(next_attempt_at=None)
        )
        task = s.get(CallbackTask, ids[1])
        assert task is not None
        s.add(
            Attempt(
                task_id=task.id, customer_id=task.customer_id, number=1, channel="voice",
                state="scheduled", due_at=clock.now() + timedelta(hours=7),
                created_at=clock.now(),
            )
        )  # fmt: skip
    line = runner.status_tick()
    assert lines == [line]
    assert line == (
        "02:00 UTC · since start: 0 placed, 0 answered, 1 reached · 2 members pending · "
        "next window: next try at 2026-11-23 09:00 UTC"
    )
    clock.advance(timedelta(hours=7))
    assert runner.status_tick() == (
        "09:00 UTC · since start: 0 placed, 0 answered, 1 reached · 2 members pending · "
        "next window: open now, 1 tries due"
    )


def test_dialer_run_refuses_bad_options_in_one_sentence(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dialer", "run", "--tick", "0", "--dir", str(ROOT / "campaigns")],
        cwd=tmp_path,
        env={**os.environ, "DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--tick" in result.stderr


def test_escalation_hands_a_late_member_to_a_person_when_the_campaign_cannot_text(
    runner_factory: object, store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    folder = tmp_path / "campaigns"
    text = (folder / "after-service-satisfaction.toml").read_text(encoding="utf-8")
    text = text.replace('channels = ["voice", "sms", "agent"]', 'channels = ["voice", "agent"]')
    text = text.replace(AGENT_ATTEMPTS, "").replace("[attempts.sms]", "[attempts.agent]")
    text = text.replace('on_infeasible = "sms"', 'on_infeasible = "flag"')
    (folder / "after-service-satisfaction.toml").write_text(text, encoding="utf-8")
    runner = runner_factory()  # type: ignore[operator]
    [spec] = [s for s in runner.specs if s.slug == "after-service-satisfaction"]
    [tid] = seed(store, clock, spec, n=1, key_prefix="P")
    with store.transaction() as s:
        deadline = s.scalar(select(CallbackTask.deadline).where(CallbackTask.id == tid))
        assert deadline is not None
        s.execute(
            update(CallbackTask)
            .where(CallbackTask.id == tid)
            .values(state="in_progress", next_attempt_at=deadline + timedelta(hours=2))
        )
        add_agent(
            s,
            clock,
            AgentSpec(username="mei", display_name="Mei", languages=("zh-TW",)),
            actor="test",
        )
    assert runner.escalate_tick() == 1
    with store.transaction() as s:
        book = books.CampaignBook()
        book.refresh(s)
        report = books.schedule_due(s, book, clock.now(), {})
    assert (report.to_agents, report.scheduled) == (1, 0)
    result = assign_open_tasks(store, clock)
    with store.sessions() as s:
        task = s.get(CallbackTask, tid)
        assert task is not None and task.plan_action == "agent" and task.agent_id is not None
    assert result is not None


def test_slack_refresh_job_keeps_open_tasks_slack_current(
    runner_factory: object, store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    shutil.copy(SAMPLE, tmp_path / "inbox" / "extract.csv")
    runner = runner_factory()  # type: ignore[operator]
    runner.start(schedule=False)
    assert runner.scheduler.get_job("slack") is not None
    with store.transaction() as s:
        tid = s.scalar(
            select(CallbackTask.id)
            .where(CallbackTask.state == "pending", CallbackTask.deadline > clock.now())
            .order_by(CallbackTask.id)
            .limit(1)
        )
        s.execute(update(CallbackTask).where(CallbackTask.id == tid).values(slack_seconds=None))
    clock.advance(timedelta(hours=1))
    assert runner.slack_tick() >= 1
    with store.sessions() as s:
        assert (
            s.scalar(select(CallbackTask.slack_seconds).where(CallbackTask.id == tid)) is not None
        )
