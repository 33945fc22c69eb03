"""The one clock: everything that needs "now" gets a Clock passed in, so tests and the demo can move time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current instant as an aware UTC datetime."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None:
        """Wait: really on the system clock, by moving time on a settable one (tests never sleep)."""
        ...


class SystemClock:
    """The real wall clock; the only place in dialer that reads it."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SettableClock:
    """A clock tests (and the demo's fast-forward) set and advance by hand."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        if seconds > 0:  # at least one microsecond, so a waiting loop always moves on
            self.advance(max(timedelta(microseconds=1), timedelta(seconds=seconds)))

    def set(self, at: datetime) -> None:
        at = ensure_utc(at)
        self._mono += max(0.0, (at - self._now).total_seconds())
        self._now = at

    def advance(self, delta: timedelta | float) -> None:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        self.set(self._now + delta)


def ensure_utc(at: datetime) -> datetime:
    """Refuse naive datetimes: a naive time is a bug waiting for a time-zone change."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: dialer only handles aware times")
    return at.astimezone(UTC)
