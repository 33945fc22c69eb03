"""`dialer demo` as a user runs it: a real process, a fresh database, the sandbox, a report."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from dialer_process import run_dialer


def test_demo_runs_and_leaves_a_database_to_explore(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    got = run_dialer(
        tmp_path, "demo", "--customers", "300", "--days", "1",
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
    assert hint is not None and hint.group(1) == "2026-11-25 02:00:00 UTC"
    with sqlite3.connect(db) as conn:
        tasks = conn.execute("select count(*) from callback_tasks").fetchone()[0]
        reached = conn.execute(
            "select count(*) from callback_tasks where reached_at is not null"
        ).fetchone()[0]
        outcomes = conn.execute("select count(*) from outcomes").fetchone()[0]
    assert tasks > 250 and reached > tasks // 2 and outcomes >= reached
    # The database can be explored afterwards.
    cov = run_dialer(tmp_path, "coverage", "--at", hint.group(1), db=db)
    assert cov.returncode == 0 and "member coverage" in cov.stdout


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
    for state, label in LABELS.items():
        [line] = [ln for ln in stdout.splitlines() if re.search(rf"\b{label}\b", ln)]
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
