"""Benchmark the call status callback route against a floor measured in the same run.

    .venv/bin/python scripts/bench/webhooks.py                  # 3 rounds of 10,000 callbacks
    .venv/bin/python scripts/bench/webhooks.py --requests 20000 --repeat 5 --connections 8
    .venv/bin/python scripts/bench/webhooks.py --engine postgresql --database-url postgresql://127.0.0.1:5432/test

Two servers, each one uvicorn worker (`dialer.serving.AppServer`, as `dialer run` serves the
webhooks: httptools, uvloop) in its own process on loopback, driven by the same bounded load
generator in a third process:

- **floor**: a FastAPI app on the same path to the status route `POST /twilio/status/call/{id}`
  (`dialer.status_route.StatusRoute` in front of FastAPI, as `create_app` has it: body limit,
  form parsing, `X-Twilio-Signature` check) that answers 204 without touching the database —
  what a status callback costs before it is stored;
- **real**: `dialer.webhooks.create_app` on a fresh store holding placed call attempts (claimed
  and marked placed with their SIDs as the dispatcher leaves them); every request is a signed
  Twilio status callback (initiated, ringing, in-progress, completed with SequenceNumber 0..3 and
  CallDuration on the last), so each one writes an event and moves its attempt; `completed` ends
  the attempt and schedules the task's next try.

The load generator keeps `--connections` (16) keep-alive connections busy (raw asyncio streams on
uvloop, requests prebuilt and signed before the clock starts); each connection sends the four
statuses of one call in order, then the next call's. A warm-up of `--warm-up` requests runs on the
same server first. Each round measures the floor and then the real route on a fresh server;
the best of `--repeat` rounds is reported. At the end the store is checked: one event per request
sent, every attempt used completed with its duration — a mismatch exits 2.

Goals: real ≥ 0.7x the floor and ≥ 2,000 callbacks/s on SQLite. On PostgreSQL the run works in
a schema of its own in `--database-url`, dropped at the end. Not part of the test suite;
`--strict` exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response  # module level: the floor's annotations resolve here

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_seed, run as a script or not
from bench_seed import due_members  # noqa: E402

TOKEN = "bench-token"
ACCOUNT = "AC" + "5a" * 16
PUBLIC = "https://dialer.example.com"  # the public URL Twilio signs (the app is behind a proxy)
SENDER = "+15005550006"
STATUSES = ("initiated", "ringing", "in-progress", "completed")
RATE_GOAL = 2000.0
RATIO_GOAL = 0.7


# ------------------------------------------------------------------------------ servers


def serve(mode: str, url: str, schema: str | None) -> None:
    """Child process: the floor or the real app on a free loopback port; ends with stdin."""
    import gc

    from dialer.clock import SystemClock
    from dialer.serving import AppServer
    from dialer.status_route import StatusRoute
    from dialer.store import Store
    from dialer.webhooks import WebhookApp, create_app

    store = Store.open(url, schema=schema, upgrade=False)
    if mode == "real":
        app = create_app(store, SystemClock(), TOKEN, PUBLIC)
    else:
        hooks = WebhookApp(store, SystemClock(), TOKEN, PUBLIC)
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/twilio/status/call/{attempt_id}")
        async def call_status(attempt_id: int, request: Request) -> Response:
            form = await hooks.form(request)
            if isinstance(form, Response):
                return form
            return Response(status_code=204)

        async def no_content(kind: str, attempt_id: int, form: dict[str, str]) -> tuple[int, str]:
            return 204, ""

        # The real app's path to its status route (`create_app` adds the same layer), answering
        # 204 where the real one stores the callback.
        app.add_middleware(StatusRoute, hooks=hooks, answer=no_content)

    gc.collect()
    gc.freeze()  # as `dialer run` does
    server = AppServer(app, name="webhooks").start()
    print(server.base_url, flush=True)
    sys.stdin.read()
    server.stop()
    if mode == "real":
        writer = app.state.webhooks.status_writer
        print(
            f"  ({writer.applied:,} status callbacks in {writer.batches:,} transactions; "
            f"batches that met a taken write lock: {writer.handed_over})",
            file=sys.stderr,
        )
    store.close()


class Server:
    def __init__(self, mode: str, url: str, schema: str | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "serve", mode, url, schema or ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base = self.proc.stdout.readline().strip()
        match = re.match(r"http://127\.0\.0\.1:(\d+)$", self.base)
        assert match, f"server did not start: {self.base!r}"
        self.port = int(match.group(1))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), 0.0 elsewhere: robust to a busy machine."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------ load generator


async def _drive(port: int, lanes: list[list[bytes]]) -> tuple[float, int, list[str]]:
    """Each lane on its own keep-alive connection, one request in flight; (seconds, ok, errors)."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in lanes]
    errors: list[str] = []
    ok = 0

    async def lane(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reqs: list[bytes]
    ) -> None:
        nonlocal ok
        for req in reqs:
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            if head[9:12] == b"204":
                ok += 1
            elif len(errors) < 5:
                errors.append((head.split(b"\r\n", 1)[0] + b" " + body[:200]).decode())
            else:
                errors.append("")

    started = time.perf_counter()
    await asyncio.gather(*(lane(r, w, reqs) for (r, w), reqs in zip(conns, lanes, strict=True)))
    elapsed = time.perf_counter() - started
    for _, w in conns:
        w.close()
    return elapsed, ok, errors


