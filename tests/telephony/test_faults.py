"""Faults survived: 5xx, timeouts, lost, duplicated and reordered callbacks; and three simulated
days of retries in several time zones where no phone ever rings in anyone's rest hours. Every
check of who was contacted, when and how often reads the sandbox's own log."""

from __future__ import annotations

import collections
import dataclasses
import threading
from datetime import datetime, timedelta
from pathlib import Path

from seeding import seed
from sqlalchemy import func, select

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher
from dialer.models import Attempt, AttemptState, CallbackTask, Customer, TaskState, WebhookEvent
from dialer.plan_model import reachee
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox import Faults
from dialer.telephony.sandbox.testing import SandboxHarness
from dialer.webhooks import create_app
from dialer.windows import is_open

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SPEC = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")


def monday_10_taipei(clock: SettableClock) -> None:
    clock.set(clock.now().replace(hour=2, minute=0))


def make_dispatcher(
    store: Store, clock: SettableClock, harness: SandboxHarness, hooks: str, **over: object
) -> Dispatcher:
    config = DispatchConfig(
        worker_id="w1",
        public_base_url=hooks,
        senders={"default": "+15005550006"},
        cps=1.0,
        max_in_flight=1,
        min_gap=timedelta(0),
    )
    config = dataclasses.replace(config, **over)  # type: ignore[arg-type]
    sb = harness.sandbox
    telephony = Telephony(sb.account_sid, sb.auth_token, base_url=harness.base_url)
    return Dispatcher(store, clock, telephony, config)


def attempts(store: Store) -> list[Attempt]:
    with store.sessions() as s:
        return list(s.scalars(select(Attempt).order_by(Attempt.id)))


def test_a_5xx_is_retried_and_the_customer_is_called_once(
    store: Store, clock: SettableClock, make_sandbox: object
) -> None:
    monday_10_taipei(clock)
    harness: SandboxHarness = make_sandbox()  # type: ignore[operator]
    seed(store, clock, SPEC, n=1)
    harness.sandbox.fail_next(1, status=500)
    with AppServer(create_app(store, clock, harness.sandbox.auth_token)) as hooks:
        d = make_dispatcher(store, clock, harness, hooks.base_url)
        first = d.tick()
        assert first.placed == 0 and first.retried == 1
        [held] = attempts(store)
        assert held.state == AttemptState.CLAIMED  # kept until the lease ends: maybe it exists
        clock.advance(timedelta(minutes=3))
        second = d.tick()  # the reaper finds no call, releases it; it is dialled again
        assert second.reaped == 1 and second.placed == 1
        harness.advance(600)
        d.close()
    assert len(harness.sandbox.contacts()) == 1
    [done] = attempts(store)
    assert done.state == AttemptState.COMPLETED


def test_a_timed_out_request_whose_call_exists_is_adopted_not_redialled(
    store: Store, clock: SettableClock, make_sandbox: object
) -> None:
    monday_10_taipei(clock)
    harness: SandboxHarness = make_sandbox()  # type: ignore[operator]
    harness.sandbox.faults.latency = 2.0  # the call is made; the answer comes too late
    seed(store, clock, SPEC, n=1)
    with AppServer(create_app(store, clock, harness.sandbox.auth_token)) as hooks:
        d = make_dispatcher(store, clock, harness, hooks.base_url)
        d.telephony = Telephony(
            harness.sandbox.account_sid,
            harness.sandbox.auth_token,
            base_url=harness.base_url,
            timeout=0.5,
        )
        d.reconciler.telephony = d.telephony
        report = d.tick()
        assert report.placed == 0
        harness.sandbox.faults.latency = 0.0
        # The slow request is still being served in real time: wait (bounded) until the sandbox
        # has made the call, as Twilio would have long before our two-minute lease runs out.
        for _ in range(200):
            if harness.sandbox.contacts():
                break
            threading.Event().wait(0.05)
        clock.advance(timedelta(minutes=3))
        report = d.tick()
        assert report.adopted == 1 and report.placed == 0
        d.close()
    assert len(harness.sandbox.requests[("POST", "calls")]) == 1
    [adopted] = attempts(store)
    assert adopted.provider_sid == harness.sandbox.contacts()[0].sid


