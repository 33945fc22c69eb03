"""A fleet of real `dialer` processes on one PostgreSQL schema, dialling a sandbox process.

Used by the multi-worker and `kill -9` tests and by `scripts/bench/scale.py`:
- `seed_due` puts N member customers, each with one task due now, in a campaign whose calling
  window is open now (a fixed-offset zone where it is about noon, open every day);
- `Fleet` starts `dialer sandbox` (real time, slowed so no call moves on during the run: what is
  measured is who was dialled, once), `dialer run --role web` for the webhooks, and any number of
  `dialer run --role dispatcher` processes, and reads the sandbox's `/sandbox/log.json`;
- `busiest_second` is the most calls that reached the sandbox in any one-second window.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SID = "AC" + "f1ee7" * 6 + "ab"
TOKEN = "fleet-test-token"
# The sandbox's log names the numbers it called: it answers only the account's own credentials.
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()}
SENDER = "+15005550006"
PREFIX = "+8869"  # Taiwanese mobiles: valid E.164 for the sandbox


def noon_zone(now: datetime) -> str:
    """A fixed-offset zone where it is between 11:00 and 13:00 now (so the window is open)."""
    offset = (12 - now.hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def campaign_file(folder: Path, zone: str) -> Path:
    """The shipped after-service campaign, open every day 09:00-20:00 in `zone`, no holidays."""
    text = (ROOT / "campaigns" / "after-service-satisfaction.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^default_time_zone = ".*"$', f'default_time_zone = "{zone}"', text)
    text = re.sub(r'(?m)^time_zone = ".*"$', f'time_zone = "{zone}"', text)
    text = re.sub(r'(?m)^weekdays = ".*"$', 'weekdays = "mon-sun"', text)
    text = re.sub(r"(?m)^hours = \[.*\]$", 'hours = ["09:00-20:00"]', text)
    text = re.sub(r"(?m)^rest = \[.*\]$", 'rest = ["21:00-09:00"]', text)
    text = re.sub(r"(?m)^skip_holidays = true$", "skip_holidays = false", text)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def seed_due(store: Any, folder: Path, n: int, *, offset: int = 0) -> str:
    """`n` member customers with one mobile and one task due now; the campaign's slug.
    `offset` numbers them after customers seeded before (keys and phone numbers)."""
    from sqlalchemy import insert, select

    from dialer.campaigns import load_campaign
    from dialer.clock import SystemClock
    from dialer.models import CallbackTask, Customer, CustomerPhone
    from dialer.planner import upsert_campaign

    now = SystemClock().now()  # the fleet's processes run on the real clock
    zone = noon_zone(now)
    spec = load_campaign(campaign_file(folder, zone))
    with store.transaction() as s:
        cid = upsert_campaign(s, spec, now)
        for start in range(0, n, 20_000):
            size = min(20_000, n - start)
            s.execute(
                insert(Customer),
                [
                    {
                        "customer_key": f"F{offset + start + i}",
                        "name": f"Fleet {offset + start + i}",
                        "member": True,
                        "time_zones": [zone],
                        "region": "TW",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(size)
                ],
            )
            ids = list(
                s.scalars(select(Customer.id).order_by(Customer.id.desc()).limit(size)).all()
            )[::-1]
            s.execute(
                insert(CustomerPhone),
                [
                    {
                        "customer_id": c,
                        "e164": f"{PREFIX}{offset + start + i:08d}",
                        "phone_type": "mobile",
                        "region": "TW",
                        "time_zones": [zone],
                        "rank": 0,
                    }
                    for i, c in enumerate(ids)
                ],
            )
            s.execute(
                insert(CallbackTask),
                [
                    {
                        "campaign_id": cid,
                        "customer_id": c,
                        "dedupe_key": "fleet",
                        "member": True,
                        "deadline": now + timedelta(days=3),
                        "next_attempt_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for c in ids
                ],
            )
    return spec.slug


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def busiest_second(arrivals: list[float]) -> int:
    """The most arrivals in any closed one-second window."""
    arrivals = sorted(arrivals)
    best, j = 0, 0
    for i, t in enumerate(arrivals):
        while arrivals[j] < t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


EDGE_NICE = -10


def _ahead_of_the_fleet() -> None:
    """In the sandbox's child process: schedule it ahead of the fleet it measures.

    The sandbox stands in for Twilio's edge, which has CPUs of its own. On two shared cores a
    starved sandbox reads a backlog of requests in one burst and stamps them all at once, so the
    busiest second it logs would measure its own stall, not the fleet's pacing. Raising its
    priority needs root (CI's case); elsewhere it runs at the normal priority.
    """
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, EDGE_NICE)


class Fleet:
    """The processes of one run; `close()` stops whatever is left (SIGTERM, then SIGKILL)."""

    def __init__(self, db_url: str, work: Path, *, cps: float, lease: float = 120.0) -> None:
        self.db_url, self.work, self.cps, self.lease = db_url, work, cps, lease
        self.campaigns = work / "campaigns"
        self.procs: list[subprocess.Popen[str]] = []
        self.sandbox_url = ""
        self.web_url = ""
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
        self.env.update(
            DIALER_TWILIO_ACCOUNT_SID=SID,
            DIALER_TWILIO_AUTH_TOKEN=TOKEN,
            DIALER_SENDER_NUMBERS=json.dumps({"default": SENDER}),
            DIALER_OPERATOR="fleet-test",
        )

    def _spawn(
        self, args: list[str], env: dict[str, str], log: str, *, edge: bool = False
    ) -> subprocess.Popen[str]:
        with (self.work / log).open("a", encoding="utf-8") as out:  # the child keeps its copy
            proc = subprocess.Popen(
                [sys.executable, "-m", "dialer", *args],
                cwd=self.work,
                env=env,
                stdout=subprocess.PIPE,
                stderr=out,
                text=True,
                preexec_fn=_ahead_of_the_fleet if edge else None,
            )
        self.procs.append(proc)
        return proc

    def start_sandbox(self) -> str:
        """`dialer sandbox` in real time, slowed a millionfold: calls are dialled, never end."""
        proc = self._spawn(
            ["sandbox", "--port", "0", "--cps", "100000", "--speed", "0.000001",
             "--account-sid", SID, "--auth-token", TOKEN],
            self.env,
            "sandbox.log",
            edge=True,
        )  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        self.sandbox_url = match.group(1)
        self.env["DIALER_TWILIO_API_BASE"] = self.sandbox_url
        return self.sandbox_url

    def start_web(self) -> str:
        """`dialer run --role web`: the webhooks every dispatcher's calls report to."""
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        self.env["DIALER_PUBLIC_BASE_URL"] = self.web_url
        proc = self._spawn(
            ["--db", self.db_url, "run", "--role", "web", "--port", str(port)], self.env, "web.log"
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "serving webhooks" in line, line + (self.work / "web.log").read_text()
        return self.web_url

    def start_dispatcher(self, **env: str) -> subprocess.Popen[str]:
        """`dialer run --role dispatcher` (not waited for: it claims as soon as it is up)."""
        return self._spawn(
            ["--db", self.db_url, "run", "--role", "dispatcher", "--port", "0", "--dir",
             str(self.campaigns), "--cps", str(self.cps), "--tick", "0.2", "--lease",
             str(self.lease)],
            {**self.env, **env},
            "dispatchers.log",
        )  # fmt: skip

    def sandbox_log(self) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.sandbox_url}/sandbox/log.json", headers=BASIC)
        with urllib.request.urlopen(request, timeout=120) as resp:
            data: dict[str, Any] = json.load(resp)
        return data

    def call_arrivals(self) -> list[float]:
        """When every calls.create reached the sandbox (epoch seconds)."""
        for req in self.sandbox_log()["requests"]:
            if req["method"] == "POST" and req["resource"] == "calls":
                return [datetime.fromisoformat(t).timestamp() for t in req["arrivals"]]
        return []

    def stop(self, proc: subprocess.Popen[str], timeout: float = 30) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        return int(proc.returncode)

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


def wait_until(check: Any, timeout: float, what: str, every: float = 0.5) -> None:
    """Poll `check()` until true (processes work in real time; the test's clock is theirs)."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
