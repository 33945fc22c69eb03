"""Pacing across a fleet: every dispatcher books its start slots in the database.

The in-process `Pacer` keeps one dispatcher under the CPS; four of them would send four times
the CPS. Here each pacing key (the account, a sender number) has one `pacing_budget` row holding
its next free start time. Booking a request locks the rows of its keys (in key order, so two
bookings never deadlock), takes the latest of their next free times (and now), and moves each
key's next free time one spacing further: N workers on M machines together hand out evenly
spaced starts, never more than the rate in any window.

Two guards keep the rate at the sandbox's (Twilio's) end, not only in our books:
- slots are spaced `FLEET_MARGIN` wider than 1/rate, room for the jitter between booking,
  sending and arrival;
- a worker that reaches its slot late (its process stalled) books a new one instead of sending
  on top of the next worker's slot (`confirm`).

A 429 pushes every key's next free time past the Retry-After (or a jittered backoff), for the
whole fleet. Times are epoch seconds from the injected clock, so tests move them.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dialer.clock import Clock
from dialer.models import PacingBudget
from dialer.pacing import Limit, backoff
from dialer.store import Store

FLEET_MARGIN = 0.25  # slots 25% wider than 1/rate: up to ~200 ms of send-to-arrival jitter (a
# stalled process, a stalled receiver) still keeps every one-second window under the rate
CLOSE = 1e-6  # epoch seconds as floats resolve to about 0.24 µs: closer counts as now
LATE = 0.03  # seconds: a worker later than this books a new slot instead of sending (< margin)

# PostgreSQL: lock the keys' rows (in key order), take the latest free time, move each key on;
# one statement, one round trip while the rows are locked.
_BOOK_PG = text(
    """
    WITH locked AS (
        SELECT key, next_at, blocked_until FROM pacing_budget
        WHERE key = ANY(CAST(:keys AS text[])) ORDER BY key FOR UPDATE
    ), slot AS (
        SELECT greatest(CAST(:now AS float8), max(next_at), max(blocked_until)) AS at FROM locked
    )
    UPDATE pacing_budget AS p SET next_at = slot.at + g.gap
    FROM slot, unnest(CAST(:keys AS text[]), CAST(:gaps AS float8[])) AS g(key, gap)
    WHERE p.key = g.key
    RETURNING slot.at
    """
)


def spacing(limit: Limit) -> float:
    """Seconds between two starts of one key across the fleet."""
    return limit.burst / limit.rate * (1 + FLEET_MARGIN)


def book(session: Session, limits: Sequence[Limit], now: float, *, new_keys: bool = True) -> float:
    """Book the next start slot free on every key of `limits`; the slot (epoch seconds).

    The caller's transaction holds the keys' rows until it commits, so concurrent bookings of
    a key are serialised and each gets its own slot. `new_keys=False` (every key's row is known
    to exist) books in one statement on PostgreSQL.
    """
    keys = sorted({lim.key for lim in limits})
    gaps: dict[str, float] = {}
    for lim in limits:
        gaps[lim.key] = max(gaps.get(lim.key, 0.0), spacing(lim))
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and not new_keys:
        slots = session.execute(
            _BOOK_PG, {"keys": keys, "gaps": [gaps[k] for k in keys], "now": now}
        ).scalars()
        return float(next(iter(slots)))
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        maker(PacingBudget).on_conflict_do_nothing(index_elements=["key"]),
        [{"key": k, "next_at": 0.0, "blocked_until": 0.0} for k in keys],
    )
    rows = session.execute(
        select(PacingBudget.key, PacingBudget.next_at, PacingBudget.blocked_until)
        .where(PacingBudget.key.in_(keys))
        .order_by(PacingBudget.key)
        .with_for_update()
    ).all()
    slot = float(max([now] + [r.next_at for r in rows] + [r.blocked_until for r in rows]))
    for key in keys:
        session.execute(
            update(PacingBudget).where(PacingBudget.key == key).values(next_at=slot + gaps[key])
        )
    return slot


def block(session: Session, keys: Sequence[str], until: float) -> None:
    """No key of `keys` starts anything before `until` (a 429 anywhere in the fleet)."""
    for key in sorted(set(keys)):
        row = session.execute(
            select(PacingBudget.next_at, PacingBudget.blocked_until)
            .where(PacingBudget.key == key)
            .with_for_update()
        ).one_or_none()
        if row is None:
            continue
        session.execute(
            update(PacingBudget)
            .where(PacingBudget.key == key)
            .values(next_at=max(row.next_at, until), blocked_until=max(row.blocked_until, until))
        )


class FleetPacer:
    """The dispatcher's pacer when the budget lives in the database (`Pacer`'s interface)."""

    def __init__(self, store: Store, clock: Clock, *, seed: int | None = None) -> None:
        self.store, self.clock = store, clock
        self._local = threading.local()  # the slot this worker thread booked last
        self._lock = threading.Lock()
        self._booking = threading.Lock()
        self._known: set[str] = set()  # keys whose rows exist (booked once by this process)
        self._random = random.Random(seed)
        self._strikes: dict[str, int] = {}

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _book(self, limits: Sequence[Limit]) -> float:
        # One booking at a time per process: they queue on the rows' lock anyway, and this way
        # a dispatcher's workers hold one database connection for pacing, not one each.
        with self._booking, self.store.transaction() as session:
            if session.get_bind().dialect.name == "sqlite":  # take the write lock first
                session.execute(update(PacingBudget).where(PacingBudget.key == "").values(key=""))
            keys = {lim.key for lim in limits}
            slot = book(session, limits, self._now(), new_keys=not keys <= self._known)
        self._known |= keys
        self._local.slot = slot
        return slot

    def wait_for(self, limits: Sequence[Limit]) -> float:
        """Seconds until the fleet's next slot on every key would be free; books nothing."""
        keys = sorted({lim.key for lim in limits})
        with self.store.sessions() as session:
            rows = session.execute(
                select(PacingBudget.next_at, PacingBudget.blocked_until).where(
                    PacingBudget.key.in_(keys)
                )
            ).all()
        slot = max(
            [0.0] + [float(r.next_at) for r in rows] + [float(r.blocked_until) for r in rows]
        )
        return max(0.0, slot - self._now())

    def take(self, limits: Sequence[Limit]) -> float:
        """Book the next fleet-wide slot; seconds until it (0: go now)."""
        return max(0.0, self._book(limits) - self._now())

    def confirm(self, limits: Sequence[Limit]) -> float:
        """Right before the request leaves: 0 when this thread's slot is now; else the wait.

        Too early: wait for the slot. Too late (more than `LATE` seconds): the slot is given
        up and a new one booked, so a stalled worker does not send on top of the next one's —
        once: a worker late again (a machine too loaded to keep any slot) sends then, rather
        than book slot after slot and send nothing.
        """
        slot = getattr(self._local, "slot", None)
        now = self._now()
        if slot is None or (now > slot + LATE and not getattr(self._local, "rebooked", False)):
            self._local.rebooked = slot is not None
            slot = self._book(limits)
            now = self._now()
        if slot - now > CLOSE:
            return slot - now
        self._local.slot = None
        self._local.rebooked = False
        return 0.0

    def blocked_for(self, limits: Sequence[Limit]) -> float:
        """Always 0: a 429's block is part of every slot booked after it (`block`)."""
        return 0.0

    def throttled(self, key: str, retry_after: float | None) -> float:
        """A 429 for `key`: the whole fleet waits Retry-After, or a jittered backoff."""
        with self._lock:
            strikes = self._strikes.get(key, 0) + 1
            self._strikes[key] = strikes
            delay = backoff(strikes, retry_after, self._random)
        with self.store.transaction() as session:
            block(session, [key], self._now() + delay)
        return delay

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._strikes.pop(key, None)


__all__ = ["FLEET_MARGIN", "FleetPacer", "block", "book", "spacing"]
