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
MIN_GAP = 0.8  # of a slot: late requests catch up a little faster, never all at once
MARGIN = 0.018  # spacing stretched by 1.8%: scheduling jitter must not push 51 into a second


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

    @property
    def per_window(self) -> int:
        """How many requests may really leave in `sent_window` seconds."""
        return max(1, int(self.rate))

    @property
    def sent_window(self) -> float:
        return self.per_window / self.rate * (1 + MARGIN)


def backoff(strikes: int, retry_after: float | None, rng: random.Random) -> float:
    """How long a key waits after its `strikes`-th 429 in a row: Retry-After when Twilio says,
    else an exponential backoff (0.5 s doubling, at most 60 s) with jitter, so workers spread."""
    if retry_after is not None:
        return retry_after
    return float(min(60.0, 0.5 * 2 ** (strikes - 1)) * (0.5 + rng.random()))


class Pacer:
    """Sliding-window limits per key, shared by every worker of one dispatcher."""

    def __init__(self, clock: Clock, *, seed: int | None = None) -> None:
        self.clock = clock
        self._log: dict[str, deque[float]] = {}
        self._sent: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._strikes: dict[str, int] = {}

    def _slot(self, limits: Sequence[Limit], now: float) -> float:
        """The earliest start every key allows (caller holds the lock)."""
        slot = now
        for lim in limits:
            slot = max(slot, self._blocked_until.get(lim.key, 0.0))
            log = self._log.setdefault(lim.key, deque(maxlen=lim.burst))
            if log:
                slot = max(slot, log[-1])  # slots are handed out in order
            if len(log) >= lim.burst:
                slot = max(slot, log[0] + lim.window)
        return slot

    def take(self, limits: Sequence[Limit]) -> float:
        """Book the next free start slot on every key; seconds until it (0: go now).

        Each worker gets its own slot in turn, so waiting workers do not all wake and race for
        the next one, and a worker that wakes a little late does not push the later slots back.
        """
        with self._lock:
            now = self.clock.monotonic()
            slot = self._slot(limits, now)
            for lim in limits:
                self._log[lim.key].append(slot)
            return max(0.0, slot - now)

    def confirm(self, limits: Sequence[Limit]) -> float:
        """Right before a request leaves: 0 (and it is logged) or how long it must still wait.

        The booked slots spread starts evenly; this second check counts the requests that
        really left, so a worker that woke late (the process stalled) cannot send on top of the
        next ones: never more than the rate in any window, whatever the scheduling jitter.
        """
        with self._lock:
            now = self.clock.monotonic()
            wait = 0.0
            for lim in limits:
                sent = self._sent.setdefault(lim.key, deque(maxlen=lim.per_window))
                if len(sent) >= lim.per_window:
                    wait = max(wait, sent[0] + lim.sent_window - now)
                if sent:  # catching up after a stall: spread out, never several at once
                    wait = max(wait, sent[-1] + MIN_GAP / lim.rate - now)
            if wait > EPSILON:
                return wait
            for lim in limits:
                self._sent[lim.key].append(now)
            return 0.0

    def wait_for(self, limits: Sequence[Limit]) -> float:
        """Seconds until a slot on every key would be free; books nothing (0: free now)."""
        with self._lock:
            now = self.clock.monotonic()
            return max(0.0, self._slot(limits, now) - now)

    def reserve(self, limits: Sequence[Limit]) -> float:
        """Take a slot only if it is free now (return 0); else how long until one is."""
        with self._lock:
            now = self.clock.monotonic()
            wait = self._slot(limits, now) - now
            if wait > EPSILON:
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

    def blocked_for(self, limits: Sequence[Limit]) -> float:
        """Seconds until every key is past its 429 block (0 when none is blocked)."""
        with self._lock:
            now = self.clock.monotonic()
            return max([0.0] + [self._blocked_until.get(lim.key, 0.0) - now for lim in limits])

    def throttled(self, key: str, retry_after: float | None) -> float:
        """A 429 for `key`: block it for Retry-After, or an exponential backoff with jitter."""
        with self._lock:
            strikes = self._strikes.get(key, 0) + 1
            self._strikes[key] = strikes
            delay = backoff(strikes, retry_after, self._random)
            until = self.clock.monotonic() + delay
            self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)
            return delay

    def succeeded(self, key: str) -> None:
        """A request went through: the backoff for `key` starts again from its first step."""
        with self._lock:
            self._strikes.pop(key, None)
