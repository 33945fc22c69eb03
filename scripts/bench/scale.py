"""Benchmark several dispatchers on one PostgreSQL, with baselines measured in the same run.

    .venv/bin/python scripts/bench/scale.py                       # parts 1, 2 and 3
    .venv/bin/python scripts/bench/scale.py --parts 2 --e2e 2000  # quicker
    .venv/bin/python scripts/bench/scale.py --parts 4 --drain 100000   # the soak

1. **store path**: attempts/s through the dispatcher's own store path alone (claim a batch with
   its lease, `books.claim`; record each as placed, `books.mark_placed_many`; no HTTP; as the
   dispatcher does, one transaction records a batch and claims the next) with 1, 2 and 4 worker
   processes, next to the bare SKIP LOCKED claim loop (the same claim and an executemany of
   single-row updates as plain SQL on psycopg, each in its own transaction) with 1, 2 and 4
   processes. Goals: 2 workers >= 1.5x one, and ours within 2x of the bare loop (ratio >= 0.5)
   at each worker count. Also measured, for information: the bare loop in ours' shape ("bare
   batch": one transaction records a batch in one statement over arrays and claims the next),
   which shows ours' overhead (SQLAlchemy, the priority window) apart from that shape.
2. **end to end**: `dialer run --role dispatcher` processes (1, 2, 4) against a zero-latency
   `dialer sandbox` process, CPS set far above what they reach: calls/s from the sandbox's own
   arrival log, and the CPU seconds each process used (dispatchers, sandbox, PostgreSQL's
   backends), which says what limits it on a two-core machine.
3. **the claim query at 1,000,000 pending attempts**: EXPLAIN (ANALYZE) of the exact statement
   `books.claim` sends; its candidates must come from an index scan of the claim's partial
   index (no Seq Scan); the priority order is a sort of that bounded window only.
4. **soak** (only when asked): `--drain N` attempts drained by 4 dispatchers at `--cps`, with
   the checks of the CI test (`tests/integration/test_fleet.py`): once each, CPS never exceeded.

Each part works in its own PostgreSQL schema (dropped afterwards) of `--db`
(default postgresql://127.0.0.1:5432/test). Not part of the test suite; `--strict` exits 1
when a goal is missed. The machine's other load shows in the figures: say so with them.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the fleet rig the CI test uses
from fleet_rig import Fleet, busiest_second, seed_due  # noqa: E402

BATCH = 100
TICKS = os.sysconf("SC_CLK_TCK")

# ------------------------------------------------------------------------------ schemas


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class Schema:
    """A fresh schema of `url` with dialer's tables; dropped on close."""

    def __init__(self, url: str) -> None:
        import psycopg

        from dialer.store import Store

        self.url, self.name = url, f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(plain(url), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        self.store = Store.open(url, schema=self.name)
        sep = "&" if "?" in url else "?"
        self.cli_url = f"{url}{sep}options=-csearch_path%3D{self.name}"

    def sql(self, statement: str, *, fetch: bool = False) -> Any:
        import psycopg

        with psycopg.connect(plain(self.url), autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.name}"')
            cur = conn.execute(statement)  # type: ignore[arg-type]
            return cur.fetchall() if fetch else None

    def close(self) -> None:
        import psycopg

        self.store.close()
        with psycopg.connect(plain(self.url), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


def seed_attempts(schema: Schema, n: int, tasks: int = 1000) -> None:
    """`n` scheduled attempts, due now, over `tasks` tasks of one customer (numbers 1..)."""
    seed_due(schema.store, Path(tempfile.mkdtemp(prefix="dialer-scale-")), tasks)
    per = -(-n // tasks)
    schema.sql(
        "INSERT INTO attempts (task_id, customer_id, number, channel, phone_e164, from_e164, "
        "state, due_at, created_at) "
        "SELECT t.id, t.customer_id, g, 'voice', '+886900000000', '+15005550006', 'scheduled', "
        "now() - interval '1 minute', now() FROM callback_tasks t, generate_series(1, "
        f"{per}) g ORDER BY g, t.id LIMIT {n}"
    )
    schema.sql("ANALYZE")  # the tasks too: a stale row count picks seq scans of them


def reset_attempts(schema: Schema) -> None:
    schema.sql(
        "UPDATE attempts SET state = 'scheduled', claimed_by = NULL, claimed_at = NULL, "
        "lease_expires_at = NULL, provider_sid = NULL, provider_status = NULL, placed_at = NULL "
        "WHERE state <> 'scheduled'"
    )
    schema.sql("VACUUM ANALYZE attempts")


# ------------------------------------------------------------------------------ part 1


def ours_worker(url: str, schema: str, name: str, go: Any, out: Any) -> None:
    """A process: the dispatcher's store path (`Dispatcher._record`): each transaction claims
    the next batch (`books.claim`) and records the last as placed (`books.mark_placed_many`)."""
    from dialer import attempts as books
    from dialer.clock import SystemClock
    from dialer.store import Store

    store = Store.open(url, schema=schema, upgrade=False, application_name=f"scale-{schema}")
    clock = SystemClock()
    with store.transaction() as s:  # the pool's one connection, whose backend is measured
        backend = s.connection().connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
    go.wait()
    done, start, cpu, pg = 0, time.perf_counter(), time.process_time(), cpu_seconds(backend)
    ids: list[int] = []
    while True:
        with store.transaction() as s:  # the claim first, as the dispatcher does
            claimed = books.claim(s, name, clock.now(), timedelta(minutes=2), BATCH)
            books.mark_placed_many(
                s,
                [(i, f"CA{i:032x}", "queued", clock.now() + timedelta(minutes=15)) for i in ids],
                clock.now(),
            )
        done, ids = done + len(ids), claimed
        if not ids:
            break
    out.put(
        (done, start, time.perf_counter(), time.process_time() - cpu, cpu_seconds(backend) - pg)
    )
    store.close()


BARE_CLAIM = (
    "WITH due AS MATERIALIZED (SELECT id FROM attempts WHERE coalesce(state = 'scheduled', "
    "false) AND due_at <= "  # the claimable partial index's own predicate (migration 0011)
    "now() ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED) UPDATE attempts a SET state = "
    "'claimed', claimed_by = %s, claimed_at = now(), lease_expires_at = now() + interval "
    "'2 minutes' FROM due WHERE a.id = due.id RETURNING a.id"
)
BARE_PLACE = (
    "UPDATE attempts SET state = 'placed', provider_sid = %s, provider_status = 'queued', "
    "placed_at = now(), lease_expires_at = now() + interval '15 minutes' "
    "WHERE id = %s AND (state = 'claimed') IS TRUE"  # by primary key: see attempts.still
)


def bare_worker(url: str, schema: str, name: str, go: Any, out: Any) -> None:
    """A process: the same claim and record as plain SQL on one psycopg connection."""
    import psycopg

    conn = psycopg.connect(
        plain(url), options=f"-csearch_path={schema}", application_name=f"scale-{schema}"
    )
    backend = conn.info.backend_pid
    go.wait()
    done, start, cpu, pg = 0, time.perf_counter(), time.process_time(), cpu_seconds(backend)
    while True:
        with conn.transaction():
            ids = [r[0] for r in conn.execute(BARE_CLAIM, (BATCH, name)).fetchall()]
        if not ids:
            break
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(BARE_PLACE, [(f"CA{i:032x}", i) for i in ids])
        done += len(ids)
    out.put(
        (done, start, time.perf_counter(), time.process_time() - cpu, cpu_seconds(backend) - pg)
    )
    conn.close()


BARE_PLACE_BATCH = (
    "UPDATE attempts a SET state = 'placed', provider_sid = b.sid, provider_status = 'queued', "
    "placed_at = now(), lease_expires_at = now() + interval '15 minutes' "
    "FROM unnest(%s::int[], %s::text[]) AS b(id, sid) "
    "WHERE a.id = ANY(%s::int[]) AND a.id = b.id AND (a.state = 'claimed') IS TRUE"
)


def bare_batch_worker(url: str, schema: str, name: str, go: Any, out: Any) -> None:
    """A process: the bare loop in ours' shape: one transaction records the last batch (one
    statement over arrays) and claims the next, so ours' overhead shows apart from its shape."""
    import psycopg

    conn = psycopg.connect(
        plain(url), options=f"-csearch_path={schema}", application_name=f"scale-{schema}"
    )
    backend = conn.info.backend_pid
    go.wait()
    done, start, cpu, pg = 0, time.perf_counter(), time.process_time(), cpu_seconds(backend)
    ids: list[int] = []
    while True:
        with conn.transaction():
            if ids:
                conn.execute(BARE_PLACE_BATCH, (ids, [f"CA{i:032x}" for i in ids], ids))
            done += len(ids)
            ids = [r[0] for r in conn.execute(BARE_CLAIM, (BATCH, name)).fetchall()]
        if not ids:
            break
    out.put(
        (done, start, time.perf_counter(), time.process_time() - cpu, cpu_seconds(backend) - pg)
    )
    conn.close()


@dataclass(frozen=True)
class Run:
    """One drain: attempts/s, and the CPU microseconds per attempt of the workers' Python
    processes and of their PostgreSQL backends (the two cores' budget, whatever else runs)."""

    rate: float
    python_us: float
    backend_us: float
    others: float  # cores the rest of the machine (other helpers' work) used meanwhile

    @property
    def cpu_us(self) -> float:
        return self.python_us + self.backend_us


def drain_with(schema: Schema, target: Any, workers: int) -> Run:
    """`workers` processes draining every scheduled attempt: attempts/s and CPU per attempt."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(schema.url, schema.name, f"w{i}", go, out))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    time.sleep(2.0)  # every process connected and waiting
    busy, began = machine_busy(), time.perf_counter()
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    busy, span = machine_busy() - busy, time.perf_counter() - began
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    ours = sum(r[3] + r[4] for r in results)
    return Run(
        done / (max(r[2] for r in results) - min(r[1] for r in results)),
        sum(r[3] for r in results) / done * 1e6,
        sum(r[4] for r in results) / done * 1e6,
        max(0.0, busy - ours) / span,
    )


def machine_busy() -> float:
    """CPU seconds every core of the machine has spent busy so far (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS  # all but idle and iowait


class WaitSampler:
    """Samples, every 10 ms, what the bench's active backends wait on (pg_stat_activity):
    `CPU` when nothing, else `Lock:transactionid`, `LWLock:BufferContent`, `Client:...`."""

    def __init__(self, url: str, app: str) -> None:
        import threading

        self.url, self.app, self.seen = url, app, Counter[str]()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(plain(self.url), autocommit=True) as conn:
            while not self.stop.wait(0.01):
                for (event,) in conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') "
                    "FROM pg_stat_activity WHERE application_name = %s AND state = 'active'",
                    (self.app,),
                ):
                    self.seen[event] += 1

    def close(self) -> str:
        self.stop.set()
        self.thread.join()
        total = sum(self.seen.values()) or 1
        return ", ".join(f"{k} {v / total:.0%}" for k, v in self.seen.most_common(4))


KINDS = (("bare", bare_worker), ("bare batch", bare_batch_worker), ("ours", ours_worker))


def store_path(url: str, n: int, rounds: int) -> dict[str, dict[int, list[tuple[Run, str]]]]:
    """Each round: the bare loop then ours, with 1, 2 and 4 workers, on the same table."""
    schema = Schema(url)
    try:
        seed_attempts(schema, n, tasks=n)  # one in flight per task: one attempt each
        runs: dict[str, dict[int, list[tuple[Run, str]]]] = {k: {} for k, _ in KINDS}
        drain_with(schema, bare_worker, 2)  # warm-up, not counted: the fresh rows' first pass
        for _ in range(rounds):
            for workers in (1, 2, 4):
                for kind, target in KINDS:
                    reset_attempts(schema)
                    sampler = WaitSampler(url, f"scale-{schema.name}")
                    run = drain_with(schema, target, workers)
                    runs[kind].setdefault(workers, []).append((run, sampler.close()))
        return runs
    finally:
        schema.close()


# ------------------------------------------------------------------------------ part 2


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_cpu() -> float:
    """CPU of every PostgreSQL process of this machine (its backends serve the fleet)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() in ("postgres", "postmaster"):
                    total += cpu_seconds(int(proc.name))
            except OSError:
                continue
    return total


class Analyser:
    """Autovacuum's ANALYZE, every 30 s, where the server runs with autovacuum off (this
    machine's does): the attempts table grows from empty as the dispatchers schedule, and a
    production server would have analysed it within a minute. Without any statistics the
    planner reads every scheduled attempt for each claim's window (tests/store/test_claim_plan.py),
    which is this machine's configuration, not the dialer's."""

    def __init__(self, schema: Schema) -> None:
        import threading

        self.schema, self.stop, self.runs = schema, threading.Event(), 0
        self.needed = schema.sql("SHOW autovacuum", fetch=True)[0][0] == "off"
        self.thread = threading.Thread(target=self.run, daemon=True)
        if self.needed:
            self.schema.sql("ANALYZE attempts, callback_tasks")
            self.thread.start()

    def run(self) -> None:
        while not self.stop.wait(30.0):
            self.schema.sql("ANALYZE attempts, callback_tasks")  # what the dispatchers change
            self.runs += 1

    def close(self) -> None:
        self.stop.set()
        if self.needed:
            self.thread.join()


def end_to_end(url: str, n: int, workers: int, cps: float) -> dict[str, Any]:
    schema = Schema(url)
    work = Path(tempfile.mkdtemp(prefix="dialer-scale-e2e-"))
    fleet = Fleet(schema.cli_url, work, cps=cps)
    analyser: Analyser | None = None
    try:
        seed_due(schema.store, work / "campaigns", n)
        analyser = Analyser(schema)
        fleet.start_sandbox()
        fleet.start_web()
        sandbox, web = fleet.procs[0], fleet.procs[1]
        pg_before, busy, began = postgres_cpu(), machine_busy(), time.monotonic()
        dispatchers = [fleet.start_dispatcher() for _ in range(workers)]
        deadline = time.monotonic() + max(900.0, 4 * n / min(cps, 1000.0))  # a loaded machine
        while time.monotonic() < deadline:
            got = schema.sql(
                "SELECT count(*) FROM attempts WHERE provider_sid IS NOT NULL", fetch=True
            )
            if got[0][0] >= n:
                break
            time.sleep(1.0)
        cpu = {f"dispatcher {i + 1}": cpu_seconds(d.pid) for i, d in enumerate(dispatchers)}
        cpu["sandbox"] = cpu_seconds(sandbox.pid)
        cpu["web"] = cpu_seconds(web.pid)
        cpu["postgres (all its backends, other sessions' too)"] = postgres_cpu() - pg_before
        busy, elapsed = machine_busy() - busy, time.monotonic() - began
        arrivals = fleet.call_arrivals()
        contacts = Counter(c["to"] for c in fleet.sandbox_log()["contacts"])
    finally:
        if analyser is not None:
            analyser.close()
        fleet.close()
        schema.close()
        shutil.rmtree(work, ignore_errors=True)
    span = max(arrivals) - min(arrivals) if len(arrivals) > 1 else float("nan")
    return {
        "calls": len(arrivals),
        "rate": len(arrivals) / span,
        "span": span,
        "busiest": busiest_second([float(a) for a in arrivals]),
        "twice": sum(1 for v in contacts.values() if v > 1),
        "cpu": cpu,
        "machine": busy / elapsed,  # cores busy, ours and everyone else's
        "others": max(0.0, busy - sum(cpu.values())) / elapsed,
        "analysed": analyser.runs if analyser is not None and analyser.needed else None,
    }


# ------------------------------------------------------------------------------ part 3


def explain_claim(url: str, n: int) -> tuple[str, bool]:
    from sqlalchemy import event

    from dialer import attempts as books
    from dialer.clock import SystemClock

    schema = Schema(url)
    try:
        seed_attempts(schema, n)
        captured: list[tuple[str, Any]] = []

        def grab(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.lstrip().upper().startswith("WITH CLAIM_WINDOW"):
                captured.append((statement, params))

        engine = schema.store.engine
        event.listen(engine, "before_cursor_execute", grab)
        with schema.store.sessions() as s, s.begin():
            books.claim(s, "explain", SystemClock().now(), timedelta(minutes=2), BATCH)
            statement, params = captured[0]
            raw = s.connection().connection.driver_connection
            assert raw is not None
            rows = raw.execute(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + statement, params
            ).fetchall()
            s.rollback()
        event.remove(engine, "before_cursor_execute", grab)
        plan = "\n".join(r[0] for r in rows)
        # The candidates come from the claim's partial index; the priority sort is over that
        # bounded window only (attempts.CANDIDATES_PER_CLAIM), never over every pending row; the
        # window's rows are locked through the primary key (tests/store/test_claim_plan.py checks
        # that on stale statistics too). (The 1,000 tasks may be hashed whole:
        # with that few the planner rightly reads them in one go.)
        lines = plan.splitlines()
        by_window = [i for i, line in enumerate(lines) if "Index Cond: (id = ANY" in line]
        good = (
            "ix_attempts_claimable" in plan
            and "Seq Scan on attempts" not in plan
            and bool(by_window)
            and all("pk_attempts" in lines[i - 1] for i in by_window)
        )
        return plan, good
    finally:
        schema.close()


# ------------------------------------------------------------------------------ part 4


def soak(url: str, n: int, cps: float) -> dict[str, Any]:
    result = end_to_end(url, n, 4, cps)
    result["ok"] = result["calls"] == n and result["twice"] == 0 and result["busiest"] <= cps
    return result


# ------------------------------------------------------------------------------ main


def analysed_note(r: dict[str, Any]) -> str:
    if r["analysed"] is None:
        return ""
    return f" (the server's autovacuum is off: ANALYZE at the start and every 30 s, {r['analysed']} times)"


def cpu_line(cpu: dict[str, float], span: float) -> str:
    return ", ".join(f"{k} {v:.1f} s ({v / span * 100:.0f}%)" for k, v in cpu.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=os.environ.get("DIALER_TEST_DATABASE_URL")
                        or "postgresql://127.0.0.1:5432/test")  # fmt: skip
    parser.add_argument("--parts", default="1,2,3")
    parser.add_argument("--store-attempts", type=int, default=20_000, help="part 1: pool size")
    parser.add_argument("--rounds", type=int, default=3, help="part 1: repeats (medians)")
    parser.add_argument("--e2e", type=int, default=5_000, help="part 2: calls per run")
    parser.add_argument("--e2e-cps", type=float, default=100_000.0, help="part 2: configured CPS")
    parser.add_argument("--pending", type=int, default=1_000_000, help="part 3")
    parser.add_argument("--drain", type=int, default=100_000, help="part 4: attempts")
    parser.add_argument("--cps", type=float, default=100.0, help="part 4: fleet CPS")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    parts = {int(p) for p in args.parts.split(",")}
    ok = True
    if 1 in parts:
        runs = store_path(args.db, args.store_attempts, args.rounds)
        print(
            "1. store path (claim a batch of 100 with its lease, record as placed; no HTTP), "
            f"{args.store_attempts:,} attempts, {args.rounds} round(s); CPU per attempt = the "
            "workers' Python + their PostgreSQL backends; wait = what the active backends "
            "waited on (pg_stat_activity):"
        )
        for kind, _ in KINDS:
            for w, got in runs[kind].items():
                rates = ", ".join(f"{r.rate:,.0f}" for r, _ in got)
                cpu = ", ".join(f"{r.python_us:.0f}+{r.backend_us:.0f}" for r, _ in got)
                others = ", ".join(f"{r.others:.1f}" for r, _ in got)
                print(
                    f"   {kind} {w} worker(s): {rates} attempts/s; CPU us/attempt {cpu}; other "
                    f"processes' cores {others}; wait {got[-1][1]}"
                )
        med = {
            k: {w: median([r.rate for r, _ in got]) for w, got in v.items()}
            for k, v in runs.items()
        }
        ours, bare, batch = med["ours"], med["bare"], med["bare batch"]
        scaling, bare_scaling = ours[2] / ours[1], bare[2] / bare[1]
        within = min(ours[w] / bare[w] for w in ours)
        good = scaling >= 1.5 and within >= 0.5
        ok &= good
        cpu_ratio = median([r.cpu_us for r, _ in runs["bare"][1]]) / median(
            [r.cpu_us for r, _ in runs["ours"][1]]
        )
        print(
            f"   medians: ours {ours[1]:,.0f} / {ours[2]:,.0f} / {ours[4]:,.0f} attempts/s, bare "
            f"{bare[1]:,.0f} / {bare[2]:,.0f} / {bare[4]:,.0f}; ours / bare "
            + " / ".join(f"{ours[w] / bare[w]:.2f}x" for w in ours)
            + f" (CPU per attempt: ours takes {1 / cpu_ratio:.2f}x the bare loop's)"
        )
        print(
            f"   bare batch (ours' shape: one commit per batch, placed by arrays) {batch[1]:,.0f} / "
            f"{batch[2]:,.0f} / {batch[4]:,.0f} attempts/s; ours / bare batch "
            + " / ".join(f"{ours[w] / batch[w]:.2f}x" for w in ours)
            + f"; its 2 / 1 {batch[2] / batch[1]:.2f}x"
        )
        print(
            f"   scaling 2 workers / 1: ours {scaling:.2f}x, bare {bare_scaling:.2f}x; 4 / 1: ours "
            f"{ours[4] / ours[1]:.2f}x, bare {bare[4] / bare[1]:.2f}x (goals: >= 1.5x and "
            f"within 2x of the bare loop: {'met' if good else 'MISSED'})"
        )
    if 2 in parts:
        print(f"2. end to end, {args.e2e} calls, zero-latency sandbox, CPS {args.e2e_cps:g}:")
        for w in (1, 2, 4):
            r = end_to_end(args.db, args.e2e, w, args.e2e_cps)
            ok &= r["twice"] == 0 and r["calls"] == args.e2e
            print(
                f"   {w} dispatcher(s): {r['calls']} calls at {r['rate']:,.0f}/s "
                f"(dialled twice: {r['twice']}); CPU over {r['span']:.1f} s: "
                f"{cpu_line(r['cpu'], r['span'])}{analysed_note(r)}"
            )
            top = max(r["cpu"], key=lambda k: r["cpu"][k])
            print(
                f"     the machine was {r['machine']:.1f} of 2 cores busy ({r['others']:.1f} by "
                f"other processes than these); the busiest: {top} at "
                f"{r['cpu'][top] / r['span'] * 100:.0f}% of a core"
            )
    if 3 in parts:
        plan, good = explain_claim(args.db, args.pending)
        ok &= good
        print(
            f"3. the claim at {args.pending:,} pending attempts ({'index scan' if good else 'NOT an index scan'}):"
        )
        print(re.sub(r"(?m)^", "   ", plan))
    if 4 in parts:
        r = soak(args.db, args.drain, args.cps)
        ok &= r["ok"]
        print(
            f"4. soak: 4 dispatchers drained {r['calls']:,} of {args.drain:,} at {r['rate']:.1f}/s, "
            f"busiest second {r['busiest']} (CPS {args.cps:g}), dialled twice {r['twice']}: "
            f"{'ok' if r['ok'] else 'FAILED'}; CPU over {r['span']:.0f} s: {cpu_line(r['cpu'], r['span'])}"
            + analysed_note(r)
        )
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
