"""Pacing: never more than N starts per key in any sliding window; 429s block a key."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.clock import SettableClock
from dialer.pacing import MARGIN, Limit, Pacer


def clock() -> SettableClock:
    return SettableClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))


def test_burst_then_wait_for_the_window() -> None:
    c = clock()
    p = Pacer(c)
    lim = [Limit("acct", 50)]
    assert all(p.reserve(lim) == 0 for _ in range(50))
    wait = p.reserve(lim)
    assert abs(wait - (1.0 + MARGIN)) < 1e-9
    c.advance(wait)
    assert p.reserve(lim) == 0


def test_fractional_rate_spaces_single_requests() -> None:
    c = clock()
    p = Pacer(c)
    lim = [Limit("slow", 0.5)]
    assert p.reserve(lim) == 0
    assert p.reserve(lim) > 1.9
    c.advance(2.0 + MARGIN)
    assert p.reserve(lim) == 0


def test_every_key_must_have_room() -> None:
    c = clock()
    p = Pacer(c)
    assert p.reserve([Limit("acct", 2), Limit("sender-a", 1)]) == 0
    assert p.reserve([Limit("acct", 2), Limit("sender-a", 1)]) > 0  # sender full
    assert p.reserve([Limit("acct", 2), Limit("sender-b", 1)]) == 0  # account still had room
    assert p.reserve([Limit("acct", 2), Limit("sender-c", 1)]) > 0  # account full now


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
    assert c.monotonic() - start >= 4 * (1 + MARGIN) - 1e-9
    assert not p.acquire(lim, give_up_after=0.1)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([1.0, 3.0, 50.0, 0.5]),
    gaps=st.lists(st.floats(min_value=0, max_value=0.2), min_size=1, max_size=300),
)
def test_no_window_ever_holds_more_than_the_rate(rate: float, gaps: list[float]) -> None:
    c = clock()
    p = Pacer(c)
    lim = Limit("k", rate)
    starts: list[float] = []
    for gap in gaps:
        c.advance(gap)
        if p.reserve([lim]) == 0:
            starts.append(c.monotonic())
    span = lim.burst / rate
    for i, t in enumerate(starts):
        inside = [s for s in starts[i:] if s - t < span]
        assert len(inside) <= lim.burst
