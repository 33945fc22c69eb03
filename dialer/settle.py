"""Settle by asking: when to fetch a placed attempt whose final status has not come.

A status callback can be lost (the web process down longer than Twilio's retries last: its
connection overrides allow at most 5 retries within 15 s). An attempt still `placed` is then
looked up by its SID at its *settle check*, the placed lease:

- first when a call that was never answered must have ended: the queueing estimate + the ring
  timeout + the grace (busy, no-answer and failed calls are over by then); an SMS when its
  validity period + the grace has passed (Twilio fails it then at the latest);
- while Twilio says it is still live, again every `recheck` (or a quarter of its age, whichever
  is longer, so an SMS that stays `sent` for good is asked about ever more rarely), so a call
  that ended while its callbacks were lost is settled within `recheck` + the grace of its end;
- never later than its longest possible life (queueing + ring + TimeLimit + grace): the
  rechecks come before it.

What the fetch finds goes through the same transitions as a callback (`apply_status`). The
fetches are paced by `FetchBudget` inside the account's API rate, and taken in order of their
checks, in batches per tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

GRACE = timedelta(seconds=30)  # `dialer run --placed-grace`, DIALER_PLACED_GRACE
RECHECK = timedelta(seconds=60)
FETCH_RPS = 50.0  # look-ups per second: half of Twilio's 100 concurrent API requests


@dataclass(frozen=True)
class Settling:
    """When placed attempts are asked about (see the module docstring)."""

    grace: timedelta = GRACE
    recheck: timedelta = RECHECK
    fetch_rps: float = FETCH_RPS

    def call_check(self, now: datetime, queueing: timedelta, ring: timedelta) -> datetime:
        """The first check of a call placed `now`: an unanswered call has ended by then."""
        return now + queueing + ring + self.grace

    def call_longest(
        self, now: datetime, queueing: timedelta, ring: timedelta, time_limit: timedelta
    ) -> datetime:
        """The latest a call placed `now` can end (Twilio hangs up at its TimeLimit), + grace."""
        return now + queueing + ring + time_limit + self.grace

    def sms_check(self, now: datetime, validity: timedelta) -> datetime:
        """An SMS sent `now`: past its validity period Twilio has delivered or failed it."""
        return now + validity + self.grace

    def again(self, now: datetime, placed_at: datetime | None) -> datetime:
        """The next check of an attempt Twilio still reports live."""
        age = now - placed_at if placed_at is not None else timedelta(0)
        return now + max(self.recheck, age / 4)


class FetchBudget:
    """A token bucket on the monotonic clock: how many look-ups may go now (at most a few
    seconds' worth at once), so settling after an outage never crowds out the calls."""

    def __init__(self, rate: float, burst_seconds: float = 2.0) -> None:
        if rate <= 0:
            raise ValueError(f"the fetch rate must be positive, got {rate}")
        self.rate = rate
        self.burst = max(1.0, rate * burst_seconds)
        self._tokens = self.burst
        self._at: float | None = None

    def available(self, monotonic: float) -> int:
        """Refill for the time since the last look and say how many may go now."""
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (monotonic - self._at) * self.rate)
        self._at = monotonic
        return int(self._tokens)

    def spend(self, n: int = 1) -> None:
        self._tokens -= n


__all__ = ["FETCH_RPS", "GRACE", "RECHECK", "FetchBudget", "Settling"]
