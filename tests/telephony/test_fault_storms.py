"""Every fault of the sandbox at once, at high rate, for four hours of campaign time.

429 storms (bursts with Retry-After and a steady rate), 500s and 503s, requests that time out
after the call was made, and lost, duplicated and reordered status callbacks, on calls and SMS,
with the reconciliation's own requests under the same fire. Afterwards the books balance
against the sandbox's log (`books_check`): every attempt settled in a known state (reconciled
from Twilio's REST list where its final callback never came), placed = the sandbox's log, each
call booked once with its final status, outcomes only where a person answered, nobody
contacted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from books_check import check_books, unsettled
from seeding import seed
from sqlalchemy import func, select

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher, TickReport
from dialer.models import Attempt, WebhookEvent
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox import Faults
from dialer.telephony.sandbox.testing import SandboxHarness
from dialer.webhooks import create_app

SPEC = load_campaign(Path(__file__).parents[2] / "campaigns" / "after-service-satisfaction.toml")
STORM = Faults(rate_429=0.25, rate_500=0.06, rate_503=0.08, drop_callbacks=0.15,
               duplicate_callbacks=0.3, reorder_callbacks=0.3)  # fmt: skip


def run_storm(
    store: Store,
    clock: SettableClock,
    harness: SandboxHarness,
    *,
    hours: int,
    customers: int,
) -> tuple[TickReport, dict[str, int], float]:
    """Seed, dispatch through the storm, settle; (totals, faults injected, seconds taken)."""
    started = time.monotonic()
    clock.set(clock.now().replace(hour=2, minute=0))  # Monday 10:00 in Taipei
    sb = harness.sandbox
    groups = max(1, customers // 10)
    for k in range(groups):  # three groups in four start with a call, the fourth with an SMS
        seed(store, clock, SPEC, n=10, phones=((f"+88691234{k:02d}00", "mobile"),),
             key_prefix=f"S{k}-", plan_action="sms" if k % 4 == 3 else None)  # fmt: skip
    sb.faults = Faults(**vars(STORM))
    totals = TickReport()
    with AppServer(create_app(store, clock, sb.auth_token)) as hooks:
        sb.inbound_sms_url = f"{hooks.base_url}/twilio/sms/inbound"
        config = DispatchConfig(
            worker_id="storm",
            public_base_url=hooks.base_url,
            senders={"default": "+15005550006"},
            cps=5.0,
            max_in_flight=4,
        )
        telephony = Telephony(sb.account_sid, sb.auth_token, base_url=harness.base_url, timeout=0.3)
        d = Dispatcher(store, clock, telephony, config)
        for i in range(hours * 30):  # a tick every two minutes
            if i % 20 == 4:
                sb.fail_next(12, status=429, retry_after=2)  # a 429 storm
            sb.faults.latency = 0.5 if i == 0 else 0.0  # slow answers: client timeouts
            totals.add(d.tick())
            harness.advance(120)
        sb.faults.latency = 0.0
        for _ in range(40):  # past the placed lease, still under fire: the reaper settles
            totals.add(d.tick())
            harness.advance(300)
            if not unsettled(store) and not d.in_flight:
                break
        d.close()
    return totals, sb.fault_counts(), time.monotonic() - started


def test_a_storm_of_every_fault_at_once_leaves_the_books_balanced(
    store: Store, clock: SettableClock, make_sandbox: Callable[..., SandboxHarness]
) -> None:
    harness = make_sandbox(seed=21, cps=5)
    totals, faults, seconds = run_storm(store, clock, harness, hours=4, customers=40)
    figures = check_books(store, harness.sandbox)
    with store.sessions() as s:
        reconciled = s.scalar(
            select(func.count(func.distinct(WebhookEvent.attempt_id))).where(
                WebhookEvent.payload["Source"].as_string() == "reconciliation"
            )
        )
        first_tries = s.scalar(select(func.count()).select_from(Attempt).where(Attempt.number == 1))
    assert first_tries == 40  # every task was tried
    # The storm really blew: every kind of fault happened.
    for kind in ("429", "500", "503", "dropped", "duplicated", "reordered"):
        assert faults.get(kind, 0) >= 1, (kind, faults)
    assert totals.retried > 0 and (reconciled or 0) > 0
    # Requests that timed out after Twilio made the call: booked from their callbacks or
    # adopted from Twilio's list, never dialled again (the books above say so).
    timed_out = figures.placed - totals.placed
    assert timed_out > 0
    assert figures.placed > 40  # retries two hours on were placed too
    print(
        f"\n[{store.dialect}] {seconds:.1f} s; faults injected {faults}; "
        f"ticks' totals: placed {totals.placed}, retried {totals.retried}, "
        f"reaped {totals.reaped}, adopted {totals.adopted}, timed out but booked {timed_out}; "
        f"attempts settled from Twilio's list: {reconciled}; books: {figures}"
    )


@pytest.mark.slow
def test_a_long_storm_over_a_day_leaves_the_books_balanced(
    store: Store, clock: SettableClock, make_sandbox: Callable[..., SandboxHarness]
) -> None:
    harness = make_sandbox(seed=34, cps=5)
    _, faults, seconds = run_storm(store, clock, harness, hours=12, customers=200)
    figures = check_books(store, harness.sandbox)
    assert sum(faults.values()) > 100 and figures.placed >= 200
    print(f"\n[{store.dialect}] long storm {seconds:.1f} s; faults {faults}; books: {figures}")
