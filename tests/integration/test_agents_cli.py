"""`dialer agents ...` as a user runs it: real processes, a real SQLite file, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from dialer_process import run_dialer
from seeding import agents_definition, seed_campaign, seed_open_tasks
from sqlalchemy import select

from dialer.models import AuditEntry
from dialer.store import Store


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_dialer(tmp_path, *args, db=tmp_path / "d.db")


def seed_tasks(tmp_path: Path, n: int, language: str) -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        cid = seed_campaign(store, now, {"handled_by": "agents"}, name="After service")
        seed_open_tasks(store, now, cid, [f"C{i}" for i in range(n)], language=language)
    finally:
        store.close()


def test_add_list_assign_json(tmp_path: Path) -> None:
    added = run(
        tmp_path,
        "agents", "add", "wang", "--name", "王小明", "--phone", "0912-345-678",
        "--languages", "zh-TW,en", "--skills", "after_service", "--capacity", "60",
        "--hours", "09:00-18:00", "--days", "mon-fri", "--time-zone", "Asia/Taipei", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["username"] == "wang"
    assert run(tmp_path, "agents", "add", "lin", "--name", "林", "--capacity", "30").returncode == 0
    dup = run(tmp_path, "agents", "add", "lin", "--name", "X")
    assert dup.returncode == 2 and dup.stderr.strip().startswith("error:")
    assert "Traceback" not in dup.stderr

    listing = run(tmp_path, "agents", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [r["username"] for r in rows] == ["lin", "wang"]
    assert rows[1]["languages"] == ["zh-TW", "en"]
    assert "912345678" not in listing.stdout and rows[1]["phone"].endswith("678")

    seed_tasks(tmp_path, 90, "zh-TW")
    result = run(tmp_path, "agents", "assign", "--campaign", "after-service", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["assigned"] == 90 and data["unassigned"] == 0
    loads = {a["username"]: a["backlog"] for a in data["agents"]}
    assert loads == {"lin": 30, "wang": 60}
    table = run(tmp_path, "agents", "assign")
    assert table.returncode == 0 and "assigned 0" in table.stdout

    assert run(tmp_path, "agents", "deactivate", "lin").returncode == 0
    moved = json.loads(run(tmp_path, "agents", "rebalance", "--json").stdout)
    assert moved["moved"] == 30 and moved["unassigned"] == 0  # wang takes all 90 (cap 3 days)

    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        with store.sessions() as s:
            entries = list(s.execute(select(AuditEntry.actor, AuditEntry.action)))
    finally:
        store.close()
    actions = [a for _, a in entries]
    assert {actor for actor, _ in entries} == {"ops-tester"}
    assert actions == [
        "agent_add",
        "agent_add",
        "tasks_assign",
        "agent_deactivate",
        "tasks_rebalance",
    ]


def test_import_bad_file_and_unknown_campaign(tmp_path: Path) -> None:
    path = tmp_path / "agents.csv"
    path.write_text("username,name,languages\nok,OK,ko\nbad,,ko\n", encoding="utf-8")
    result = run(tmp_path, "agents", "import", str(path))
    assert result.returncode == 3
    assert "row 3: name is empty" in result.stderr and "nothing was imported" in result.stderr
    assert run(tmp_path, "agents", "list", "--json").stdout.strip() == ""
    path.write_text("username,name,languages\nok,OK,ko\n", encoding="utf-8")
    good = run(tmp_path, "agents", "import", str(path), "--json")
    assert good.returncode == 0 and json.loads(good.stdout) == {"added": ["ok"], "updated": []}
    missing = run(tmp_path, "agents", "assign", "--campaign", "nope")
    assert missing.returncode == 5 and "no campaign 'nope'" in missing.stderr


def test_assign_names_the_tasks_no_shift_can_reach(tmp_path: Path) -> None:
    """A Taipei day shift (New York 20:00-05:00, or 21:00-06:00 in summer) never meets New York
    customers called 09:00-17:00, whatever today is: the tasks stay unassigned and are listed."""
    from dialer.clock import SystemClock

    # The shipped calendar (weekdays, holidays) stays: the shift misses whatever today is.
    definition = agents_definition("09:00-17:00", monday_to_friday=False)
    now = SystemClock().now()  # the dialer process runs on the system clock too
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        cid = seed_campaign(store, now, definition, name="After service")
        ids = seed_open_tasks(store, now, cid, [f"US{i}" for i in range(3)], language="en",
                              region="US", zone="America/New_York")  # fmt: skip
    finally:
        store.close()
    added = run(
        tmp_path, "agents", "add", "tpe", "--name", "TPE", "--languages", "zh-TW,en",
        "--hours", "09:00-18:00", "--days", "mon-fri", "--time-zone", "Asia/Taipei",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    data = json.loads(run(tmp_path, "agents", "assign", "--json").stdout)
    assert (data["assigned"], data["unassigned"], data["out_of_hours"]) == (0, 3, 3)
    assert data["out_of_hours_tasks"] == ids
    table = run(tmp_path, "agents", "assign")
    assert table.returncode == 0, table.stderr
    text = " ".join(table.stdout.split())
    assert "3 task(s) unassigned: out of hours: no active agent speaking en" in text
    assert f"out-of-hours task(s), most urgent first: {ids[0]}, {ids[1]}, {ids[2]}" in text
