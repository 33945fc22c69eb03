"""`dialer simulate` as a user runs it: a real process on a small imported customer file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from dialer_process import run_dialer
from sim_population import source_db

START = "2026-11-24 09:00 Asia/Taipei"


def _tables(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table but the audit log, row by row (what the simulation must leave alone)."""
    with sqlite3.connect(db) as conn:
        names = [
            r[0]
            for r in conn.execute("select name from sqlite_master where type = 'table'")
            if r[0] != "audit_log"
        ]
        return {n: sorted(conn.execute(f'select * from "{n}"'), key=repr) for n in names}


def test_simulate_prints_coverage_with_a_range_fifo_and_the_capacity_needed(
    tmp_path: Path,
) -> None:
    source_db(tmp_path, 12).close()
    db = tmp_path / "operator.db"
    before = _tables(db)
    got = run_dialer(
        tmp_path, "simulate", "after-service-satisfaction", "--runs", "2", "--search-runs", "1",
        "--cps", "0.002", "--start", START, db=db,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    text = " ".join(got.stdout.split())
    assert "12 open task(s), 6 for members" in text
    assert "member coverage" in text and "first in, first out" in text
    assert "deadline-aware" in text and "members reached in time" in text
    assert "needed to cover every reachable member" in text
    assert "fifo run, seed 1" in got.stderr  # progress, one line per run
    assert _tables(db) == before  # nothing but the audit entry written
    with sqlite3.connect(db) as conn:
        [(actor, subject)] = conn.execute(
            "select actor, subject_id from audit_log where action = 'simulate'"
        ).fetchall()
    assert (actor, subject) == ("ops-tester", "after-service-satisfaction")


def test_simulate_json_is_one_object_with_every_run(tmp_path: Path) -> None:
    source_db(tmp_path, 8).close()
    got = run_dialer(
        tmp_path, "simulate", "after-service-satisfaction", "--runs", "1", "--search-runs", "0",
        "--no-fifo", "--answer-rate", "1", "--start", START, "--json",
        db=tmp_path / "operator.db",
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    data = json.loads(got.stdout)
    assert data["campaign"] == "after-service-satisfaction"
    assert data["open_member_tasks"] == 4 and data["fifo"] is None and data["needed"] is None
    [run] = data["runs"]
    # Everybody answers: every member is reachable, and at 1 call/s every one is reached.
    assert run["members_reachable"] == run["members_in_time"] == 4
    assert data["priority"]["member_coverage"] == {"mean": 1.0, "min": 1.0, "max": 1.0}


def test_an_unknown_campaign_exits_5_with_one_sentence(tmp_path: Path) -> None:
    source_db(tmp_path, 2).close()
    got = run_dialer(tmp_path, "simulate", "no-such-campaign", db=tmp_path / "operator.db")
    assert got.returncode == 5
    assert "there is no campaign 'no-such-campaign'" in got.stderr
    assert "Traceback" not in got.stderr and len(got.stderr.strip().splitlines()) == 1


def test_a_bad_population_rate_is_refused_in_one_sentence(tmp_path: Path) -> None:
    source_db(tmp_path, 2).close()
    population = tmp_path / "population.toml"
    population.write_text("human = 0.9\nshouting = 1\n", encoding="utf-8")
    got = run_dialer(
        tmp_path, "simulate", "after-service-satisfaction", "--population", str(population),
        db=tmp_path / "operator.db",
    )  # fmt: skip
    assert got.returncode == 2
    assert "unknown keys shouting" in got.stderr and "Traceback" not in got.stderr
