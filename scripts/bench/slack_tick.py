"""Benchmark the runner's slack tick (`refresh_slack`) with and without the capacity model.

    .venv/bin/python scripts/bench/slack_tick.py                 # 100,000 open tasks
    .venv/bin/python scripts/bench/slack_tick.py --tasks 20000   # quicker

1. **Seed** (untimed): a fresh SQLite file (schema from `Store.open`); 10,000 customers in
   Taipei, Seoul and Tokyo (zh-TW / ko / ja); two campaigns: the shipped automated after-service
   one and the same handled by 20 agents (zh-TW, ko and ja speakers); N open tasks split
   between them, ~30% members, 0-2 tries made, deadlines every 3 hours over the next 3 days.
   One untimed pass stores slack and flags first (the steady state a runner is in).
2. **Baseline** (same run): `refresh_slack(..., capacity=False)`, the slack-only pass the tick
   was before capacity at-risk (read every open task with its customer, recompute slack, write
   the changed ones).
3. **Tick**: `refresh_slack(...)` as `dialer run` calls it: the same pass plus the capacity
   model per campaign and the flag writes.

Each pass runs 5 minutes after the previous one (so slack changes and is written, as in a
runner) inside a transaction rolled back afterwards, so baseline and tick see the same rows.
Wall-clock and CPU time (this process) are the fastest of `--repeat`; the machine is shared,
so CPU time per task is the steadier figure. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLUG = "after-service-satisfaction"
AGENTS_SLUG = "after-service-agents"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Asia/Taipei
CUSTOMERS = 10_000
PEOPLE = (("Asia/Taipei", "TW", "zh-TW"), ("Asia/Seoul", "KR", "ko"), ("Asia/Tokyo", "JP", "ja"))


def stamp(at: datetime) -> str:
    """A time as UTCDateTime stores it on SQLite."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def seed(db: Path, n: int, rng: random.Random) -> None:
    sys.path.insert(0, str(ROOT))
    from dialer.campaigns import CampaignSpec, load_campaign
    from dialer.planner import upsert_campaign
    from dialer.store import Store

    shipped = load_campaign(ROOT / "campaigns" / f"{SLUG}.toml")
    d = shipped.as_definition()
    d |= {"channels": ["agent", "sms"], "handled_by": "agents"}
    d["attempts"]["agent"] = d["attempts"].pop("voice")
    by_agents = CampaignSpec.from_definition(d, slug=AGENTS_SLUG)
    store = Store.open(f"sqlite:///{db}")
    with store.transaction() as s:
        ids = [upsert_campaign(s, spec, NOW) for spec in (shipped, by_agents)]
    store.close()
    conn = sqlite3.connect(db)
    created = stamp(NOW - timedelta(days=1))
    conn.executemany(
        "INSERT INTO agents (username, display_name, role, languages, daily_capacity, skill,"
        " work_start, work_end, work_days, time_zone, active, created_at)"
        " VALUES (?, ?, 'agent', ?, 60, 1, '09:00', '18:00', '[0,1,2,3,4]', ?, 1, ?)",
        [
            (f"a{i}", f"Agent {i}", f'["{PEOPLE[i % 3][2]}"]', PEOPLE[i % 3][0], created)
            for i in range(20)
        ],
    )
    conn.executemany(
        "INSERT INTO customers (customer_key, name, member, language, time_zones,"
        " time_zone_explicit, region, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
        [
            (
                f"B{i}", f"Bench {i}", i % 10 < 3, PEOPLE[i % 3][2], f'["{PEOPLE[i % 3][0]}"]',
                PEOPLE[i % 3][1], created, created,
            )
            for i in range(CUSTOMERS)
        ],
    )  # fmt: skip
    deadlines = [stamp(NOW + timedelta(hours=h)) for h in range(3, 75, 3)]
    rows = []
    for i in range(n):
        member = i % 10 < 3
        rows.append(
            (ids[i % 2], i % CUSTOMERS + 1, f"b{i}", member, rng.choice(deadlines),
             rng.randrange(0, 3), 0 if member else 10**9, created, created)
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO callback_tasks (campaign_id, customer_id, dedupe_key, member, state,"
        " deadline, attempts_made, priority, next_attempt_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
        [(*r[:7], r[7], r[7], r[8]) for r in rows],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-slack-tick-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "tick.db"
    try:
        if not db.exists():
            t0 = time.perf_counter()
            seed(db, args.tasks, random.Random(args.seed))
            print(f"seeded {args.tasks:,} open tasks in {time.perf_counter() - t0:.1f} s ({db})")
        sys.path.insert(0, str(ROOT))
        from sqlalchemy import func, select

        from dialer.attempts import CampaignBook
        from dialer.coverage import refresh_slack
        from dialer.models import CallbackTask
        from dialer.store import Store

        store = Store.open(f"sqlite:///{db}")
        book = CampaignBook()
        with store.transaction() as s:  # the steady state: slack and flags stored once
            refresh_slack(s, book, NOW)
        with store.sessions() as s:
            short = dict(
                s.execute(
                    select(CallbackTask.campaign_id, func.count())
                    .where(CallbackTask.capacity_short.is_(True))
                    .group_by(CallbackTask.campaign_id)
                ).all()
            )
        print(f"capacity-short tasks per campaign id after the first pass: {short}")

        def timed(at: datetime, capacity: bool) -> tuple[float, float, int]:
            with store.sessions() as s:
                w0, c0 = time.perf_counter(), time.process_time()
                changed = refresh_slack(s, book, at, capacity=capacity)
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                s.rollback()
            return wall, cpu, changed

        base: list[tuple[float, float, int]] = []
        tick: list[tuple[float, float, int]] = []
        for k in range(1, args.repeat + 1):
            at = NOW + timedelta(minutes=5 * k)
            base.append(timed(at, False))
            tick.append(timed(at, True))
        store.close()
        bw, bc = min(b[0] for b in base), min(b[1] for b in base)
        tw, tc = min(t[0] for t in tick), min(t[1] for t in tick)
        n = args.tasks
        print(f"rows written per pass: baseline {base[-1][2]:,}, tick {tick[-1][2]:,}")
        print(
            f"baseline slack-only pass: {bw:.3f} s wall, {bc:.3f} s CPU "
            f"({bc / n * 1e6:.1f} us CPU per open task)"
        )
        print(
            f"tick with capacity:       {tw:.3f} s wall, {tc:.3f} s CPU "
            f"({tc / n * 1e6:.1f} us CPU per open task)"
        )
        print(
            f"slack tick: {tw:.3f} s for {n:,} open tasks, {tw / bw:.2f}x the slack-only pass "
            f"wall, {tc / bc:.2f}x CPU; capacity part {max(tc - bc, 0):.3f} s CPU"
        )
        return 0
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
