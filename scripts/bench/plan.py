"""Benchmark `dialer plan` + `dialer agents assign` against a floor measured in the same run.

Seeds a fresh SQLite store with N service events (one customer each; ~30% members; mixed zones
TW/KR/CN/US with the customer's language; 5% with quiet hours; 5% of US numbers with two
candidate zones) and 200 agents (zh-TW in Taipei, ko in Seoul, zh-CN in Shanghai, en in New York),
written directly with sqlite3 executemany (not timed: the import has its own benchmark). Then,
in a fresh interpreter, times `plan_campaign` (after-service satisfaction, handled by agents)
and `assign_open_tasks`, then once more `rebalance` as `dialer run`'s assign job runs it every few
minutes (steady state: everything that fits is assigned; its ratio is against that first assign
in the same process). Peak memory is compared between a `--also-events` run and the full run,
each in its own fresh subprocess.

Floor (same run): one raw sqlite3 `executemany` of the very rows the planner wrote, into
callback_tasks of a fresh copy of the seeded database (same schema, same indexes, same PRAGMAs).

Goals: plan + assign of 1,000,000 events under 60 s; peak RSS at --events <= 1.25x the peak at
--also-events.

    .venv/bin/python scripts/bench/plan.py                 # 1,000,000 events vs 100,000
    .venv/bin/python scripts/bench/plan.py --quick         # 100,000 events vs 20,000
    .venv/bin/python scripts/bench/plan.py --profile       # cProfile the --also-events run

Not part of the test suite: it prints figures and asserts nothing (`--strict` exits 1 when a goal
is missed).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

TIME_GOAL_S = 60.0
MEMORY_GOAL = 1.25
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Asia/Taipei
ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "campaigns" / "after-service-satisfaction.toml"

# (share, region, zones, language, number prefix)
MARKETS = (
    (0.60, "TW", ("Asia/Taipei",), "zh-TW", "+8869"),
    (0.15, "KR", ("Asia/Seoul",), "ko", "+8210"),
    (0.15, "CN", ("Asia/Shanghai",), "zh-CN", "+86138"),
    (0.10, "US", ("America/New_York",), "en", "+1415"),
)
US_ZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles")
# (agents, language, zone)
AGENTS = ((120, "zh-TW", "Asia/Taipei"), (30, "ko", "Asia/Seoul"),
          (30, "zh-CN", "Asia/Shanghai"), (20, "en", "America/New_York"))  # fmt: skip


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def seed(db: Path, events: int, seed_value: int) -> None:
    """Schema via Store.open (same tables, indexes, PRAGMAs), rows via raw executemany."""
    from dialer.store import Store

    Store.open(f"sqlite:///{db}").close()
    rng = random.Random(seed_value)
    created = _stamp(NOW - timedelta(hours=1))
    customers, phones, evs = [], [], []
    cum = []
    acc = 0.0
    for share, *rest in MARKETS:
        acc += share
        cum.append((acc, rest))
    for i in range(1, events + 1):
        r = rng.random()
        region, zones, lang, prefix = next(m for c, m in cum if r <= c)
        if region == "US":
            zones = (rng.choice(US_ZONES),)
            if rng.random() < 0.05:
                zones = ("America/New_York", "America/Chicago")
        quiet = "12:00-13:30" if rng.random() < 0.05 else None
        member = 1 if rng.random() < 0.30 else 0
        zj = json.dumps(list(zones))
        customers.append(
            (i, f"B{i:07d}", f"Customer {i}", member, None, lang, region, zj, 0, quiet,
             created, created)
        )  # fmt: skip
        phones.append((i, i, f"{prefix}{i:08d}", "mobile", region, zj, 0, 1, 1))
        day = date(2026, 11, 20) + timedelta(days=rng.randrange(3))
        at = datetime(day.year, day.month, day.day, 1 + rng.randrange(9), rng.randrange(60),
                      tzinfo=UTC)  # fmt: skip
        evs.append((i, i, f"e{i}", day.isoformat(), _stamp(at), "oil", created))
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    with con:
        con.executemany(
            "INSERT INTO customers (id, customer_key, name, member, marketing_consent, language,"
            " region, time_zones, time_zone_explicit, quiet_hours, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            customers,
        )
        con.executemany(
            "INSERT INTO customer_phones (id, customer_id, e164, phone_type, region, time_zones,"
            " rank, voice_ok, sms_ok) VALUES (?,?,?,?,?,?,?,?,?)",
            phones,
        )
        con.executemany(
            "INSERT INTO service_events (id, customer_id, event_key, service_date, service_at,"
            " service_type, created_at) VALUES (?,?,?,?,?,?,?)",
            evs,
        )
        n = 0
        for count, lang, zone in AGENTS:
            for _ in range(count):
                n += 1
                con.execute(
                    "INSERT INTO agents (username, display_name, role, languages, daily_capacity,"
                    " skill, work_start, work_end, work_days, time_zone, active, created_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (f"agent{n:03d}", f"Agent {n}", "agent", json.dumps([lang]),
                     rng.choice((60, 80, 100)), 1, "09:00", "18:00", json.dumps([0, 1, 2, 3, 4]),
                     zone, 1, created),
                )  # fmt: skip
    con.close()


def _peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_plan(db: Path, profile: Path | None) -> dict[str, Any]:
    """Plan + assign in this (fresh) interpreter; only these two calls are timed."""
    from dialer.assign import DEFAULT_CAP_DAYS, assign_open_tasks, rebalance
    from dialer.campaigns import load_campaign
    from dialer.clock import SettableClock
    from dialer.planner import plan_campaign
    from dialer.store import Store

    spec = load_campaign(CAMPAIGN).model_copy(
        update={"handled_by": "agents", "channels": ["agent", "sms"]}
    )
    store = Store.open(f"sqlite:///{db}")
    clock = SettableClock(NOW)
    prof = None
    if profile is not None:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    c0, t0 = time.process_time(), time.perf_counter()
    result = plan_campaign(store, clock, spec)
    c1, t1 = time.process_time(), time.perf_counter()
    assigned = assign_open_tasks(store, clock)
    c2, t2 = time.process_time(), time.perf_counter()
    job = rebalance(  # as Runner.assign_tick calls it
        store, clock, actor="runner", behind_days=DEFAULT_CAP_DAYS, audit_unchanged=False
    )
    t3 = time.perf_counter()
    if prof is not None and profile is not None:
        prof.disable()
        prof.dump_stats(str(profile))
    store.close()
    return {
        "plan_s": t1 - t0,
        "assign_s": t2 - t1,
        "plan_cpu_s": c1 - c0,
        "assign_cpu_s": c2 - c1,
        "job_s": t3 - t2,
        "job_moved": job.assigned + job.moved,
        "created": result.created,
        "infeasible": result.infeasible_count,
        "assigned": assigned.assigned,
        "unassigned": assigned.unassigned,
        "capacity": result.capacity.verdict if result.capacity else None,
        "peak_mb": _peak_rss_mb(),
    }


def run_floor(planned: Path, fresh: Path) -> dict[str, Any]:
    """Insert the planner's rows with one raw executemany into a fresh copy of the seed."""
    src = sqlite3.connect(planned)
    cols = [r[1] for r in src.execute("PRAGMA table_info(callback_tasks)") if r[1] != "id"]
    rows = src.execute(f"SELECT {', '.join(cols)} FROM callback_tasks").fetchall()
    campaigns = src.execute("SELECT * FROM campaigns").fetchall()
    src.close()
    con = sqlite3.connect(fresh)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    with con:  # the campaign row the tasks refer to (untimed)
        width = len(campaigns[0]) if campaigns else 0
        con.executemany(f"INSERT INTO campaigns VALUES ({', '.join('?' * width)})", campaigns)
    sql = f"INSERT INTO callback_tasks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    t0 = time.perf_counter()
    with con:
        con.executemany(sql, rows)
    seconds = time.perf_counter() - t0
    con.close()
    return {"floor_s": seconds, "rows": len(rows)}


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--also-events", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="100,000 events vs 20,000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile the smaller run")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        mode, *rest = args.child
        if mode == "seed":
            seed(Path(rest[0]), int(rest[1]), int(rest[2]))
            print("{}")
        elif mode == "plan":
            print(json.dumps(run_plan(Path(rest[0]), Path(rest[1]) if len(rest) > 1 else None)))
        else:
            print(json.dumps(run_floor(Path(rest[0]), Path(rest[1]))))
        return 0
    if args.quick:
        args.events, args.also_events = 100_000, 20_000
    work = args.workdir or Path(tempfile.mkdtemp(prefix="dialer-bench-plan-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[int, dict[str, Any]] = {}
    try:
        for n in (args.also_events, args.events):
            db = work / f"plan-{n}.db"
            for p in work.glob(f"plan-{n}.db*"):
                p.unlink()
            t0 = time.perf_counter()
            _child("seed", str(db), str(n), str(args.seed))
            print(f"seeded {n:,} events + 200 agents in {time.perf_counter() - t0:.1f} s (untimed)")
            floor_db = work / f"floor-{n}.db"
            shutil.copyfile(db, floor_db)
            profile = [str(work / "plan.prof")] if args.profile and n == args.also_events else []
            fig = _child("plan", str(db), *profile)
            fig.update(_child("floor", str(db), str(floor_db)))
            figures[n] = fig
            total = fig["plan_s"] + fig["assign_s"]
            print(
                f"{n:>9,} events: plan {fig['plan_s']:.1f} s + assign {fig['assign_s']:.1f} s = "
                f"{total:.1f} s, {fig['created'] / total:,.0f} tasks/s; {fig['created']:,} tasks, "
                f"{fig['assigned']:,} assigned, {fig['unassigned']:,} left (agents' 3-day cap), "
                f"{fig['infeasible']:,} infeasible; peak RSS {fig['peak_mb']:.0f} MB; "
                f"floor (raw executemany of the same rows) {fig['floor_s']:.1f} s "
                f"= {total / fig['floor_s']:.1f}x floor"
            )
            print(
                f"          CPU time of this process: plan {fig['plan_cpu_s']:.1f} s + assign "
                f"{fig['assign_cpu_s']:.1f} s (wall minus CPU = waiting: I/O or a busy machine)"
            )
            print(f"          capacity: {fig['capacity']}")
            print(
                f"          assign job again (rebalance, steady state): {fig['job_s']:.1f} s = "
                f"{fig['job_s'] / fig['assign_s']:.2f}x the first assign; "
                f"{fig['job_moved']:,} tasks changed hands"
            )
        big, small = figures[args.events], figures[args.also_events]
        total = big["plan_s"] + big["assign_s"]
        ratio = big["peak_mb"] / small["peak_mb"]
        print(
            f"plan: {total:.1f} s for {args.events:,} events (goal < {TIME_GOAL_S:.0f} s), "
            f"{big['created'] / total:,.0f} tasks/s, {total / big['floor_s']:.1f}x floor; "
            f"memory {ratio:.2f}x (goal <= {MEMORY_GOAL}x)"
        )
        if args.profile:
            print(f"profile: {work / 'plan.prof'} (python -m pstats)")
        missed = total >= TIME_GOAL_S or ratio > MEMORY_GOAL
        return 1 if args.strict and missed else 0
    finally:
        if not (args.keep or args.workdir or args.profile):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
