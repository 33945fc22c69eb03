"""Benchmark the dispatcher against the sandbox on loopback, with baselines from the same run.

    .venv/bin/python scripts/bench/dispatch.py                 # all three parts
    .venv/bin/python scripts/bench/dispatch.py --plain-calls 200 --pacing-seconds 10   # quicker

1. **overhead**: attempts/s one dispatcher sustains on SQLite (claim, gate, request, record)
   against a zero-latency sandbox with its callbacks off (a frozen clock: nothing simulated) and
   no pacing limit, next to the bare SDK loop `client.calls.create(...)` against the same kind of
   sandbox. Goal: >= 500 attempts/s.
2. **pacing**: configured 50 CPS with 300 ms API latency for 30 s; achieved rate and the busiest
   1-second window, both from the sandbox's own log of request arrivals. Goals: achieved /
   configured >= 0.98 and no 1-second window above 50.
3. **side by side**: the same calls placed by the plain loop a user would write (`for row in
   rows: client.calls.create(...)`) and by the dispatcher, both at 300 ms latency. Goal: >= 15x.

The sandbox runs in its own process (it shares the two cores). Customers live in a time zone
where it is working hours now, so the gate lets every call through. Not part of the test suite;
`--strict` exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_seed, run as a script or not
from bench_seed import due_members  # noqa: E402

SID = "AC" + "5a" * 16
TOKEN = "bench-token"
SENDER = "+15005550006"
WARM_UP = 500  # attempts placed before the clock starts (one claim batch)
ZONES = [  # (zone, region, a mobile number prefix of that region)
    ("Asia/Taipei", "TW", "+8869"),
    ("Asia/Seoul", "KR", "+8210"),
    ("Europe/London", "GB", "+447"),
    ("America/New_York", "US", "+1212"),
    ("America/Los_Angeles", "US", "+1415"),
    ("Asia/Kolkata", "IN", "+919"),
    ("Europe/Berlin", "DE", "+4915"),
    ("Pacific/Auckland", "NZ", "+6421"),
    ("America/Sao_Paulo", "BR", "+55119"),
    ("Asia/Dubai", "AE", "+9715"),
]


# ------------------------------------------------------------------------------ the sandbox


def serve(clock_kind: str, latency: float) -> None:
    """Child process: a sandbox on a free loopback port; prints its base URL; ends with stdin."""
    from dialer.clock import SettableClock, SystemClock
    from dialer.telephony.sandbox import Faults, Sandbox, SandboxServer

    clock = SettableClock(datetime.now(UTC)) if clock_kind == "frozen" else SystemClock()
    sb = Sandbox(clock, account_sid=SID, auth_token=TOKEN, cps=1e9, mps=1e9)
    sb.faults = Faults(latency=latency)
    server = SandboxServer(sb, port=0).start()
    print(server.base_url, flush=True)
    sys.stdin.read()
    server.stop()


class Child:
    def __init__(self, clock_kind: str, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", clock_kind, "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base = self.proc.stdout.readline().strip()
        assert re.match(r"http://127\.0\.0\.1:\d+$", self.base), self.base

    def log(self) -> list[dict[str, Any]]:
        credentials = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        request = urllib.request.Request(
            f"{self.base}/sandbox/log.json", headers={"Authorization": f"Basic {credentials}"}
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            data = json.load(resp)
        return list(data["contacts"] if isinstance(data, dict) else data)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ------------------------------------------------------------------------------ the store


def working_zone(now: datetime) -> tuple[str, str, str]:
    """A zone where it is between 10:00 and 17:00 on a weekday now."""
    for zone, region, prefix in ZONES:
        local = now.astimezone(ZoneInfo(zone))
        if 10 <= local.hour < 17 and local.weekday() < 5:
            return zone, region, prefix
    for zone, region, prefix in ZONES:
        if 10 <= now.astimezone(ZoneInfo(zone)).hour < 17:
            return zone, region, prefix
    raise SystemExit("no zone in the list is in working hours now; run it again in an hour")


def campaign_file(folder: Path, zone: str) -> Path:
    """The shipped after-service campaign, open every day 09:00-20:00, no holidays, in `zone`."""
    text = (ROOT / "campaigns" / "after-service-satisfaction.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^default_time_zone = ".*"$', f'default_time_zone = "{zone}"', text)
    text = re.sub(r'(?m)^weekdays = ".*"$', 'weekdays = "mon-sun"', text)
    text = re.sub(r"(?m)^hours = \[.*\]$", 'hours = ["09:00-20:00"]', text)
    text = re.sub(r"(?m)^rest = \[.*\]$", 'rest = ["21:00-09:00"]', text)
    text = re.sub(r"(?m)^skip_holidays = true$", "skip_holidays = false", text)
    path = folder / "bench-campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def seed(url: str, folder: Path, n: int, offset: int) -> tuple[Any, Any]:
    """A fresh SQLite store with `n` member customers, each with a task due now."""

    from dialer.campaigns import load_campaign
    from dialer.planner import upsert_campaign
    from dialer.store import Store

    now = datetime.now(UTC)
    zone, region, prefix = working_zone(now)
    spec = load_campaign(campaign_file(folder, zone))
    store = Store.open(url)
    with store.transaction() as s:
        cid = upsert_campaign(s, spec, now)
        due_members(s, cid, n, now, key="B", prefix=prefix, offset=offset, zone=zone, region=region)
    return store, spec


def dispatcher(store: Any, base: str, **config: Any) -> Any:
    from dialer.clock import SystemClock
    from dialer.dispatcher import DispatchConfig, Dispatcher
    from dialer.telephony.client import Telephony

    cfg = DispatchConfig(
        worker_id="bench",
        public_base_url="http://127.0.0.1:9/",  # callbacks are off: nothing is posted
        senders={"default": SENDER},
        min_gap=timedelta(0),
        contact_cap=100,
        **config,
    )
    telephony = Telephony(SID, TOKEN, base_url=base, pool_size=max(8, cfg.max_in_flight))
    return Dispatcher(store, SystemClock(), telephony, cfg)


def place_all(d: Any, seconds: float | None = None, pause: float = 0.0) -> tuple[int, float]:
    """Tick (pipelined) until nothing is left or `seconds` pass; (placed, elapsed)."""
    from dialer.dispatch_config import TickReport

    placed = 0
    start = time.perf_counter()
    while seconds is None or time.perf_counter() - start < seconds:
        report = d.tick(wait=False)
        placed += report.placed
        if pause:
            time.sleep(pause)
        elif report.claimed == 0 and report.scheduled == 0:
            if not d.in_flight:
                break
            placed += d.drain(TickReport()).placed
    d.stop()
    placed += d.drain(TickReport()).placed
    return placed, time.perf_counter() - start


# ------------------------------------------------------------------------------ the parts


def bare_loop(base: str, n: int) -> float:
    """Seconds for the plain loop: one `calls.create` after the other."""
    from twilio.rest import Client

    from dialer.telephony.http import RewritingHttpClient

    client = Client(SID, TOKEN, http_client=RewritingHttpClient(base))
    start = time.perf_counter()
    for i in range(n):
        client.calls.create(
            to=f"+8869{i:08d}", from_=SENDER, url="http://127.0.0.1:9/voice", timeout=30
        )
    return time.perf_counter() - start


def overhead(work: Path, n: int, in_flight: int) -> tuple[float, float]:
    child = Child("frozen", 0.0)
    try:
        store, _ = seed(f"sqlite:///{work / 'overhead.db'}", work, n, 0)
        d = dispatcher(
            store, child.base, cps=1e6, mps=1e6, claim_batch=500, max_in_flight=in_flight
        )
        d.tick(wait=True)  # warm up: connections, campaign book, window caches
        placed, elapsed = place_all(d, n)
        d.close()
        store.close()
        ours = placed / elapsed
    finally:
        child.close()
    child = Child("frozen", 0.0)
    try:
        bare_loop(child.base, 200)
        bare = n / bare_loop(child.base, n)
    finally:
        child.close()
    return ours, bare


def pacing(work: Path, cps: float, seconds: float, latency: float) -> tuple[float, int, int]:
    child = Child("real", latency)
    try:
        n = int(cps * seconds * 1.2) + 100
        store, _ = seed(f"sqlite:///{work / 'pacing.db'}", work, n, 10**6)
        d = dispatcher(store, child.base, cps=cps, mps=1e6, claim_batch=2000, max_in_flight=32)
        gc.collect()
        gc.freeze()  # as `dialer run` does: no full collection pauses the pacing
        place_all(d, seconds=seconds + 3, pause=0.05)  # the first arrival comes after start-up
        d.close()
        store.close()
        arrivals = sorted(
            datetime.fromisoformat(c["requested_at"]).timestamp()
            for c in child.log()
            if c["kind"] == "call"
        )
    finally:
        child.close()
    first = arrivals[0]
    inside = [t for t in arrivals if t < first + seconds]
    busiest, j = 0, 0
    for i, t in enumerate(arrivals):
        while arrivals[j] <= t - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    return len(inside) / seconds, busiest, len(arrivals)


def side_by_side(work: Path, n: int, latency: float) -> tuple[float, float]:
    child = Child("real", latency)
    try:
        plain = bare_loop(child.base, n)
    finally:
        child.close()
    child = Child("real", latency)
    try:
        store, _ = seed(f"sqlite:///{work / 'side.db'}", work, n, 2 * 10**6)
        d = dispatcher(store, child.base, cps=1e6, mps=1e6, claim_batch=1000, max_in_flight=64)
        placed, elapsed = place_all(d)
        d.close()
        store.close()
        assert placed == n, (placed, n)
    finally:
        child.close()
    return plain, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=5000, help="part 1: attempts placed")
    parser.add_argument("--in-flight", type=int, default=4, help="part 1: worker threads")
    parser.add_argument("--cps", type=float, default=50.0, help="part 2: configured CPS")
    parser.add_argument("--pacing-seconds", type=float, default=30.0)
    parser.add_argument("--latency", type=float, default=0.3, help="parts 2 and 3: API latency")
    parser.add_argument("--plain-calls", type=int, default=1000, help="part 3: calls each way")
    parser.add_argument("--parts", default="1,2,3")
    parser.add_argument("--switch-interval", type=float, default=0.0, help="sys.setswitchinterval")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--child", choices=["frozen", "real"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        serve(args.child, args.latency)
        return 0
    parts = {int(p) for p in args.parts.split(",")}
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    work = Path(tempfile.mkdtemp(prefix="dialer-bench-"))
    ok = True
    try:
        if 1 in parts:
            ours, bare = overhead(work, args.attempts, args.in_flight)
            good = ours >= 500
            ok &= good
            print(
                f"1. overhead: dispatcher {ours:,.0f} attempts/s on SQLite (goal >= 500: "
                f"{'met' if good else 'MISSED'}); bare SDK loop {bare:,.0f} calls/s; "
                f"ratio {ours / bare:.2f}x the bare loop"
            )
        if 2 in parts:
            achieved, busiest, total = pacing(work, args.cps, args.pacing_seconds, args.latency)
            ratio = achieved / args.cps
            good = ratio >= 0.98 and busiest <= args.cps
            ok &= good
            print(
                f"2. pacing: configured {args.cps:g} CPS at {args.latency * 1000:.0f} ms latency "
                f"for {args.pacing_seconds:g} s: achieved {achieved:.2f}/s ({ratio:.3f}x), "
                f"busiest 1-second window {busiest} ({total} calls logged by the sandbox; "
                f"goal >= 0.98x and <= {args.cps:g}: {'met' if good else 'MISSED'})"
            )
        if 3 in parts:
            plain, ours = side_by_side(work, args.plain_calls, args.latency)
            ratio = plain / ours
            good = ratio >= 15
            ok &= good
            print(
                f"3. side by side, {args.plain_calls} calls at {args.latency * 1000:.0f} ms: plain "
                f"loop {plain:.1f} s ({args.plain_calls / plain:.1f} calls/s), dispatcher "
                f"{ours:.1f} s ({args.plain_calls / ours:.1f} calls/s): {ratio:.1f}x "
                f"(goal >= 15x: {'met' if good else 'MISSED'})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
