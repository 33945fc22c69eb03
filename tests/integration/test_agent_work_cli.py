"""`dialer assignments / call / outcome / audit / agents passwd` on both engines, with the same
rules as the console; one real process checks the wiring, the password prompt and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from cli_context import audits, cli_app
from console_seeding import NUMBERS, Seeded, seed_console
from dialer_process import run_dialer
from sqlalchemy import select
from typer.testing import CliRunner, Result

from dialer.agent_work_cli import (
    assignments_command,
    call_command,
    outcome_command,
    passwd_command,
)
from dialer.audit_cli import audit_command
from dialer.clock import SettableClock
from dialer.errors import NotFoundError, UsageError
from dialer.models import Agent, CallbackTask, Outcome
from dialer.store import Store


@pytest.fixture
def app(store: Store, clock: SettableClock) -> typer.Typer:
    def register(a: typer.Typer) -> None:
        a.command("assignments")(assignments_command)
        a.command("call")(call_command)
        a.command("outcome")(outcome_command)
        a.command("audit")(audit_command)
        a.command("passwd")(passwd_command)

    return cli_app(store, clock, register)


@pytest.fixture
def seeded(store: Store, clock: SettableClock) -> Seeded:
    return seed_console(store, clock)


def run(app: typer.Typer, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def test_an_agent_works_a_task_from_the_terminal(
    app: typer.Typer, store: Store, seeded: Seeded
) -> None:
    listed = run(app, "assignments", "--agent", "alice", "--json")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [r["task"] for r in rows] == seeded.alice
    assert rows[0]["window_open"] and rows[0]["time_zone"] == "Asia/Taipei"
    assert NUMBERS[0] not in listed.output
    table = run(app, "assignments", "--agent", "alice")
    assert "3 open task(s)" in table.output and "客戶0" in table.output
    tid = str(seeded.alice[0])
    early = run(app, "outcome", tid, "satisfied", "--agent", "alice")
    assert isinstance(early.exception, UsageError)
    called = run(app, "call", tid, "--agent", "alice")
    assert called.exit_code == 0 and NUMBERS[0] in called.output
    done = run(app, "outcome", tid, "unsatisfied", "--agent", "alice", "--reason", "價格",
               "--note", "太貴了")  # fmt: skip
    assert done.exit_code == 0 and "follow-up case" in done.output, done.output
    with store.sessions() as s:
        outcome = s.scalar(select(Outcome).where(Outcome.task_id == seeded.alice[0]))
    assert outcome is not None and (outcome.reason, outcome.note) == ("價格", "太貴了")
    actions = [e.action for e in audits(store) if e.actor == "alice"]
    assert actions == ["call_start", "outcome_record"]


def test_the_terminal_keeps_to_the_consoles_rules(app: typer.Typer, seeded: Seeded) -> None:
    other = run(app, "call", str(seeded.alice[0]), "--agent", "bob")
    assert isinstance(other.exception, NotFoundError)
    nobody = run(app, "assignments", "--agent", "nobody")
    assert isinstance(nobody.exception, NotFoundError)
    operator = run(app, "assignments")  # acts as DIALER_OPERATOR, here not an agent
    assert isinstance(operator.exception, NotFoundError) and "ops-tester" in str(operator.exception)
    run(app, "call", str(seeded.bob[0]), "--agent", "bob")
    later = run(app, "outcome", str(seeded.bob[0]), "callback_requested", "--agent", "bob",
                "--at", "2026-11-23 19:00")  # fmt: skip
    assert later.exit_code == 0 and "call back at 2026-11-23T11:00+00:00" in later.output
    bad = run(app, "outcome", str(seeded.bob[1]), "happy", "--agent", "bob")
    assert isinstance(bad.exception, UsageError)
    ended = run(app, "call", str(seeded.bob[1]), "--agent", "bob", "--ended", "busy")
    assert isinstance(ended.exception, UsageError)  # no call going on


def test_audit_lists_who_saw_and_changed_what(
    app: typer.Typer, seeded: Seeded, store: Store
) -> None:
    run(app, "call", str(seeded.alice[0]), "--agent", "alice")
    out = run(app, "audit", "--actor", "alice", "--json")
    [entry] = [json.loads(line) for line in out.output.splitlines()]
    assert entry["action"] == "call_start" and entry["subject"] == f"task {seeded.alice[0]}"
    assert NUMBERS[0] not in out.output
    table = run(app, "audit", "--action", "agent_add")
    assert table.exit_code == 0 and "3 entries" in table.output


def test_passwd_sets_a_password_and_role(app: typer.Typer, store: Store, seeded: Seeded) -> None:
    short = run(app, "passwd", "bob", "--password-stdin", stdin="short\n")
    assert isinstance(short.exception, UsageError)
    done = run(app, "passwd", "bob", "--password-stdin", "--supervisor", stdin="a long secret!\n")
    assert done.exit_code == 0 and "(supervisor)" in done.output
    with store.sessions() as s:
        bob = s.scalars(select(Agent).where(Agent.username == "bob")).one()
    assert bob.role == "supervisor" and (bob.password_hash or "").startswith("$argon2id$")


def test_the_real_command_line(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    added = run_dialer(tmp_path, "agents", "add", "lin", "--name", "Lin", "--supervisor", db=db)
    assert added.returncode == 0, added.stderr
    piped = subprocess.run(
        [sys.executable, "-m", "dialer", "--db", f"sqlite:///{db}", "agents", "passwd", "lin",
         "--password-stdin"],
        input="a long secret!\n", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert piped.returncode == 0 and "lin (supervisor)" in piped.stdout, piped.stderr
    missing = run_dialer(tmp_path, "call", "99", "--agent", "lin", db=db)
    assert missing.returncode == 5 and "there is no task 99" in missing.stderr
    assert "Traceback" not in missing.stderr
    audit = run_dialer(tmp_path, "audit", "--json", db=db)
    actions = [json.loads(line)["action"] for line in audit.stdout.splitlines()]
    assert actions == ["agent_password", "agent_add"]


def test_the_terminal_queue_shows_overdue_tasks_last_and_by_how_much(
    app: typer.Typer, store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    late, first, second = seeded.alice
    with store.transaction() as s:
        task = s.get_one(CallbackTask, late)
        task.deadline = clock.now() - timedelta(days=1, hours=3)
        task.member = False
    listed = run(app, "assignments", "--agent", "alice", "--json")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [r["task"] for r in rows] == [first, second, late]
    assert [r["overdue"] for r in rows] == [False, False, True]
    assert rows[2]["seconds_left"] == -(27 * 3600)
    table = run(app, "assignments", "--agent", "alice")
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "3 open task(s), 1 past the deadline (still worth a call: reached late)" in text
    assert "overdue 1d 3h" in text


def test_the_terminal_queue_shows_a_missed_appointment_as_overdue_and_early(
    app: typer.Typer, store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    """Now is 10:00 in Taipei. The customer agreed 07:55 and is still waiting (2 h 5 min, past
    the hour the gate keeps an agreed time); 09:40 is still kept. The kept one first, then the
    missed one, then the ordinary task."""
    missed, kept, ordinary = seeded.alice
    with store.transaction() as s:
        s.get_one(CallbackTask, missed).appointment_at = clock.now() - timedelta(hours=2, minutes=5)
        s.get_one(CallbackTask, kept).appointment_at = clock.now() - timedelta(minutes=20)
    listed = run(app, "assignments", "--agent", "alice", "--json")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [r["task"] for r in rows] == [kept, missed, ordinary]
    assert [r["appointment_overdue"] for r in rows] == [False, True, False]
    assert [r["appointment_overdue_seconds"] for r in rows] == [0, 2 * 3600 + 5 * 60, 0]
    assert rows[1]["due"] and rows[1]["appointment"] == "2026-11-22T23:55:00+00:00"
    table = run(app, "assignments", "--agent", "alice")
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "3 open task(s), 1 appointment(s) overdue (the customer waits: call first)" in text
    assert "11-23 07:55 overdue 2h 05m" in text
    assert "11-23 09:40" in text and "11-23 09:40 overdue" not in text
