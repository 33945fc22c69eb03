"""Benchmark `dialer coverage` of one campaign over a million tasks on SQLite, with a baseline.

    .venv/bin/python scripts/bench/coverage.py                  # 1,000,000 tasks
    .venv/bin/python scripts/bench/coverage.py --tasks 100000   # quicker
    .venv/bin/python scripts/bench/coverage.py --workdir /tmp/c --keep --repeat 5

1. **Seed** (untimed): a fresh SQLite file with the schema from `Store.open` (same tables,
   indexes, PRAGMAs); 10,000 customers and N tasks of the shipped after-service campaign written
   by raw sqlite3 `executemany` in stored form: ~30% members; ~55% reached (90% of them in time),
   ~30% open with a stored slack (some below what their tries need: at risk; 5% of them
   stored as short of capacity, `capacity_short`), ~5% ended
   not_reached, ~2% not contactable, ~8% open past their deadline; ~10% notified.
2. **Baseline** (same run): the bare aggregate a report cannot beat,
   `SELECT member, state, count(*) FROM callback_tasks WHERE campaign_id = ? GROUP BY 1, 2`.
3. **Service**: `dialer.coverage.coverage(session, book, now, campaign=SLUG)` (the state CASE,
   notified-only and member-rows-rejected queries), on a warm connection.
4. **CLI**: `python -m dialer --db ... coverage SLUG --json` as a user runs it (a fresh
   interpreter: start-up and imports included), for information.

Each timed figure is the fastest of `--repeat` runs. Goal: the service under 1 s for 1,000,000
tasks. Not part of the test suite; `--strict` exits 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLUG = "after-service-satisfaction"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Asia/Taipei
CUSTOMERS = 10_000
GOAL_S = 1.0


def stamp(at: datetime) -> str:
    """A time as UTCDateTime stores it on SQLite."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def seed(db: Path, n: int, rng: random.Random) -> None:
    sys.path.insert(0, str(ROOT))
    from dialer.campaigns import load_campaign
    from dialer.planner import upsert_campaign
    from dialer.store import Store

    store = Store.open(f"sqlite:///{db}")
    with store.transaction() as s:
        upsert_campaign(s, load_campaign(ROOT / "campaigns" / f"{SLUG}.toml"), NOW)
    store.close()
    conn = sqlite3.connect(db)
    created = stamp(NOW - timedelta(days=3))
    conn.executemany(
        "INSERT INTO customers (customer_key, name, member, time_zones, time_zone_explicit,"
        " region, created_at, updated_at) VALUES (?, ?, ?, '[\"Asia/Taipei\"]', 0, 'TW', ?, ?)",
        [(f"B{i}", f"Bench {i}", i % 10 < 3, created, created) for i in range(CUSTOMERS)],
    )
    deadlines = [stamp(NOW + timedelta(hours=h)) for h in range(-48, 72, 3)]
    reached = [stamp(NOW - timedelta(minutes=m)) for m in range(0, 3000, 7)]
    rows = []
    for i in range(n):
        r = rng.random()
        deadline = rng.choice(deadlines)
        state, reached_at, slack, made, outcome, short = "pending", None, None, 0, None, False
        if r < 0.55:
            state, reached_at, outcome = "reached", rng.choice(reached), "satisfied"
            if rng.random() < 0.1:
                deadline = stamp(NOW - timedelta(days=3))  # reached late
        elif r < 0.85:
            slack, made = rng.randrange(0, 60_000), rng.randrange(0, 3)
            short = rng.random() < 0.05
        elif r < 0.90:
            state, outcome = "not_reached", "not_reached"
        elif r < 0.92:
            state, outcome = "not_contactable", "not_contactable"
        else:
            deadline, slack = stamp(NOW - timedelta(hours=rng.randrange(1, 40))), 0
        notified = stamp(NOW - timedelta(hours=5)) if rng.random() < 0.1 else None
        rows.append(
            (1, i % CUSTOMERS + 1, f"b{i}", i % 10 < 3, state, deadline, slack, made,
             reached_at, notified, outcome, created, created, short)
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO callback_tasks (campaign_id, customer_id, dedupe_key, member, state,"
        " deadline, slack_seconds, attempts_made, reached_at, notified_at, outcome, created_at,"
        " updated_at, capacity_short, priority)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        rows,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def best(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-coverage-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "coverage.db"
    try:
        if not db.exists():
            t0 = time.perf_counter()
            seed(db, args.tasks, random.Random(args.seed))
            print(f"seeded {args.tasks:,} tasks in {time.perf_counter() - t0:.1f} s ({db})")
        sys.path.insert(0, str(ROOT))
        from dialer.attempts import CampaignBook
        from dialer.coverage import coverage
        from dialer.store import Store

        raw = sqlite3.connect(db)
        base = best(
            lambda: raw.execute(
                "SELECT member, state, count(*) FROM callback_tasks WHERE campaign_id = 1"
                " GROUP BY 1, 2"
            ).fetchall(),
            args.repeat,
        )
        raw.close()
        store = Store.open(f"sqlite:///{db}")
        book = CampaignBook()
        holder: list[object] = []

        def service() -> None:
            with store.sessions() as s:
                holder[:] = [coverage(s, book, NOW, campaign=SLUG)]

        svc = best(service, args.repeat)
        store.close()
        (c,) = holder[0].campaigns  # type: ignore[attr-defined]
        print(f"members {dict(c.members)}; coverage {c.member_coverage:.3f}")
        print(f"non-members {dict(c.non_members)}; notified only {dict(c.notified_only)}")
        print(f"at risk by capacity {dict(c.at_risk_capacity)}")
        cmd = [sys.executable, "-m", "dialer", "--db", f"sqlite:///{db}", "coverage", SLUG]
        cli = best(
            lambda: subprocess.run([*cmd, "--json"], check=True, capture_output=True),
            args.repeat,
        )
        print(f"baseline GROUP BY member, state: {base:.3f} s")
        print(f"coverage service:                {svc:.3f} s ({svc / base:.2f}x baseline)")
        print(f"CLI `dialer coverage --json`:    {cli:.3f} s (fresh interpreter, imports included)")
        ok = svc < GOAL_S
        print(
            f"coverage: {svc:.3f} s for {args.tasks:,} tasks, {svc / base:.2f}x the bare GROUP BY "
            f"(goal < {GOAL_S:.0f} s: {'met' if ok else 'MISSED'})"
        )
        return 0 if ok or not args.strict else 1
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
