"""Benchmark the sandbox's `calls.create` against a floor measured in the same run.

A sequential loop of the official SDK's `client.calls.create(...)` (one keep-alive connection,
as a dispatcher does) against two servers, each in its own process on loopback:

- **floor**: the same uvicorn setup (httptools, uvloop when installed) serving a canned 201 call
  JSON from a bare ASGI app — what the SDK plus HTTP cost with a server that does nothing;
- **sandbox**: `SandboxServer` with a frozen clock (no simulation running, no callbacks), so only
  the request path is measured: auth, form parsing, CPS queueing, the record, its JSON.

    .venv/bin/python scripts/bench/sandbox.py              # 3,000 calls, fastest of 3 rounds
    .venv/bin/python scripts/bench/sandbox.py --calls 10000 --repeat 5

Goal: well over 1,000 calls.create per second, and ≥ 0.8x the floor. Not part of the test suite;
`--strict` exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from typing import Any

RATE_GOAL = 1000.0
RATIO_GOAL = 0.8
SID = "AC" + "5a" * 16
TOKEN = "bench-token"


def serve(mode: str) -> None:
    """Child process: serve the floor or the sandbox on a free port and print its base URL."""
    from datetime import UTC, datetime

    import uvicorn

    from dialer.clock import SettableClock
    from dialer.telephony.sandbox import Sandbox, SandboxServer

    clock = SettableClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    sb = Sandbox(clock, account_sid=SID, auth_token=TOKEN, cps=1e9)
    server = SandboxServer(sb, port=0)
    if mode == "floor":
        canned = json.dumps(
            sb.calls.create({"To": "+886912345678", "From": "+15005550006", "Url": "http://x/"})
        ).encode()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            while (await receive()).get("more_body"):
                pass
            await send(
                {
                    "type": "http.response.start",
                    "status": 201,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(canned)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": canned})

        server._server = uvicorn.Server(
            uvicorn.Config(app, port=0, log_level="warning", access_log=False, lifespan="off")
        )
    server.start()
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), 0.0 elsewhere: robust to a busy machine."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(mode: str, calls: int) -> tuple[float, float]:
    """(calls per second, server CPU microseconds per call)."""
    from twilio.rest import Client

    from dialer.telephony.http import RewritingHttpClient

    child = subprocess.Popen(
        [sys.executable, __file__, "--child", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        base = child.stdout.readline().strip()
        assert re.match(r"http://127\.0\.0\.1:\d+$", base), base
        client = Client(SID, TOKEN, http_client=RewritingHttpClient(base))
        for i in range(200):  # warm up the connection and both interpreters
            client.calls.create(to=f"+8869{i:08d}", from_="+15005550006", url="http://x/")
        cpu = cpu_seconds(child.pid)
        started = time.perf_counter()
        for i in range(calls):
            client.calls.create(to=f"+8869{i:08d}", from_="+15005550006", url="http://x/")
        rate = calls / (time.perf_counter() - started)
        return rate, (cpu_seconds(child.pid) - cpu) / calls * 1e6
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--child", choices=["floor", "sandbox"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        serve(args.child)
        return 0
    floor = sandbox = 0.0
    floor_cpu = sandbox_cpu = float("inf")
    for round_ in range(1, args.repeat + 1):
        (f, fc), (s, sc) = measure("floor", args.calls), measure("sandbox", args.calls)
        floor, sandbox = max(floor, f), max(sandbox, s)
        floor_cpu, sandbox_cpu = min(floor_cpu, fc), min(sandbox_cpu, sc)
        print(
            f"round {round_}: floor {f:,.0f} calls/s ({fc:.0f} µs server CPU/call), "
            f"sandbox {s:,.0f} calls/s ({sc:.0f} µs server CPU/call)"
        )
    ratio = sandbox / floor
    ok = sandbox >= RATE_GOAL and ratio >= RATIO_GOAL
    print(
        f"sandbox calls.create: {sandbox:,.0f}/s sequential SDK loop, {ratio:.2f}x floor "
        f"{floor:,.0f}/s (goal > {RATE_GOAL:,.0f}/s and >= {RATIO_GOAL}x); server CPU per call "
        f"{sandbox_cpu:.0f} µs vs floor {floor_cpu:.0f} µs"
    )
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
