"""The claim's still-scheduled recheck on PostgreSQL, with a second writer interleaved: an
attempt another transaction cancels is never claimed, whether that writer still holds its
change (skipped, SKIP LOCKED), has committed it (not claimable any more), rolled it back (claimed
after all), or commits it while claims run (the lock step and the update re-check the state
on the row's latest version: each attempt ends claimed or cancelled, never both)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from seeding import seed
from sqlalchemy import select, update

from dialer import attempts as books
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.models import Attempt, AttemptState
from dialer.store import Store

SPEC = load_campaign(Path(__file__).parents[2] / "campaigns" / "after-service-satisfaction.toml")
LEASE = timedelta(minutes=2)
pytestmark = pytest.mark.postgres


def _scheduled(store: Store, clock: SettableClock, n: int) -> list[int]:
    seed(store, clock, SPEC, n=n)
    with store.transaction() as s:
        book = books.CampaignBook()
        book.refresh(s)
        books.schedule_due(s, book, clock.now(), {"TW": "+886200000001"})
        return sorted(s.scalars(select(Attempt.id)))


def _cancel(session: object, attempt_id: int) -> bool:
    """The other writer: the operator (or a do-not-contact entry) cancels a scheduled attempt."""
    moved = session.execute(  # type: ignore[attr-defined]
        update(Attempt)
        .where(Attempt.id == attempt_id, Attempt.state == AttemptState.SCHEDULED)
        .values(state=AttemptState.CANCELLED)
    ).rowcount
    return bool(moved)


@pytest.fixture
def pg(pg_schema: tuple[str, str]) -> Store:
    url, schema = pg_schema
    return Store.open(url, schema=schema)


def test_a_cancel_held_committed_or_rolled_back_while_claims_run(
    pg: Store, clock: SettableClock
) -> None:
    try:
        first, second, third = _scheduled(pg, clock, 3)
        with pg.transaction() as other:  # writer B cancels `first`, not committed yet
            assert _cancel(other, first)
            with pg.transaction() as a:
                claimed = books.claim(a, "A", clock.now(), LEASE, 10)
            assert sorted(claimed) == [second, third]  # the held row is skipped, not waited for
        with pg.transaction() as a:  # B committed: cancelled, never claimed
            assert books.claim(a, "A", clock.now(), LEASE, 10) == []
        with pg.transaction() as s:
            s.execute(update(Attempt).where(Attempt.id == first)
                      .values(state=AttemptState.SCHEDULED))  # fmt: skip
        other_session = pg.sessions()
        other_session.begin()
        assert _cancel(other_session, first)
        with pg.transaction() as a:
            assert books.claim(a, "A", clock.now(), LEASE, 10) == []
        other_session.rollback()  # B changed its mind: the attempt is claimable again
        other_session.close()
        with pg.transaction() as a:
            assert books.claim(a, "A", clock.now(), LEASE, 10) == [first]
    finally:
        pg.close()


def test_claims_and_cancels_racing_never_both_take_an_attempt(
    pg: Store, clock: SettableClock
) -> None:
    try:
        ids = _scheduled(pg, clock, 150)
        claimed: list[int] = []
        cancelled: list[int] = []
        start = threading.Barrier(2)

        def claimer() -> None:
            start.wait()
            while True:
                with pg.transaction() as s:
                    got = books.claim(s, "A", clock.now(), LEASE, 3)
                if not got and len(claimed) + len(cancelled) >= len(ids):
                    return
                claimed.extend(got)

        def canceller() -> None:
            start.wait()
            for aid in ids:  # in due order: the rows the claims are reaching for
                with pg.transaction() as s:
                    if _cancel(s, aid):
                        cancelled.append(aid)

        threads = [threading.Thread(target=claimer), threading.Thread(target=canceller)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not set(claimed) & set(cancelled)
        assert sorted(claimed + cancelled) == ids  # each exactly once
        assert claimed and cancelled  # the two really raced
        with pg.sessions() as s:
            states = {i: st for i, st in s.execute(select(Attempt.id, Attempt.state))}
        assert all(states[i] == AttemptState.CLAIMED for i in claimed)
        assert all(states[i] == AttemptState.CANCELLED for i in cancelled)
    finally:
        pg.close()


def test_a_cancel_committed_while_the_claim_statement_runs_is_rechecked(
    pg: Store, clock: SettableClock
) -> None:
    """Deterministic: the claim is held inside its statement (a trigger waits on an advisory
    lock when the first row is updated: the claim's due rows are locked one at a time, as the
    update takes them), the other writer cancels the second row and commits, then the claim
    goes on: it reaches a row whose latest version is cancelled, and must leave it (the
    statement's snapshot still shows it scheduled: only the recheck on the latest version can)."""
    try:
        first, second, third = _scheduled(pg, clock, 3)
        with pg.transaction() as s:
            s.connection().exec_driver_sql(
                "CREATE FUNCTION hold_claim() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.state = 'claimed' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF;"
                " RETURN NEW; END $$"
            )
            s.connection().exec_driver_sql(
                "CREATE TRIGGER hold_claim BEFORE UPDATE ON attempts FOR EACH ROW "
                "EXECUTE FUNCTION hold_claim()"
            )
        gate = pg.engine.connect()  # holds the advisory lock the claim will wait for
        gate.exec_driver_sql("SELECT pg_advisory_lock(4242)")
        got: list[int] = []

        def claim() -> None:
            with pg.transaction() as a:
                got.extend(books.claim(a, "A", clock.now(), LEASE, 2))

        claimer = threading.Thread(target=claim, daemon=True)
        claimer.start()
        try:
            with pg.engine.connect() as watch:  # until the claim waits in the trigger
                for _ in range(1000):
                    waiting = watch.exec_driver_sql(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    ).scalar()
                    if waiting:
                        break
                    threading.Event().wait(0.01)
                assert waiting, "the claim never reached the trigger"
            with pg.transaction() as other:
                other.connection().exec_driver_sql("SET LOCAL lock_timeout = '5s'")  # no hang
                assert _cancel(other, second)
        finally:
            gate.exec_driver_sql("SELECT pg_advisory_unlock(4242)")
            gate.close()
        claimer.join(timeout=30)
        assert got == [first, third]  # the cancelled one left, the next one taken instead
        with pg.sessions() as s:
            assert s.get(Attempt, second).state == AttemptState.CANCELLED  # type: ignore[union-attr]
    finally:
        pg.close()
