"""Pacing: never more than N starts per key in any sliding window; 429s block a key."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.clock import SettableClock
from dialer.pacing import MARGIN, Limit, Pacer


def clock() -> SettableClock:
    return SettableClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))


def test_starts_are_spread_evenly_over_the_second() -> None:
    c = clock()
    p = Pacer(c)
    lim = [Limit("acct", 50)]
    assert p.reserve(lim) == 0
    wait = p.reserve(lim)
    assert abs(wait - 0.02 * (1 + MARGIN)) < 1e-6
    c.advance(wait)
    assert p.reserve(lim) == 0


def test_a_burst_limit_lets_that_many_start_together() -> None:
    c = clock()
    p = Pacer(c)
    lim = [Limit("acct", 50, burst=50)]
    assert all(p.reserve(lim) == 0 for _ in range(50))
    assert abs(p.reserve(lim) - (1 + MARGIN)) < 1e-6


def test_fractional_rate_spaces_single_requests() -> None:
    c = clock()
    p = Pacer(c)
    lim = [Limit("slow", 0.5)]
    assert p.reserve(lim) == 0
    assert p.reserve(lim) > 1.9
    c.advance(2.0 * (1 + MARGIN))
    assert p.reserve(lim) == 0


def test_every_key_must_have_room() -> None:
    c = clock()
    p = Pacer(c)
    acct = Limit("acct", 2, burst=2)
    assert p.reserve([acct, Limit("sender-a", 1)]) == 0
    assert p.reserve([acct, Limit("sender-a", 1)]) > 0  # sender full
    assert p.reserve([acct, Limit("sender-b", 1)]) == 0  # account still had room
    assert p.reserve([acct, Limit("sender-c", 1)]) > 0  # account full now


def test_retry_after_blocks_the_key_and_backoff_resets() -> None:
    c = clock()
    p = Pacer(c, seed=1)
    lim = [Limit("acct", 100)]
    assert p.throttled("acct", 3.0) == 3.0
    assert 2.9 < p.reserve(lim) <= 3.0
    c.advance(3.0)
    assert p.reserve(lim) == 0
    p.succeeded("acct")
    first = p.throttled("acct", None)
    second = p.throttled("acct", None)
    assert 0.25 <= first <= 0.75 and 0.5 <= second <= 1.5
    p.succeeded("acct")
    assert p.throttled("acct", None) <= 0.75


def test_acquire_waits_on_the_clock_not_the_wall() -> None:
    c = clock()
    p = Pacer(c)
    lim = [Limit("acct", 1)]
    start = c.monotonic()
    for _ in range(5):
        assert p.acquire(lim)
    assert c.monotonic() - start >= 4 * (1 + MARGIN) - 1e-6
    assert not p.acquire(lim, give_up_after=0.1)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([1.0, 3.0, 50.0, 0.5]),
    burst=st.sampled_from([1, 5]),
    gaps=st.lists(st.floats(min_value=0, max_value=0.2), min_size=1, max_size=300),
)
def test_no_window_ever_holds_more_than_the_rate(
    rate: float, burst: int, gaps: list[float]
) -> None:
    c = clock()
    p = Pacer(c)
    lim = Limit("k", rate, burst=burst)
    starts: list[float] = []
    for gap in gaps:
        c.advance(gap)
        if p.reserve([lim]) == 0:
            starts.append(c.monotonic())
    span = lim.window
    per_second = max(1, int(rate)) if burst == 1 else burst * max(1, int(rate / burst) + 1)
    for i, t in enumerate(starts):
        assert len([s for s in starts[i:] if s - t < span]) <= burst
        assert len([s for s in starts[i:] if s - t < 1.0]) <= per_second


def test_booked_slots_keep_the_schedule_when_sleeps_overshoot() -> None:
    c = clock()
    p = Pacer(c)
    lim = [Limit("acct", 50)]
    starts = []
    for _ in range(500):
        c.advance(p.take(lim) + 0.0007)  # every sleep overshoots by 0.7 ms
        starts.append(c.monotonic())
    rate = (len(starts) - 1) / (starts[-1] - starts[0])
    assert abs(rate - 50 / (1 + MARGIN)) < 0.01


def test_workers_book_distinct_slots_in_turn() -> None:
    c = clock()
    p = Pacer(c)
    lim = [Limit("acct", 50), Limit("sender", 10)]
    waits = [p.take(lim) for _ in range(5)]  # five workers at once: no herd, one slot each
    step = 0.1 * (1 + MARGIN)
    assert [round(w / step, 6) for w in waits] == [0, 1, 2, 3, 4]
    p.throttled("sender", 2.0)
    assert p.blocked_for(lim) == 2.0 and p.take(lim) >= 2.0


def test_wait_for_tells_the_next_free_slot_and_books_nothing() -> None:
    c = clock()
    p = Pacer(c)
    lim = [Limit("acct", 0.01)]  # one call every 100 s
    assert p.wait_for(lim) == 0
    assert p.wait_for(lim) == 0  # asking twice took nothing
    assert p.take(lim) == 0
    wait = p.wait_for(lim)
    assert abs(wait - 100 * (1 + MARGIN)) < 1e-6
    assert p.wait_for(lim) == wait
    c.advance(wait)
    assert p.wait_for(lim) == 0 and p.take(lim) == 0
