"""Pacing: never more than N requests per sender and per account in any sliding window.

Twilio queues calls above an account's calls-per-second and a customer rings only when the
call leaves that queue, so sending faster than the CPS only moves ringing later (and maybe
out of the calling window). The pacer keeps a sliding log of start times per key: a request
may start when every key it uses (its sender number, the account) has had fewer than N
starts in the last `N / rate` seconds. A 429 blocks a key for `Retry-After` (or a jittered
exponential backoff). Pure over an injected clock; thread-safe so a pool of workers can share
it and keep the pipe full while the API is slow.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from dialer.clock import Clock

EPSILON = 1e-9  # float rounding of summed waits must not keep a slot taken
MARGIN = 0.01  # seconds added to each window: scheduling jitter must not push 51 into a second


@dataclass(frozen=True, slots=True)
class Limit:
    """`rate` requests per second for one key (a sender number, or the account)."""

    key: str
    rate: float

    @property
    def burst(self) -> int:
        return max(1, math.floor(self.rate))

    @property
    def window(self) -> float:
        return self.burst / self.rate + MARGIN


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
        """Take a start slot on every key now and return 0, or return how long to wait."""
        with self._lock:
            now = self.clock.monotonic()
            wait = 0.0
            for lim in limits:
                wait = max(wait, self._blocked_until.get(lim.key, 0.0) - now)
                log = self._log.setdefault(lim.key, deque())
                while log and now - log[0] >= lim.window - EPSILON:
                    log.popleft()
                if len(log) >= lim.burst:
                    wait = max(wait, log[0] + lim.window - now)
            if wait > 0:
                return wait
            for lim in limits:
                self._log[lim.key].append(now)
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
