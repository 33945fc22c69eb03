"""The demo skips a dispatcher tick only when nothing is due: each kind of dispatcher work (a
task whose next try has come, a scheduled attempt, a lease run out) makes it tick, on both
engines."""

from __future__ import annotations

from datetime import timedelta

from report_seeding import CAMPAIGNS, SLUG
from seeding import seed
from sqlalchemy import update

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.demo import dispatch_due
from dialer.models import Attempt, CallbackTask
from dialer.store import Store

H = timedelta(hours=1)


def test_a_tick_is_due_only_when_the_dispatcher_has_work(
    store: Store, clock: SettableClock
) -> None:
    now = clock.now()
    assert not dispatch_due(store, now)  # nothing at all
    [task_id] = seed(store, clock, load_campaign(CAMPAIGNS / f"{SLUG}.toml"), n=1)
    assert dispatch_due(store, now)  # the task's first try is due now
    with store.transaction() as s:
        s.execute(update(CallbackTask).values(next_attempt_at=now + 2 * H))
        task = s.get(CallbackTask, task_id)
        assert task is not None
        attempt = Attempt(
            task_id=task_id,
            customer_id=task.customer_id,
            number=1,
            channel="voice",
            state="scheduled",
            due_at=now + H,
            created_at=now,
        )
        s.add(attempt)
    assert not dispatch_due(store, now)  # a retry in two hours, an attempt in one
    assert dispatch_due(store, now + H)  # the attempt's time has come
    with store.transaction() as s:
        s.execute(
            update(Attempt).values(state="placed", lease_expires_at=now + 30 * timedelta(minutes=1))
        )
    assert not dispatch_due(store, now + 20 * timedelta(minutes=1))  # a call out, lease running
    assert dispatch_due(store, now + H)  # its lease ran out: the reaper's work
    with store.transaction() as s:
        s.execute(update(Attempt).values(state="completed"))
        s.execute(update(CallbackTask).values(state="reached", reached_at=now))
    assert not dispatch_due(store, now + 3 * H)  # reached: nothing more to do