def load(port: int, path: str) -> None:
    """Child process: drive the lanes pickled in `path`; prints a JSON line of the result."""
    try:
        import uvloop
    except ImportError:
        runner: Any = asyncio.run
    else:
        runner = uvloop.run
    with open(path, "rb") as f:
        lanes = pickle.load(f)
    cpu = time.process_time()
    elapsed, ok, errors = runner(_drive(port, lanes))
    cpu = time.process_time() - cpu
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "ok": ok, "first": errors[:5]}))


def drive(server: Server, lanes: list[list[bytes]], work: Path) -> tuple[float, float, float]:
    """(requests/s, server and load generator CPU µs per request) of one run; errors are fatal."""
    path = work / "lanes.pickle"
    with open(path, "wb") as f:
        pickle.dump(lanes, f)
    n = sum(len(x) for x in lanes)
    cpu = cpu_seconds(server.proc.pid)
    out = subprocess.run(
        [sys.executable, __file__, "--child", "load", str(server.port), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = cpu_seconds(server.proc.pid) - cpu
    result = json.loads(out.strip().splitlines()[-1])
    if result["ok"] != n:
        raise SystemExit(f"{n - result['ok']} of {n} requests failed: {result['first']}")
    return n / result["seconds"], cpu / n * 1e6, result["cpu"] / n * 1e6


# ------------------------------------------------------------------------------ the store


def seed(url: str, schema: str | None, calls: int) -> list[tuple[int, str, str]]:
    """A fresh store with `calls` placed call attempts; [(attempt id, CallSid, To)]."""
    from sqlalchemy import select

    from dialer import attempts as books
    from dialer.campaigns import load_campaign
    from dialer.models import Attempt
    from dialer.planner import upsert_campaign
    from dialer.store import Store

    now = datetime.now(UTC)
    spec = load_campaign(ROOT / "campaigns" / "after-service-satisfaction.toml")
    store = Store.open(url, schema=schema)
    with store.transaction() as s:
        cid = upsert_campaign(s, spec, now)
        due_members(s, cid, calls, now, key="W", prefix="+8869")
    book = books.CampaignBook()
    while True:  # as the dispatcher does: schedule, claim, place (queued) with the SID
        with store.transaction() as s:
            book.refresh(s)
            if not books.schedule_due(s, book, now, {"default": SENDER}, limit=2000).scheduled:
                break
    while True:
        with store.transaction() as s:
            claimed = books.claim(s, "bench", now, timedelta(minutes=2), 2000)
            books.mark_placed_many(
                s, [(a, f"CA{a:032x}", "queued", now + timedelta(minutes=15)) for a in claimed], now
            )
        if not claimed:
            break
    with store.sessions() as s:
        rows = s.execute(
            select(Attempt.id, Attempt.provider_sid, Attempt.phone_e164)
            .where(Attempt.state == "placed", Attempt.channel == "voice")
            .order_by(Attempt.id)
        ).all()
    store.close()
    if len(rows) != calls:
        raise SystemExit(f"seeding placed {len(rows)} call attempts, wanted {calls}")
    return [(r.id, str(r.provider_sid), str(r.phone_e164)) for r in rows]


def callbacks(attempt_id: int, sid: str, to: str) -> list[bytes]:
    """The four signed status callbacks Twilio posts for one answered call, as raw HTTP/1.1."""
    from email.utils import format_datetime

    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    path = f"/twilio/status/call/{attempt_id}"
    out = []
    for seq, status in enumerate(STATUSES):
        form = {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "Called": to,
            "CalledCountry": "TW",
            "Caller": SENDER,
            "CallerCountry": "US",
            "Direction": "outbound-api",
            "From": SENDER,
            "SequenceNumber": str(seq),
            "Timestamp": format_datetime(datetime.now(UTC), usegmt=True),
            "To": to,
        }
        if status == "completed":
            form |= {"CallDuration": "42", "Duration": "1", "SipResponseCode": "200"}
        body = urlencode(form).encode()
        signature = validator.compute_signature(f"{PUBLIC}{path}", form)
        out.append(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"X-Twilio-Signature: {signature}\r\nUser-Agent: TwilioProxy/1.1\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    return out


def lanes_for(calls: list[tuple[int, str, str]], connections: int) -> list[list[bytes]]:
    """Calls dealt round-robin to the connections; each call's statuses in order on one lane."""
    lanes: list[list[bytes]] = [[] for _ in range(connections)]
    for i, call in enumerate(calls):
        lanes[i % connections].extend(callbacks(*call))
    return [lane for lane in lanes if lane]


def verify(url: str, schema: str | None, calls: list[tuple[int, str, str]], sent: int) -> list[str]:
    """What is wrong with the store after the real runs (nothing: an empty list)."""
    from sqlalchemy import func, select

    from dialer.models import Attempt, CallbackTask, WebhookEvent
    from dialer.store import Store

    store = Store.open(url, schema=schema, upgrade=False)
    ids = [c[0] for c in calls]
    problems = []
    with store.sessions() as s:
        events = int(s.scalar(select(func.count()).select_from(WebhookEvent)) or 0)
        if events != sent:
            problems.append(f"{events} events stored for {sent} callbacks sent")
        rows = s.execute(
            select(Attempt.state, Attempt.provider_status, Attempt.duration_seconds, func.count())
            .where(Attempt.id.in_(ids))
            .group_by(Attempt.state, Attempt.provider_status, Attempt.duration_seconds)
        ).all()
        if [tuple(r) for r in rows] != [("completed", "completed", 42, len(ids))]:
            problems.append(f"attempts used are not all completed with 42 s: {rows}")
        pending = s.scalar(
            select(func.count())
            .select_from(CallbackTask)
            .join(Attempt, Attempt.task_id == CallbackTask.id)
            .where(Attempt.id.in_(ids), CallbackTask.next_attempt_at.is_(None))
        )
        if pending:
            problems.append(f"{pending} tasks of ended attempts have no next try scheduled")
    store.close()
    return problems


# ------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10000, help="callbacks per measured run")
    parser.add_argument("--warm-up", type=int, default=2000, help="callbacks before each run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (floor + real); best kept")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--database-url", help="PostgreSQL: the run works in its own schema, dropped at the end"
    )
    parser.add_argument("--workdir", type=Path, help="kept; default a temporary directory")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "serve":
            serve(args.child[1], args.child[2], args.child[3] or None)
        else:
            load(int(args.child[1]), args.child[2])
        return 0

    work = args.workdir or Path(tempfile.mkdtemp(prefix="whbench-"))
    work.mkdir(parents=True, exist_ok=True)
    schema = None
    try:
        if args.engine == "sqlite":
            db = work / "webhooks.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            url = f"sqlite:///{db}"
        else:
            if not args.database_url:
                parser.error("--engine postgresql needs --database-url")
            url, schema = args.database_url, f"whbench_{os.getpid()}"
            pg_schema(url, f'CREATE SCHEMA "{schema}"')
        per_run = (args.warm_up + args.requests) // len(STATUSES)
        started = time.perf_counter()
        calls = seed(url, schema, per_run * args.repeat)
        print(
            f"seeded {len(calls):,} placed call attempts on {args.engine} "
            f"in {time.perf_counter() - started:.1f} s; {args.connections} connections, "
            f"{args.warm_up:,} warm-up + {args.requests:,} measured callbacks per run"
        )
        floor = real = 0.0
        floor_cpu = real_cpu = float("inf")
        sent = 0
        for round_ in range(args.repeat):
            mine = calls[round_ * per_run : (round_ + 1) * per_run]
            warm_calls = args.warm_up // len(STATUSES)
            warm = lanes_for(mine[:warm_calls], args.connections)
            timed = lanes_for(mine[warm_calls:], args.connections)
            result = []
            for mode in ("floor", "real"):
                server = Server(mode, url, schema)
                try:
                    drive(server, warm, work)
                    result.append(drive(server, timed, work))
                finally:
                    server.close()
            sent += sum(len(x) for x in warm + timed)
            (f, fc, fl), (r, rc, rl) = result
            floor, real = max(floor, f), max(real, r)
            floor_cpu, real_cpu = min(floor_cpu, fc), min(real_cpu, rc)
            print(
                f"round {round_ + 1}: floor {f:,.0f}/s, real {r:,.0f}/s, ratio {r / f:.2f}; "
                f"CPU µs per callback: server {fc:.0f} vs {rc:.0f}, load generator {fl:.0f} / {rl:.0f}"
            )
        problems = verify(url, schema, calls, sent)
        for p in problems:
            print(f"WRONG: {p}", file=sys.stderr)
        if problems:
            return 2
        print(f"verified: {sent:,} events stored, {len(calls):,} attempts completed")
        ratio = real / floor
        rate_ok, ratio_ok = real >= RATE_GOAL, ratio >= RATIO_GOAL
        print(
            f"webhooks call status ({args.engine}, best of {args.repeat}): real {real:,.0f}/s "
            f"[{'PASS' if rate_ok else 'MISS'} goal >= {RATE_GOAL:,.0f}/s], floor {floor:,.0f}/s, "
            f"ratio {ratio:.2f} [{'PASS' if ratio_ok else 'MISS'} goal >= {RATIO_GOAL}]; "
            f"server CPU per callback {real_cpu:.0f} µs vs floor {floor_cpu:.0f} µs"
        )
        return 1 if args.strict and not (rate_ok and ratio_ok) else 0
    finally:
        if schema is not None:
            pg_schema(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def pg_schema(url: str, sql: str) -> None:
    """Create or drop the run's own schema: the bench never touches the database's other tables."""
    from sqlalchemy import text

    from dialer.store import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
