"""The one clock: aware UTC only, and a settable clock that tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dialer.clock import SettableClock, SystemClock, ensure_utc


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC


def test_settable_clock_moves_only_when_told() -> None:
    clock = SettableClock(datetime(2026, 11, 1, 5, 30, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(timedelta(hours=2))
    assert clock.now() == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    clock.advance(90)
    assert clock.now() == datetime(2026, 11, 1, 7, 31, 30, tzinfo=UTC)
    assert clock.monotonic() == pytest.approx(2 * 3600 + 90)


def test_settable_clock_converts_other_offsets_to_utc() -> None:
    taipei = timezone(timedelta(hours=8))
    clock = SettableClock(datetime(2026, 11, 23, 9, 0, tzinfo=taipei))
    assert clock.now() == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(datetime(2026, 11, 23, 9, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        SettableClock(datetime(2026, 11, 23))  # noqa: DTZ001
