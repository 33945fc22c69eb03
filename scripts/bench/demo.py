"""Benchmark `dialer demo`: its wall and CPU time at two sizes, and the cost per customer of each.

    .venv/bin/python scripts/bench/demo.py                         # 3,000 against 750 customers
    .venv/bin/python scripts/bench/demo.py --customers 2000 --baseline 500 --repeat 2

The issue asks for "a few thousand customers … three days of campaign time in about a minute".
Each run is the real command (`python -m dialer demo --customers N`) in a fresh process and a
fresh directory, so imports, migrations, the report and the CLI's progress are all counted.
**Baseline**: the same demo on `--baseline` customers, in the same run. The ratio is the cost of
one customer at the full size over its cost at the baseline size: 1.0 means the demo's work grows
linearly with the customers (nothing reads more as the database fills); the fixed start-up cost
makes small sizes dearer per customer, so a ratio under 1 is normal.

CPU seconds (user + system of the demo process: the sandbox, the webhook app and the dispatcher
all run in it) move much less with the machine's load than the wall clock; both are printed,
with the load average beside them. `--repeat` runs the pair several times, alternating, and
keeps the fastest of each.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    customers: int
    wall: float
    cpu: float
    placed: int
    coverage: str

    def per_customer_ms(self, cpu: bool = False) -> float:
        return (self.cpu if cpu else self.wall) / self.customers * 1000


def run_demo(customers: int, days: float) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as folder:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "dialer", "demo", "--customers", str(customers),
             "--days", str(days)],
            cwd=folder, capture_output=True, text=True, check=False,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"dialer demo --customers {customers} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    placed = re.search(r"(\d+) calls/SMS placed", done.stdout)
    coverage = re.search(r"member coverage ([0-9.]+%)", done.stdout)
    return Run(
        customers, wall, cpu, int(placed.group(1)) if placed else 0,
        coverage.group(1) if coverage else "?",
    )  # fmt: skip


def show(label: str, run: Run) -> None:
    print(
        f"{label:9} {run.customers:6,} customers: {run.wall:6.1f} s wall, {run.cpu:6.1f} s CPU "
        f"({run.per_customer_ms():5.1f} / {run.per_customer_ms(cpu=True):5.1f} ms a customer), "
        f"{run.placed:,} calls/SMS placed, member coverage {run.coverage}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--baseline", type=int, default=750)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--goal", type=float, default=75.0, help="wall seconds (about a minute)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()
    if args.baseline <= 0 or args.customers <= 0:
        parser.error("--customers and --baseline must be positive")

    best: dict[str, Run] = {}
    for round_ in range(1, args.repeat + 1):
        for label, n in (("baseline", args.baseline), ("full", args.customers)):
            print(f"round {round_}, load {os.getloadavg()[0]:.2f}:", end=" ", flush=True)
            got = run_demo(n, args.days)
            show(label, got)
            if label not in best or got.wall < best[label].wall:
                best[label] = got
    base, full = best["baseline"], best["full"]
    ratio_wall = full.per_customer_ms() / base.per_customer_ms()
    ratio_cpu = full.per_customer_ms(cpu=True) / base.per_customer_ms(cpu=True)
    met = full.wall <= args.goal
    print(
        f"demo: {full.customers:,} customers in {full.wall:.1f} s wall / {full.cpu:.1f} s CPU "
        f"(goal about a minute, <= {args.goal:g} s: {'met' if met else 'missed'}); cost per "
        f"customer {ratio_wall:.2f}x wall, {ratio_cpu:.2f}x CPU of the {base.customers:,}-customer "
        "baseline (1.0: linear)"
    )
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
