"""The fleet's shared state on both engines: the periodic jobs' lease (taken over when its holder
dies, on the test clock) and the pacing budget several dispatchers book their slots from."""

from __future__ import annotations

from datetime import timedelta

from dialer.clock import SettableClock
from dialer.election import PERIODIC, TTL, Holding, acquire, holding, may_take, release
from dialer.fleet_pacing import FLEET_MARGIN, LATE, FleetPacer, spacing
from dialer.pacing import Limit
from dialer.store import Store


def test_the_rules_of_taking_a_lease(clock: SettableClock) -> None:
    now = clock.now()
    alive = Holding("a", now + timedelta(seconds=1))
    assert may_take(None, "b", now)
    assert may_take(alive, "a", now)  # renewal
    assert not may_take(alive, "b", now)
    assert may_take(Holding("a", now), "b", now)  # expired exactly now


def test_one_holder_at_a_time_and_take_over_when_it_dies(
    store: Store, clock: SettableClock
) -> None:
    def ask(who: str) -> bool:
        with store.transaction() as s:
            return acquire(s, PERIODIC, who, clock.now())

    assert ask("a")
    assert not ask("b")
    clock.advance(TTL - timedelta(seconds=1))
    assert ask("a")  # renewed: a lives on
    started = clock.now()
    clock.advance(TTL - timedelta(seconds=1))
    assert not ask("b")  # the renewal counted from its own time
    clock.advance(timedelta(seconds=1))  # a stopped renewing (killed): its lease has run out
    assert ask("b")
    assert not ask("a")  # a comes back: it must wait its turn
    with store.sessions() as s:
        now_held = holding(s, PERIODIC)
    assert now_held == Holding("b", clock.now() + TTL)
    assert started < clock.now()


def test_a_clean_stop_hands_the_lease_over_at_once(store: Store, clock: SettableClock) -> None:
    with store.transaction() as s:
        assert acquire(s, PERIODIC, "a", clock.now())
    with store.transaction() as s:
        release(s, PERIODIC, "b")  # not b's to give: nothing happens
        assert not acquire(s, PERIODIC, "b", clock.now())
    with store.transaction() as s:
        release(s, PERIODIC, "a")
    with store.transaction() as s:
        assert acquire(s, PERIODIC, "b", clock.now())


def test_two_dispatchers_share_one_rate(store: Store, clock: SettableClock) -> None:
    """Slots booked alternately by two pacers (two processes) are one evenly spaced sequence."""
    first, second = FleetPacer(store, clock), FleetPacer(store, clock)
    limits = [Limit("account:call", 10.0), Limit("call:+15005550006", 10.0)]
    waits = [(first if i % 2 else second).take(limits) for i in range(20)]
    gap = spacing(limits[0])
    assert abs(gap - 0.1 * (1 + FLEET_MARGIN)) < 1e-9
    assert waits[0] == 0.0
    for i, w in enumerate(waits):
        assert abs(w - i * gap) < 1e-6, (i, w)
    # 20 starts take 19 gaps: never more than 10 in any second across both
    assert waits[10] - waits[0] > 1.0


def test_a_slower_sender_key_holds_the_account_back(store: Store, clock: SettableClock) -> None:
    pacer = FleetPacer(store, clock)
    fast, slow = Limit("account:call", 10.0), Limit("call:+1", 2.0)
    assert pacer.take([fast, slow]) == 0.0
    assert abs(pacer.take([fast, slow]) - spacing(slow)) < 1e-6
    # another sender is only held by the account's own spacing after that slot
    other = pacer.take([fast, Limit("call:+2", 2.0)])
    assert abs(other - (spacing(slow) + spacing(fast))) < 1e-6


def test_a_late_worker_books_a_new_slot_instead_of_bunching(
    store: Store, clock: SettableClock
) -> None:
    pacer, other = FleetPacer(store, clock), FleetPacer(store, clock)
    limits = [Limit("account:call", 10.0)]
    assert pacer.take(limits) == 0.0
    assert pacer.confirm(limits) == 0.0  # on time: go
    wait = pacer.take(limits)
    assert wait > 0
    clock.advance(wait)
    assert pacer.confirm(limits) == 0.0
    late = pacer.take(limits)
    other.take(limits)  # the next slot is someone else's
    clock.advance(late + LATE * 2)  # this worker stalled
    again = pacer.confirm(limits)
    assert again > 0  # a fresh slot after the other worker's, not on top of it
    clock.advance(again)
    assert pacer.confirm(limits) == 0.0


def test_a_429_anywhere_holds_the_whole_fleet(store: Store, clock: SettableClock) -> None:
    one, two = FleetPacer(store, clock), FleetPacer(store, clock)
    limits = [Limit("account:call", 10.0)]
    assert two.take(limits) == 0.0
    assert one.throttled("account:call", 3.0) == 3.0
    assert abs(two.take(limits) - 3.0) < 1e-6
