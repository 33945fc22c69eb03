"""`dialer demo` as a user runs it: a real process, a fresh database, the sandbox, a report."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from dialer_process import run_dialer


def test_demo_runs_and_leaves_a_database_to_explore(tmp_path: Path) -> None:
    # Two days: the IVR's three calls and the SMS are used up for some customers by the second
    # day, and the sample team calls them.
    db = tmp_path / "demo.db"
    got = run_dialer(
        tmp_path, "demo", "--customers", "300", "--days", "2",
        "--start", "2026-11-24 10:00 Asia/Taipei", db=db,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert "member coverage" in got.stdout and "reached in time" in got.stdout
    report = tmp_path / "dialer-demo-report.html"
    assert report.is_file() and "<svg" in report.read_text(encoding="utf-8")
    assert str(report) in got.stdout.replace("\n", "")
    # A chosen start ended at its own instant: the hint says which --at reads the result.
    flat = " ".join(got.stdout.split())
    hint = re.search(r"coverage\|report \.\.\. --at '([^']+)'", flat)
    assert hint is not None and hint.group(1) == "2026-11-26 02:00:00 UTC"
    with sqlite3.connect(db) as conn:
        tasks = conn.execute("select count(*) from callback_tasks").fetchone()[0]
        reached = conn.execute(
            "select count(*) from callback_tasks where reached_at is not null"
        ).fetchone()[0]
        outcomes = conn.execute("select count(*) from outcomes").fetchone()[0]
        # A reply in the customer's own words reaches them before any answer (a clarifying
        # SMS asks for the digit): reached without an outcome yet.
        clarifying = conn.execute(
            "select count(*) from events where kind = 'sms_clarified'"
        ).fetchone()[0]
    assert tasks > 250 and reached > tasks // 2 and outcomes + clarifying >= reached
    _agents_worked(db, report, got.stdout, got.stderr)
    # The database can be explored afterwards.
    cov = run_dialer(tmp_path, "coverage", "--at", hint.group(1), db=db)
    assert cov.returncode == 0 and "member coverage" in cov.stdout


def _agents_worked(db: Path, report: Path, stdout: str, stderr: str) -> None:
    """The sample team worked the tasks handed to a person: their calls carry their ids, each
    to a customer whose language they speak, outcomes are recorded in their name, the report's
    agent table and the records show them."""
    with sqlite3.connect(db) as conn:
        team = dict(conn.execute("select id, display_name from agents where active").fetchall())
        calls = conn.execute(
            "select a.agent_id, a.task_id, g.languages, c.language from attempts a "
            "join agents g on g.id = a.agent_id join customers c on c.id = a.customer_id "
            "where a.channel = 'agent'"
        ).fetchall()
        handed = {
            task
            for (task,) in conn.execute("select id from callback_tasks where plan_action = 'agent'")
        }
        by_agents = conn.execute(
            "select o.agent_id, o.name, t.reached_at is not null from outcomes o "
            "join callback_tasks t on t.id = o.task_id where o.agent_id is not null"
        ).fetchall()
        automated = conn.execute(
            "select count(*) from attempts where channel != 'agent' and agent_id is not null"
        ).fetchone()[0]
    assert len(team) >= 5 and handed
    assert calls and all(agent in team for agent, *_ in calls)
    assert all(language in json.loads(speaks) for _, _, speaks, language in calls)
    assert {task for _, task, *_ in calls} <= handed  # only what the IVR and SMS did not reach
    assert automated == 0  # the IVR's calls are nobody's
    assert by_agents and any(reached for *_, reached in by_agents)
    assert {agent for agent, *_ in by_agents} <= set(team)
    flat = " ".join(stdout.split())
    made = re.search(r"(\d+) calls by agents", flat)
    assert made is not None and int(made.group(1)) == len(calls)
    progress = re.findall(r"(\d+) agent calls", stderr)  # the bar's last drawing: the end
    assert progress and int(progress[-1]) == len(calls)
    rows = re.findall(r'<tr class="agent-row"><td>([^<]+)</td><td>(\d+)</td><td>(\d+)</td>',
                      report.read_text(encoding="utf-8"))  # fmt: skip
    assert rows and {name for name, *_ in rows} <= set(team.values())
    assert sum(int(attempts) for *_, attempts in rows) == len(calls)
    records = run_dialer(
        db.parent, "records", "--campaign", "after-service-satisfaction", "--json", "--limit",
        "0", db=db,
    )  # fmt: skip
    assert records.returncode == 0, records.stderr
    lines = [json.loads(line) for line in records.stdout.splitlines() if line.strip()]
    by_person = [r for r in lines if r["channel"] == "agent"]
    assert len(by_person) == len(calls) and all(r["agent"] in team.values() for r in by_person)


LABELS = {
    "in_time": "reached in time",
    "late": "reached late",
    "pending": "pending",
    "at_risk": "at risk",
    "breached": "breached",
    "not_contactable": "not contactable",
}


def _table(stdout: str) -> dict[str, tuple[int, int]]:
    """The coverage table's rows (state -> members, non-members) as printed."""
    rows = {}
    table = stdout.split("member coverage (reached in time ÷ decided)")[0].splitlines()
    for state, label in LABELS.items():
        [line] = [ln for ln in table if ln.startswith("│") and re.search(rf"\b{label}\b", ln)]
        members, non_members = (int(n) for n in re.findall(r"\b\d+\b", line))
        rows[state] = (members, non_members)
    return rows


