"""When a placed attempt is asked about (dialer.settle): pure arithmetic, and the fetch budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.settle import FetchBudget, Settling

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_the_checks_come_at_the_ring_deadline_the_validity_and_never_past_the_longest_life() -> (
    None
):
    s = Settling(grace=timedelta(seconds=30), recheck=timedelta(seconds=60))
    q, ring, limit = timedelta(seconds=8), timedelta(seconds=30), timedelta(minutes=6)
    assert s.call_check(NOW, q, ring) == NOW + timedelta(seconds=68)
    assert s.call_longest(NOW, q, ring, limit) == NOW + timedelta(seconds=428)
    assert s.call_check(NOW, q, ring) < s.call_longest(NOW, q, ring, limit)
    assert s.sms_check(NOW, timedelta(hours=10)) == NOW + timedelta(hours=10, seconds=30)


def test_rechecks_every_minute_then_ever_more_rarely() -> None:
    s = Settling(recheck=timedelta(seconds=60))
    assert s.again(NOW, NOW - timedelta(minutes=2)) == NOW + timedelta(seconds=60)
    assert s.again(NOW, NOW - timedelta(hours=4)) == NOW + timedelta(hours=1)  # a quarter of age
    assert s.again(NOW, None) == NOW + timedelta(seconds=60)


def test_the_fetch_budget_refills_at_its_rate_up_to_two_seconds_worth() -> None:
    b = FetchBudget(10.0)
    assert b.available(0.0) == 20
    b.spend(20)
    assert b.available(0.0) == 0
    assert b.available(0.5) == 5
    assert b.available(100.0) == 20  # never more than the burst
    with pytest.raises(ValueError, match="positive"):
        FetchBudget(0)
