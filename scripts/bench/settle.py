"""Benchmark settling after a web outage: how long after its call ended each attempt is settled.

    .venv/bin/python scripts/bench/settle.py               # 200 calls, 40 s outage
    .venv/bin/python scripts/bench/settle.py --calls 50    # quicker

One dispatcher on SQLite places `--calls` calls at `--cps` (5: 200 calls in 40 s) to the sandbox
over loopback; the webhook process is down for `--outage` seconds from the fifth second on, so
the calls placed meanwhile lose their TwiML fetch or their status callbacks (the sandbox retries
each as its connection overrides say: 5 times in 15 s at most). Measured per attempt: the time
from the call's end in the sandbox's log to the attempt's end in our books (its `ended_at`).

- **ours**: the settle checks (`dialer.settle`: the ring deadline + grace, then every minute
  while Twilio says the call is live), fetches paced at 50/s.
- **baseline**, the same run's setup with the fixed 15-minute placed lease the dispatcher had
  before: a placed attempt is asked about 15 minutes after it was placed, then every 15.

Goal: every attempt settled within 2 minutes of its call's end (ours' max lag <= 120 s); the
ratio is the baseline's max lag over ours. The clock is a settable one (the whole run takes a few
seconds of real time per 10 minutes simulated); `--strict` exits 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_seed, run as a script or not
from bench_seed import due_members

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Taipei
FIXED_LEASE = timedelta(minutes=15)  # the placed lease before the settle checks


@dataclass(frozen=True)
class Figures:
    name: str
    calls: int
    ended_during_outage: int
    given_up: int
    retried: int
    fetches: int
    busiest_fetch_second: int
    unsettled: int
    lags: list[float]
    real_seconds: float


def run(calls: int, cps: float, outage: float, baseline: bool) -> Figures:
    from sqlalchemy import select

    from dialer.campaigns import load_campaign
    from dialer.clock import SettableClock
    from dialer.dispatcher import DispatchConfig, Dispatcher
    from dialer.models import Attempt, AttemptState
    from dialer.planner import upsert_campaign
    from dialer.serving import AppServer
    from dialer.settle import Settling
    from dialer.store import Store
    from dialer.telephony.client import Telephony
    from dialer.telephony.sandbox import Sandbox, SandboxServer
    from dialer.webhooks import create_app

    class FixedLease(Settling):
        """The dispatcher before: one fixed placed lease, whatever the attempt."""

        def call_check(self, now: datetime, queueing: timedelta, ring: timedelta) -> datetime:
            return now + FIXED_LEASE

        def sms_check(self, now: datetime, validity: timedelta) -> datetime:
            return now + FIXED_LEASE

        def again(self, now: datetime, placed_at: datetime | None) -> datetime:
            return now + FIXED_LEASE

    clock = SettableClock(START)
    folder = Path(tempfile.mkdtemp(prefix="bench-settle-"))
    store = Store.open(f"sqlite:///{folder / 'settle.db'}")
    spec = load_campaign(ROOT / "campaigns" / "after-service-satisfaction.toml")
    with store.transaction() as s:
        cid = upsert_campaign(s, spec, clock.now())
        due_members(s, cid, calls, clock.now(), key="S", prefix="+8869")
    sb = Sandbox(clock, seed=7, cps=cps)
    server = SandboxServer(sb).start()
    web: Any = AppServer(create_app(store, clock, sb.auth_token)).start()
    port = web.port
    config = DispatchConfig(
        worker_id="bench",
        public_base_url=web.base_url,
        senders={"default": "+15005550006"},
        cps=cps,
        max_in_flight=8,
        min_gap=timedelta(0),
        settling=FixedLease() if baseline else Settling(),
    )
    telephony = Telephony(sb.account_sid, sb.auth_token, base_url=server.base_url)
    d = Dispatcher(store, clock, telephony, config)
    down_at = START + timedelta(seconds=5)
    up_at = down_at + timedelta(seconds=outage)
    began = time.perf_counter()

    def unsettled() -> int:
        with store.sessions() as s:
            return len(
                s.scalars(
                    select(Attempt.id).where(
                        Attempt.state.in_((AttemptState.CLAIMED, AttemptState.PLACED))
                    )
                ).all()
            )

    try:
        for step in range(4 * 3600):
            now = clock.now()
            if web is not None and down_at <= now < up_at:
                web.stop()
                web = None
            if web is None and now >= up_at:
                web = AppServer(create_app(store, clock, sb.auth_token), port=port).start()
            d.tick()
            end = now + timedelta(seconds=1)
            sb.pump()
            while (nxt := sb.next_event_at()) is not None and nxt <= end:
                clock.set(max(nxt, clock.now()))
                sb.pump()
            clock.set(end)
            if step > 60 and step % 30 == 0 and len(sb.calls.records) >= calls and not unsettled():
                break
    finally:
        d.close()
        if web is not None:
            web.stop()
    real = time.perf_counter() - began
    records = {r.sid: r for r in sb.calls.records.values()}
    lags, during = [], 0
    with store.sessions() as s:
        for a in s.scalars(select(Attempt)):
            rec = records.get(a.provider_sid or "")
            if rec is None or rec.ended_at is None or a.ended_at is None:
                continue
            lags.append((a.ended_at - rec.ended_at).total_seconds())
            during += down_at <= rec.ended_at < up_at
    fetch_seconds = Counter(t.replace(microsecond=0) for t in sb.requests.get(("GET", "call"), []))
    figures = Figures(
        name="baseline (15 min lease)" if baseline else "ours (settle checks)",
        calls=len(records),
        ended_during_outage=during,
        given_up=sb.webhooks.given_up,
        retried=sum(sb.webhooks.retried.values()),
        fetches=sum(fetch_seconds.values()),
        busiest_fetch_second=max(fetch_seconds.values(), default=0),
        unsettled=unsettled(),
        lags=lags,
        real_seconds=real,
    )
    server.stop()
    sb.close()
    store.close()
    return figures


def show(f: Figures) -> None:
    lags = sorted(f.lags)
    p95 = lags[int(0.95 * (len(lags) - 1))] if lags else float("nan")
    print(
        f"{f.name:26} calls {f.calls:4}  ended in the outage {f.ended_during_outage:4}  "
        f"callbacks given up {f.given_up:4}  retries {f.retried:4}  fetches {f.fetches:4} "
        f"(busiest second {f.busiest_fetch_second})  unsettled {f.unsettled}"
    )
    print(
        f"{'':26} settle lag after the call's end: median {statistics.median(lags):6.1f} s  "
        f"p95 {p95:6.1f} s  max {max(lags):6.1f} s   ({f.real_seconds:.1f} s real)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--cps", type=float, default=5.0)
    parser.add_argument("--outage", type=float, default=40.0, help="seconds the web is down")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()
    logging.getLogger("dialer").setLevel(logging.ERROR)  # one warning per lost callback else
    ours = run(args.calls, args.cps, args.outage, baseline=False)
    show(ours)
    base = run(args.calls, args.cps, args.outage, baseline=True)
    show(base)
    worst, base_worst = max(ours.lags), max(base.lags)
    ok = worst <= 120 and ours.unsettled == 0 and len(ours.lags) == args.calls
    print(
        f"goal: every attempt settled within 120 s of its call's end: max {worst:.1f} s "
        f"-> {'met' if ok else 'MISSED'}; baseline max / ours max = {base_worst / worst:.1f}x"
    )
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