def test_the_demo_ends_now_so_coverage_needs_no_at(tmp_path: Path) -> None:
    """The default run ends at the real now: a later `dialer coverage --json` on its database
    (no --at) agrees with the table the demo printed, and nothing is left pending for days."""
    db = tmp_path / "demo.db"
    got = run_dialer(tmp_path, "demo", "--customers", "200", "--days", "1", db=db)
    assert got.returncode == 0, got.stderr
    printed = _table(got.stdout)
    flat = " ".join(got.stdout.split())
    assert "ended now" in flat and "--at" not in flat
    # The last lines name the breached members (at most 10) and why, or say none breached.
    breached = printed["breached"][0]
    if breached:
        assert f"{breached} member(s) breached their deadline — what was tried and why:" in flat
        assert "why not now" in flat and "deadline passed unreached" in flat
        assert "+8869" not in got.stdout  # numbers masked
        if breached > 10:
            assert f"… and {breached - 10} more: dialer --db" in flat
    else:
        assert "no member breached its deadline" in flat
    cov = run_dialer(tmp_path, "coverage", "--json", db=db)
    assert cov.returncode == 0, cov.stderr
    [campaign] = json.loads(cov.stdout)["campaigns"]
    assert not json.loads(cov.stdout)["history"]
    for state, (members, non_members) in printed.items():
        assert (campaign["members"][state], campaign["non_members"][state]) == (
            members,
            non_members,
        ), state
    tasks = sum(m + n for m, n in printed.values())
    assert printed["in_time"][0] + printed["in_time"][1] > tasks // 2
    with sqlite3.connect(db) as conn:
        last = conn.execute("select max(created_at) from attempts").fetchone()[0]
        in_flight = conn.execute(
            "select count(*) from attempts where state in ('claimed', 'placed')"
        ).fetchone()[0]
    assert in_flight == 0
    end = re.search(r"ended now, at (\S+ \S+) UTC", flat)
    assert end is not None and last[:19] <= end.group(1)


def test_demo_refuses_a_database_that_holds_customers(tmp_path: Path) -> None:
    db = tmp_path / "mine.db"
    sample = Path(__file__).parents[2] / "dialer" / "samples" / "customers.csv"
    assert run_dialer(tmp_path, "import", str(sample), db=db).returncode in (0, 6)
    before = db.read_bytes()
    got = run_dialer(tmp_path, "demo", "--customers", "50", "--days", "0.1", db=db)
    assert got.returncode == 2
    assert "already holds customers" in got.stderr
    assert db.read_bytes() == before


def test_demo_help_is_listed() -> None:
    got = subprocess.run(
        [sys.executable, "-m", "dialer", "demo", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert got.returncode == 0 and "--customers" in got.stdout


def test_ctrl_c_removes_what_the_demo_wrote_and_says_so(tmp_path: Path) -> None:
    """Ctrl-C while the demo fast-forwards (tasks planned, calls going on): exit 130, one line
    saying what was removed, and no database, WAL or CSV left behind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer", "demo", "--customers", "2000", "--days", "3"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    db = tmp_path / "dialer-demo.db"
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("dialer demo: 2000 generated customers")
        while proc.poll() is None and not _has_attempts(db):  # until the run is under way
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
        assert proc.poll() is None, "the demo ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    [said] = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert said.startswith("interrupted: removed what the demo wrote (dialer-demo.db, ")
    assert said.endswith("dialer-demo-customers.csv)")  # (the WAL files too, when still there)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _has_attempts(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        # closing(): sqlite3's own context manager only commits; an open reader would keep the
        # file (and its -shm) alive while the demo removes it.
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            return bool(conn.execute("select count(*) from attempts").fetchone()[0])
    except sqlite3.Error:  # not created yet, or busy
        return False
