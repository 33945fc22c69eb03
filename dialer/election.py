"""One runner of the periodic jobs across a fleet: a lease row, taken over when its holder dies.

Several `dialer run` processes may share one database; planning, escalation, assignment to
agents, the slack refresh, the triggers and the nightly report must run once across them. The first process to write the
`leases` row named "periodic" holds it for `ttl` and renews it while it lives; once the row has
expired (the holder was killed or cut off), the next process that asks takes it over. A row, not
a PostgreSQL advisory lock, so it works on SQLite too and expiry follows the injected clock.

Taking and renewing is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE` statement: the database
decides between two processes asking at once (the row lock on PostgreSQL, the write lock on
SQLite), and `now` is bound from the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dialer.models import Lease

PERIODIC = "periodic"  # the lease of planning, escalation, assignment, slack, triggers, reports
TTL = timedelta(seconds=30)  # a dead holder is replaced at most this long after its last renewal


@dataclass(frozen=True, slots=True)
class Holding:
    """Who holds a lease and until when."""

    holder: str
    expires_at: datetime


def may_take(current: Holding | None, me: str, now: datetime) -> bool:
    """Whether `me` may take (or renew) a lease held as `current` at `now`: pure, for the rules."""
    return current is None or current.holder == me or current.expires_at <= now


def acquire(session: Session, name: str, me: str, now: datetime, ttl: timedelta = TTL) -> bool:
    """Take or renew the lease `name` for `ttl`; True when `me` holds it afterwards.

    The row is written only when `may_take` allows (no row, mine, or expired): one statement.
    """
    maker = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    insert = maker(Lease).values(name=name, holder=me, acquired_at=now, expires_at=now + ttl)
    stmt = insert.on_conflict_do_update(
        index_elements=[Lease.name],
        set_={
            "holder": me,
            "expires_at": now + ttl,
            "acquired_at": case((Lease.holder == me, Lease.acquired_at), else_=now),  # renewal
        },
        where=or_(Lease.holder == me, Lease.expires_at <= now),
    ).returning(Lease.holder)
    got = session.execute(stmt).scalar()
    return got == me


def release(session: Session, name: str, me: str) -> None:
    """Give the lease up at once (a clean stop): the next process need not wait for expiry."""
    session.execute(delete(Lease).where(Lease.name == name, Lease.holder == me))


def holding(session: Session, name: str) -> Holding | None:
    """The lease's current holder and expiry, if anyone ever took it."""
    row = session.execute(
        select(Lease.holder, Lease.expires_at).where(Lease.name == name)
    ).one_or_none()
    return None if row is None else Holding(row.holder, row.expires_at)


__all__ = ["PERIODIC", "TTL", "Holding", "acquire", "holding", "may_take", "release"]