def test_lost_callbacks_are_reconciled_from_twilio(
    store: Store, clock: SettableClock, make_sandbox: object
) -> None:
    monday_10_taipei(clock)
    harness: SandboxHarness = make_sandbox()  # type: ignore[operator]
    harness.sandbox.faults = Faults(drop_callbacks=1.0)
    seed(store, clock, SPEC, n=3)
    with AppServer(create_app(store, clock, harness.sandbox.auth_token)) as hooks:
        d = make_dispatcher(store, clock, harness, hooks.base_url)
        assert d.tick().placed == 3
        harness.advance(600)
        assert {a.state for a in attempts(store)} == {AttemptState.PLACED}  # nothing heard
        clock.advance(timedelta(minutes=20))  # past the placed lease
        report = d.tick()
        d.close()
    assert report.reaped == 3
    finals = {a.provider_status for a in attempts(store)}
    assert {a.state for a in attempts(store)} <= {AttemptState.COMPLETED, AttemptState.FAILED}
    assert finals <= {"completed", "busy", "no-answer", "failed"}


def test_duplicated_and_reordered_callbacks_change_nothing_twice(
    store: Store, clock: SettableClock, make_sandbox: object
) -> None:
    monday_10_taipei(clock)
    harness: SandboxHarness = make_sandbox(seed=3)  # type: ignore[operator]
    harness.sandbox.faults = Faults(duplicate_callbacks=1.0, reorder_callbacks=0.5)
    seed(store, clock, SPEC, n=6)
    with AppServer(create_app(store, clock, harness.sandbox.auth_token)) as hooks:
        d = make_dispatcher(store, clock, harness, hooks.base_url, cps=10.0)
        assert d.tick().placed == 6
        harness.advance(900)
        d.close()
    by_sid = {c.sid: c.status for c in harness.sandbox.contacts()}
    for a in attempts(store):
        assert a.state in (AttemptState.COMPLETED, AttemptState.FAILED)
        assert a.provider_status == by_sid[a.provider_sid]  # the final status, never regressed
    with store.sessions() as s:
        keys = s.execute(
            select(WebhookEvent.provider_sid, WebhookEvent.status, WebhookEvent.sequence)
        ).all()
    assert len(keys) == len(set(keys))


ZONES = [("Asia/Taipei", "TW", "+88691200000"), ("Asia/Seoul", "KR", "+82101234000"),
         ("America/New_York", "US", "+1212555010"), ("Europe/London", "GB", "+4477009000")]  # fmt: skip


def test_three_days_of_retries_never_ring_in_anyones_rest_hours(
    store: Store, clock: SettableClock, make_sandbox: object
) -> None:
    clock.set(datetime.fromisoformat("2026-11-23T00:00:00+00:00"))
    harness: SandboxHarness = make_sandbox(seed=11)  # type: ignore[operator]
    for zone, region, prefix in ZONES:
        seed(store, clock, SPEC, n=4, phones=((prefix + "0", "mobile"),), zone=zone, region=region,
             key_prefix=region)  # fmt: skip
    with AppServer(create_app(store, clock, harness.sandbox.auth_token)) as hooks:
        d = make_dispatcher(store, clock, harness, hooks.base_url, cps=5.0)
        end = clock.now() + timedelta(days=3)
        while clock.now() < end:
            d.tick()
            harness.advance(600)  # ten minutes of simulated customers between ticks
        d.close()
    with store.sessions() as s:
        zone_of = {
            p: tuple(c.time_zones)
            for p, c in s.execute(
                select(Attempt.phone_e164, Customer).join(
                    Customer, Customer.id == Attempt.customer_id
                )
            )
        }
        states = collections.Counter(s.scalars(select(CallbackTask.state)))
        total = s.scalar(select(func.count()).select_from(Attempt))
    policy = SPEC.window_policy(min_open=timedelta(0))
    contacts = harness.sandbox.contacts()
    assert contacts and total == len(contacts)
    for c in contacts:
        if c.rang_at is not None:
            zones = zone_of[c.to]
            region = next(r for z, r, _ in ZONES if z == zones[0])
            assert is_open(reachee(zones, None, region, None), policy, c.rang_at), c
    per_number = collections.Counter(c.to for c in contacts)
    assert max(per_number.values()) <= 4  # 3 calls and 1 SMS at the most, per the campaign
    assert states[TaskState.PENDING] == 0  # every task was tried within the three days
