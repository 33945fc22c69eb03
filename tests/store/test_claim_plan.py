"""The claim's plan on PostgreSQL when the statistics are stale or missing.

The morning case: the last ANALYZE saw yesterday's attempts ended but for a few (autovacuum analyses a
large table again only after a tenth of it changed), then `schedule_due` adds today's; or a
table nobody has analysed yet (this machine runs PostgreSQL with autovacuum off). With those
statistics the planner costs every index that can filter on `state = 'scheduled'` as nearly
empty. In the 100,000-call soak (scripts/bench/scale.py part 4) the claim's lock step, which
said `state = 'scheduled'`, scanned the claimable partial index with `id = ANY(window)` as a
non-leading key (300 ms per claim of a few rows; the primary-key lookup takes 2 ms), and the
window read every scheduled attempt through `ix_attempts_due` and sorted them (45 ms at 90,000
pending). Now the window's condition is the claimable index's own opaque predicate
(`attempts.claimable`, migration 0011) and the lock step's is `still(...)`: on stale
statistics the window walks the partial index in claim order, and on any statistics the
window's attempts are found through the primary key. (With none at all the planner may still
read every scheduled attempt for the window, until the first ANALYZE.)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from seeding import seed
from sqlalchemy import event, text

from dialer import attempts as books
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
ENDED, WAITING, TODAY = 12_000, 10, 30_000


def _claim_plan(store: Store, clock: SettableClock, limit: int) -> list[str]:
    """EXPLAIN ANALYZE of the exact statement `books.claim` sends (rolled back)."""
    captured: list[tuple[str, object]] = []

    def grab(conn: object, cursor: object, statement: str, params: object, *_: object) -> None:
        if statement.lstrip().upper().startswith("WITH CLAIM_WINDOW"):
            captured.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", grab)
    try:
        with store.sessions() as s, s.begin():
            point = s.begin_nested()  # the statement's text; its claim undone before the plan's
            claimed = books.claim(s, "plan", clock.now(), timedelta(minutes=2), limit)
            assert len(claimed) == limit
            point.rollback()
            statement, params = captured[0]
            raw = s.connection().connection.driver_connection
            assert raw is not None
            rows = raw.execute(  # type: ignore[attr-defined]
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + statement, params
            ).fetchall()
            s.rollback()
    finally:
        event.remove(store.engine, "before_cursor_execute", grab)
    return [r[0] for r in rows]


@pytest.mark.postgres
@pytest.mark.parametrize("statistics", ["stale", "none"])
def test_the_claim_locks_its_window_by_primary_key_on_any_statistics(
    pg_schema: tuple[str, str], clock: SettableClock, statistics: str
) -> None:
    url, schema = pg_schema
    store = Store.open(url, schema=schema)
    try:
        spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
        [task_id] = seed(store, clock, spec, n=1)
        insert = (
            "INSERT INTO attempts (task_id, customer_id, number, channel, phone_e164, from_e164, "
            "state, due_at, created_at) SELECT t.id, t.customer_id, g, 'voice', '+886900000000', "
            "'+886200000001', :state, CAST(:due AS timestamptz), CAST(:due AS timestamptz) "
            "FROM callback_tasks t, generate_series(CAST(:a AS integer), CAST(:b AS integer)) g "
            "WHERE t.id = :task"
        )
        due = clock.now() - timedelta(minutes=1)
        ended = ENDED if statistics == "stale" else 0
        if ended:  # yesterday: ended but for a few still waiting, then the nightly ANALYZE
            with store.transaction() as s:
                s.execute(text(insert), {"state": "completed", "due": due, "a": 1,
                                         "b": ended - WAITING, "task": task_id})  # fmt: skip
                s.execute(text(insert), {"state": "scheduled", "due": due,
                                         "a": ended - WAITING + 1, "b": ended,
                                         "task": task_id})  # fmt: skip
            with store.transaction() as s:
                s.execute(text("ANALYZE attempts"))
        with store.transaction() as s:  # this morning's attempts, not analysed yet
            s.execute(text(insert), {"state": "scheduled", "due": due, "a": ended + 1,
                                     "b": ended + TODAY, "task": task_id})  # fmt: skip

        plan = _claim_plan(store, clock, 1)  # one: the attempts share a task
        shown = "\n".join(plan)

        if statistics == "stale":  # the window walks the claimable index in claim order
            window = next(i for i, line in enumerate(plan) if "CTE claim_window" in line)
            assert "Limit" in plan[window + 1], shown  # not a sort of every scheduled attempt
            assert "Scan using ix_attempts_claimable" in plan[window + 2], shown
        by_window = [i for i, line in enumerate(plan) if "Index Cond: (id = ANY" in line]
        assert by_window, shown
        for i in by_window:  # the node that takes the window's ids is the primary key's
            assert "pk_attempts" in plan[i - 1], shown
    finally:
        store.close()
