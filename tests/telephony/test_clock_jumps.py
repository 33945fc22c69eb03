"""Clock jumps and DST changes during a run never move anyone into their rest hours.

A dispatcher, the webhook app and the sandbox share one settable clock, which jumps forward
(a suspended host waking up) and back (a clock corrected) by hours — between ticks, and in the
middle of a tick, after a request left and before the next one of the same batch does — and
runs across the America/New_York 2026-11-01 and Europe/London 2027-03-28 changes, with
customers in zones with and without DST. The property (hypothesis): every call and SMS in the
sandbox's log was requested, and rang (or reached the handset), inside the customer's calling
window in their own local time, and the books balance.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from books_check import check_books
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seeding import seed
from sqlalchemy import select

from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher
from dialer.models import Attempt, Customer
from dialer.plan_model import reachee
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox import Sandbox, SandboxServer
from dialer.webhooks import create_app
from dialer.windows import is_open

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
# (zone, region, number prefix): two DST zones whose changes the runs cross, and three without.
ZONES = [("America/New_York", "US", "+1212555010"), ("Europe/London", "GB", "+4477009000"),
         ("Asia/Taipei", "TW", "+88691200000"), ("Asia/Kolkata", "IN", "+9198765430"),
         ("Asia/Seoul", "KR", "+82101234000")]  # fmt: skip
NY_CHANGE = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 02:00 EDT -> 01:00 EST
LONDON_CHANGE = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 01:00 GMT -> 02:00 BST
TICK = timedelta(minutes=20)


@pytest.fixture(scope="module")
def every_day() -> CampaignSpec:
    """The shipped after-service campaign calling every day, so the change's own Sunday counts."""
    text = (CAMPAIGNS / "after-service-satisfaction.toml").read_text(encoding="utf-8")
    assert 'weekdays = "mon-sat"' in text
    folder = Path(tempfile.mkdtemp(prefix="every-day-"))
    path = folder / "after-service-every-day.toml"
    path.write_text(text.replace('weekdays = "mon-sat"', 'weekdays = "mon-sun"'), "utf-8")
    return load_campaign(path)


@dataclass(frozen=True)
class Run:
    start: datetime
    ticks: int
    jumps: tuple[tuple[int, float], ...]  # (at tick, hours): between ticks
    mid_tick: tuple[int, float] | None  # (at tick, hours): after that tick's first request


@dataclass
class Result:
    contacts: int
    outside: list[str]
    jumps: int


def simulate(spec: CampaignSpec, run: Run, folder: Path) -> Result:
    clock = SettableClock(run.start)
    store = Store.open(f"sqlite:///{folder / 'd.db'}")
    sb = Sandbox(clock, seed=run.ticks, cps=5, account_sid="AC" + "0" * 32, auth_token="t0k")
    server = SandboxServer(sb).start()
    jumped = 0
    try:
        for zone, region, prefix in ZONES:
            seed(store, clock, spec, n=2, phones=((prefix + "0", "mobile"),), zone=zone,
                 region=region, key_prefix=region)  # fmt: skip
        with AppServer(create_app(store, clock, sb.auth_token)) as hooks:
            config = DispatchConfig(
                worker_id="w", public_base_url=hooks.base_url,
                senders={"default": "+15005550006"}, cps=5.0, max_in_flight=1,
            )  # fmt: skip
            d = Dispatcher(store, clock, Telephony(sb.account_sid, sb.auth_token, base_url=server.base_url), config)  # fmt: skip
            jumps = dict(run.jumps)
            mid = _JumpOnce(clock, run.mid_tick[1]) if run.mid_tick else None
            for i in range(run.ticks):
                if i in jumps:
                    clock.set(clock.now() + timedelta(hours=jumps[i]))
                    jumped += 1
                if mid is not None and run.mid_tick and i >= run.mid_tick[0]:
                    d._crash_after_request = mid if mid.armed else None
                d.tick()
                _advance(sb, clock, TICK)
            jumped += mid is not None and not mid.armed
            _advance(sb, clock, timedelta(hours=1))
            d.tick()
            _advance(sb, clock, timedelta(minutes=30))
            d.close()
        outside = _outside_the_window(store, sb, spec)
        check_books(store, sb)
        return Result(len(sb.contacts()), outside, jumped)
    finally:
        server.stop()
        sb.close()
        store.close()


