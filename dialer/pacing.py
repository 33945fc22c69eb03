"""Pacing: never more than N requests per sender and per account in any sliding window.

Twilio queues calls above an account's calls-per-second and a customer rings only when the
call leaves that queue, so sending faster than the CPS only moves ringing later (and maybe
out of the calling window). The pacer keeps a sliding log of start times per key: a request
may start when every key it uses (its sender number, the account) has had fewer than `burst`
starts in the last `burst / rate` seconds (stretched by a small margin). A 429 blocks a key for `Retry-After` (or a jittered
exponential backoff). Pure over an injected clock; thread-safe so a pool of workers can share
it and keep the pipe full while the API is slow.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from dialer.clock import Clock

EPSILON = 1e-9  # float rounding of summed waits must not keep a slot taken
CATCH_UP = 0.01  # seconds a late start may keep its slot's time (no drift from overshoots)
MARGIN = 0.015  # spacing stretched by 1.5%: scheduling jitter must not push 51 into a second


@dataclass(frozen=True, slots=True)
class Limit:
    """`rate` requests per second for one key (a sender number, or the account).

    Starts are spread evenly (`burst` 1: one start per 1/rate seconds), not sent 50 at once and
    then nothing: a burst's requests reach Twilio over the next few hundred milliseconds and
    would crowd into the next second together with the following burst.
    """

    key: str
    rate: float
    burst: int = 1

    @property
    def window(self) -> float:
        return self.burst / self.rate * (1 + MARGIN)


class Pacer:
    """Sliding-window limits per key, shared by every worker of one dispatcher."""

    def __init__(self, clock: Clock, *, seed: int | None = None) -> None:
        self.clock = clock
        self._log: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._strikes: dict[str, int] = {}

    def reserve(self, limits: Sequence[Limit]) -> float:
        """Take a start slot on every key now and return 0, or return how long to wait.

        The log keeps each key's last `burst` slot times. A slot taken a little late is stamped
        at the time it was due (up to `CATCH_UP` back), so sleeps that overshoot do not add up
        and the achieved rate stays at the configured one.
        """
        with self._lock:
            now = self.clock.monotonic()
            wait = 0.0
            due: list[float] = []
            for lim in limits:
                wait = max(wait, self._blocked_until.get(lim.key, 0.0) - now)
                log = self._log.setdefault(lim.key, deque(maxlen=lim.burst))
                allowed = log[0] + lim.window if len(log) >= lim.burst else float("-inf")
                due.append(allowed)
                wait = max(wait, allowed - now - EPSILON)
            if wait > 0:
                return wait
            for lim, allowed in zip(limits, due, strict=True):
                late = now - allowed  # 0..CATCH_UP: a sleep overshot; more: the key was idle
                self._log[lim.key].append(allowed if 0 <= late <= CATCH_UP else now)
            return 0.0

    def acquire(self, limits: Sequence[Limit], *, give_up_after: float = 3600.0) -> bool:
        """Block (on the clock) until a slot is taken; False if it would take longer than allowed."""
        waited = 0.0
        while True:
            wait = self.reserve(limits)
            if wait <= 0:
                return True
            if waited + wait > give_up_after:
                return False
            self.clock.sleep(min(wait, 0.25))
            waited += min(wait, 0.25)

    def throttled(self, key: str, retry_after: float | None) -> float:
        """A 429 for `key`: block it for Retry-After, or an exponential backoff with jitter."""
        with self._lock:
            strikes = self._strikes.get(key, 0) + 1
            self._strikes[key] = strikes
            if retry_after is not None:
                delay = retry_after
            else:
                delay = min(60.0, 0.5 * 2 ** (strikes - 1)) * (0.5 + self._random.random())
            until = self.clock.monotonic() + delay
            self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)
            return delay

    def succeeded(self, key: str) -> None:
        """A request went through: the backoff for `key` starts again from its first step."""
        with self._lock:
            self._strikes.pop(key, None)
