"""Several `dialer run` workers on one PostgreSQL, as real processes against a sandbox process.

- Four `--role dispatcher` processes drain 10,000 due attempts (the benchmark script,
  `scripts/bench/scale.py --drain 100000`, runs the 100,000-attempt soak): every task handled,
  no attempt claimed twice, no customer dialled twice (the sandbox's own log), the fleet-wide
  CPS never exceeded in any one-second window of the sandbox's arrival times.
- `kill -9` of dispatchers at random moments, 30 times in one run, then dispatchers that die
  exactly between the SDK's return and the recording of the attempt (`DIALER_CRASH_POINT`):
  nothing lost, nobody dialled twice, the dead claims' leases reaped.

Each run has its own PostgreSQL schema. The processes run in real time, so the test waits for
them (polling the database), never for time to pass.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_rig import Fleet, busiest_second, seed_due, wait_until
from sqlalchemy import func, select

from dialer.dispatcher import CRASHED
from dialer.models import Attempt, AttemptState, CallbackTask
from dialer.store import Store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_store(pg_schema: tuple[str, str]) -> Iterator[tuple[Store, str]]:
    url, schema = pg_schema
    store = Store.open(url, schema=schema)
    sep = "&" if "?" in url else "?"
    try:
        yield store, f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        store.close()


def by_state(store: Store) -> Counter[str]:
    with store.sessions() as s:
        return Counter(
            {
                st: int(n)
                for st, n in s.execute(select(Attempt.state, func.count()).group_by(Attempt.state))
            }
        )


def check_books(store: Store, fleet: Fleet, n: int) -> list[Attempt]:
    """Every task dialled exactly once, by the books and by the sandbox: the attempts."""
    with store.sessions() as s:
        attempts = list(s.scalars(select(Attempt).order_by(Attempt.id)))
        tasks = int(s.scalar(select(func.count()).select_from(CallbackTask)) or 0)
    assert tasks == n
    dialled = [a for a in attempts if a.provider_sid is not None]
    assert len({a.task_id for a in dialled}) == n, "a task was not handled"
    assert len(dialled) == n, "a task has two calls in the books"
    assert len({a.provider_sid for a in dialled}) == n
    contacts = [c for c in fleet.sandbox_log()["contacts"] if c["kind"] == "call"]
    per_number = Counter(c["to"] for c in contacts)
    assert len(contacts) == n, f"the sandbox was asked for {len(contacts)} calls, not {n}"
    assert max(per_number.values()) == 1, "a customer was dialled twice"
    assert {c["sid"] for c in contacts} == {a.provider_sid for a in dialled}
    return attempts


def test_four_dispatchers_drain_10000_attempts_once_each_within_the_cps(
    pg_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = pg_store
    n, cps = int(os.environ.get("FLEET_N", "10000")), 100.0
    seed_due(store, tmp_path / "campaigns", n)
    fleet = Fleet(url, tmp_path, cps=cps)
    try:
        fleet.start_sandbox()
        fleet.start_web()
        workers = [fleet.start_dispatcher() for _ in range(4)]
        wait_until(
            lambda: (
                by_state(store)[AttemptState.PLACED] >= n
                or any(w.poll() is not None for w in workers)
            ),
            timeout=600,
            what=f"{n} calls placed",
            every=2.0,
        )
        assert all(w.poll() is None for w in workers), (tmp_path / "dispatchers.log").read_text()
        attempts = check_books(store, fleet, n)
        arrivals = fleet.call_arrivals()
    finally:
        fleet.close()
    claimers = Counter(a.claimed_by for a in attempts)
    assert len(claimers) == 4, claimers  # all four took their share
    assert len(arrivals) == n
    busiest = busiest_second(arrivals)
    rate = n / (max(arrivals) - min(arrivals))
    print(f"4 dispatchers: {n} calls at {rate:.1f}/s, busiest second {busiest} (CPS {cps:g})")
    assert busiest <= cps, f"{busiest} calls reached the sandbox within one second"


def test_kill_9_at_random_moments_and_at_the_crash_point_loses_nobody_and_calls_nobody_twice(
    pg_store: tuple[Store, str], tmp_path: Path
) -> None:
    store, url = pg_store
    n, kills, reserve = 600, 30, 30
    rng = random.Random(8)
    seed_due(store, tmp_path / "campaigns", n)
    fleet = Fleet(url, tmp_path, cps=30.0, lease=4.0)
    try:
        fleet.start_sandbox()
        fleet.start_web()
        workers = [fleet.start_dispatcher() for _ in range(3)]
        wait_until(lambda: by_state(store)[AttemptState.PLACED] > 0, 120, "the first call")
        for _ in range(kills):  # kill -9 one at a random moment, start another in its place
            before = by_state(store)[AttemptState.PLACED]
            wait_until(  # the fleet is dialling (not only starting up) when the kill comes
                lambda b=before: by_state(store)[AttemptState.PLACED] > b or b >= n,  # type: ignore[misc]
                timeout=60,
                what="the fleet dialling between kills",
                every=0.1,
            )
            victim = rng.randrange(len(workers))
            time.sleep(rng.uniform(0.3, 2.0))  # a random moment of the workers' real time
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            assert workers[victim].returncode == -signal.SIGKILL
            workers[victim] = fleet.start_dispatcher()
        placed_after_kills = by_state(store)[AttemptState.PLACED]
        assert placed_after_kills >= kills  # each kill came while the fleet was dialling
        for w in workers:
            fleet.stop(w)
        # The crash point: die right after the SDK returned, before anything is recorded. On a
        # quiet machine the fleet may have dialled everyone by now: fresh work for the crashes.
        seed_due(store, tmp_path / "campaigns", reserve, offset=n)
        n += reserve
        for _ in range(3):
            crasher = fleet.start_dispatcher(DIALER_CRASH_POINT="after_sdk_return")
            assert crasher.wait(timeout=120) == CRASHED
        stuck = by_state(store)[AttemptState.CLAIMED]
        assert stuck > 0  # the crashed dispatchers' claims, one of them already dialled
        finishers = [fleet.start_dispatcher() for _ in range(2)]
        wait_until(
            lambda: by_state(store)[AttemptState.PLACED] >= n,
            timeout=300,
            what="every attempt placed after the kills",
        )
        left = by_state(store)
        assert left[AttemptState.CLAIMED] == 0 and left[AttemptState.SCHEDULED] == 0, left
        check_books(store, fleet, n)
        for w in finishers:
            assert fleet.stop(w) == 0
    finally:
        fleet.close()
    with store.sessions() as s:
        adopted = int(
            s.scalar(
                select(func.count())
                .select_from(Attempt)
                .where(Attempt.error_message.like("%lease%"))
            )
            or 0
        )
    print(
        f"{kills} kill -9 + 3 crashes at the crash point: {placed_after_kills} placed by then, "
        f"{stuck} claims left by the crashes reaped; {adopted} attempts released by the reaper"
    )
