"""Benchmark the demo's idle step: a dispatcher tick against the `dispatch_due` check that lets
`dialer demo` skip it, measured in the same run on the same database.

    .venv/bin/python scripts/bench/demo_step.py                  # 3,000 tasks, 300 steps each
    .venv/bin/python scripts/bench/demo_step.py --tasks 500 --steps 100

A fresh SQLite file holds `--tasks` member tasks of the shipped after-service campaign, every
one waiting for a retry two hours ahead (what most of the demo's steps look like: nights, and
the spacing between tries). Each step moves a settable clock by ten minutes of the quiet hour
before the retries. **Baseline**: `Dispatcher.tick()` at every step (reap, schedule, claim: all
find nothing). **Demo**: `dispatch_due()` at every step, and the tick only when it says so (never
here). Prints the wall and CPU milliseconds per step of each and their ratio. Nothing is dialled:
the dispatcher's Twilio client points at a closed port and no tick has anything to send.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_seed, run as a script or not
from bench_seed import due_members  # noqa: E402

START = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # Tuesday 09:00 in Taipei


def main() -> int:
    from sqlalchemy import update

    from dialer.campaigns import load_campaign
    from dialer.clock import SettableClock
    from dialer.demo import dispatch_due
    from dialer.dispatch_config import DispatchConfig
    from dialer.dispatcher import Dispatcher
    from dialer.models import CallbackTask
    from dialer.planner import upsert_campaign
    from dialer.store import Store
    from dialer.telephony.client import Telephony

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-demo-step-"))
    store = Store.open(f"sqlite:///{folder / 'bench.db'}")
    try:
        clock = SettableClock(START)
        spec = load_campaign(ROOT / "campaigns" / "after-service-satisfaction.toml")
        with store.transaction() as s:
            cid = upsert_campaign(s, spec, START)
            due_members(s, cid, args.tasks, START, key="B", prefix="+8869")
            retry = START + timedelta(days=10)  # always ahead of the steps measured
            s.execute(update(CallbackTask).values(next_attempt_at=retry))
        telephony = Telephony("AC" + "0" * 32, "token", base_url="http://127.0.0.1:9")
        config = DispatchConfig(worker_id="bench", public_base_url="http://127.0.0.1:9", cps=10)
        dispatcher = Dispatcher(store, clock, telephony, config)
        step = timedelta(minutes=10)
        try:
            dispatcher.tick()  # warm: the campaign book and the statements' caches

            def run(with_check: bool) -> tuple[float, float]:
                clock.set(START)
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(args.steps):
                    if not with_check or dispatch_due(store, clock.now()):
                        dispatcher.tick()
                    clock.advance(step)
                return time.perf_counter() - wall, time.process_time() - cpu

            base_wall, base_cpu = run(with_check=False)
            demo_wall, demo_cpu = run(with_check=True)
        finally:
            dispatcher.close()
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
    n = args.steps
    print(f"{args.tasks} tasks, {n} idle steps of ten minutes")
    print(
        f"baseline (a tick every step): {base_wall / n * 1e3:.2f} ms/step wall, "
        f"{base_cpu / n * 1e3:.2f} ms/step CPU"
    )
    print(
        f"demo (dispatch_due, tick when due): {demo_wall / n * 1e3:.2f} ms/step wall, "
        f"{demo_cpu / n * 1e3:.2f} ms/step CPU"
    )
    print(
        f"demo_step: {demo_cpu / base_cpu:.3f}x the baseline's CPU per idle step "
        f"({demo_wall / base_wall:.3f}x wall)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