class _JumpOnce:
    """After a request leaves, the clock jumps once: the rest of the batch goes out later."""

    def __init__(self, clock: SettableClock, hours: float) -> None:
        self.clock, self.hours, self.armed = clock, hours, True

    def __call__(self, _attempt_id: int) -> None:
        if self.armed:
            self.armed = False
            self.clock.set(self.clock.now() + timedelta(hours=self.hours))


def _advance(sb: Sandbox, clock: SettableClock, span: timedelta) -> None:
    """Run the sandbox's events up to now + span, each at its own time."""
    end = clock.now() + span
    sb.pump()
    while (nxt := sb.next_event_at()) is not None and nxt <= end:
        if nxt > clock.now():
            clock.set(nxt)
        sb.pump()
    clock.set(max(end, clock.now()))
    sb.pump()


def _outside_the_window(store: Store, sb: Sandbox, spec: CampaignSpec) -> list[str]:
    """Every contact requested or rung outside the customer's window, in their local time."""
    with store.sessions() as s:
        who = {
            phone: reachee(tuple(c.time_zones), c.quiet_hours, c.region, c.marketing_consent)
            for phone, c in s.execute(
                select(Attempt.phone_e164, Customer).join(
                    Customer, Customer.id == Attempt.customer_id
                )
            )
        }
    policy = spec.window_policy(min_open=timedelta(0))
    bad = []
    for c in sb.contacts():
        for what, at in (("requested", c.requested_at), ("rang", c.rang_at)):
            if at is not None and not is_open(who[c.to], policy, at):
                zone = who[c.to].time_zones[0]
                bad.append(f"{c.kind} to {zone} {what} at {at.isoformat()} (local {at.astimezone(ZoneInfo(zone)):%a %H:%M})")  # fmt: skip
    return bad


HOURS = st.sampled_from([-8.0, -3.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0, 7.0])
RUNS = st.builds(
    Run,
    start=st.builds(
        lambda anchor, minutes: anchor + timedelta(minutes=minutes),
        st.sampled_from([NY_CHANGE - timedelta(days=1), LONDON_CHANGE - timedelta(days=1)]),
        st.integers(0, 24 * 3).map(lambda k: k * 20),
    ),
    ticks=st.just(75),
    jumps=st.lists(st.tuples(st.integers(1, 74), HOURS), max_size=4, unique_by=lambda j: j[0]).map(
        tuple
    ),
    mid_tick=st.none() | st.tuples(st.integers(0, 74), st.sampled_from([1.0, 3.0, 7.0])),
)
# The change itself, with a jump across it each way and one in the middle of a batch; and a
# batch whose clock jumps an hour after its first request, at 19:55 in New York (rest from 21:00).
NY_EDGE = Run(NY_CHANGE - timedelta(hours=14), 75, ((10, 3.0), (20, -3.0)), (0, 3.0))
LONDON_EDGE = Run(LONDON_CHANGE - timedelta(hours=10), 75, ((15, 7.0), (30, -8.0)), (35, 1.0))
LATE_BATCH = Run(datetime(2027, 3, 26, 23, 55, tzinfo=UTC), 12, (), (0, 1.0))


def _check(spec: CampaignSpec, run: Run, figures: list[Result]) -> None:
    result = simulate(spec, run, Path(tempfile.mkdtemp(prefix="jumps-")))
    figures.append(result)
    assert result.contacts > 0
    assert not result.outside, result.outside[:5]


_FIGURES: list[Result] = []


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(run=RUNS)
def test_no_contact_ever_falls_in_rest_hours_whatever_the_clock_does(
    every_day: CampaignSpec, run: Run
) -> None:
    _check(every_day, run, _FIGURES)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(run=RUNS)
def test_no_contact_ever_falls_in_rest_hours_many_runs(every_day: CampaignSpec, run: Run) -> None:
    _check(every_day, run, _FIGURES)


def test_figures_of_the_clock_runs(every_day: CampaignSpec) -> None:
    """One run through both kinds of jump at each change, timed, for the issue's closing note."""
    started = time.monotonic()
    results: Sequence[Result] = [
        simulate(every_day, run, Path(tempfile.mkdtemp(prefix="jumps-")))
        for run in (NY_EDGE, LONDON_EDGE, LATE_BATCH)
    ]
    for r in results:
        assert r.contacts > 0 and not r.outside, r.outside
    print(
        f"\nclock runs: {[(r.contacts, r.jumps) for r in results]} (contacts, jumps); "
        f"{time.monotonic() - started:.1f} s"
    )
