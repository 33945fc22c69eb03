"""`dialer run`'s assign job on SQLite and PostgreSQL, ticked by hand on the test clock: the lease
holder gives tasks that need a person to agents (as `dialer agents rebalance`), a process that
does not hold the lease does nothing, out-of-hours tasks stay unassigned with the reason.

Hand-worked facts (as in test_assign_hours): now is Monday 2026-11-23 02:00 UTC, 10:00 in Taipei,
Sunday 21:00 in New York. The campaign is handled by agents and calls 09:00-17:00 Monday to
Friday; deadlines are three days ahead. A Taipei agent works 09:00-18:00 Taipei = 01:00-10:00
UTC, a New York customer is open 14:00-21:56:30 UTC: no Taipei shift ever meets it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from runner_jobs import planner_factory, run_job
from seeding import Shift, agents_definition, seed_agent, seed_campaign, seed_open_tasks
from sqlalchemy import select, update

from dialer.assign import _write
from dialer.clock import SettableClock
from dialer.election import TTL
from dialer.models import Attempt, AttemptState, AuditEntry, CallbackTask
from dialer.runner import Runner
from dialer.store import Store

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
US_OUT_OF_HOURS = (
    "out of hours: no active agent speaking en with the skill after_service works while the "
    "customer can be called before the deadline"
)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(NOW)


@pytest.fixture
def planners(store: Store, clock: SettableClock, tmp_path: Path) -> Iterator[Callable[[], Runner]]:
    """Planners over an empty campaigns folder: only the jobs, no campaign of their own to plan
    (the test writes its campaign to the database)."""
    (tmp_path / "campaigns").mkdir()
    with planner_factory(store, clock, tmp_path / "campaigns") as make:
        yield make


def campaign(store: Store) -> int:
    return seed_campaign(store, NOW, agents_definition("09:00-17:00"))


def tasks(
    store: Store, cid: int, names: list[str], *, us: bool = False, agent_id: int | None = None,
    appointment: datetime | None = None,
) -> list[int]:  # fmt: skip
    """One open task per name, deadlines three days ahead one second apart (urgency order)."""
    zone, region, language = (
        ("America/New_York", "US", "en") if us else ("Asia/Taipei", "TW", "zh-TW")
    )
    return seed_open_tasks(store, NOW, cid, names, language=language, region=region, zone=zone,
                           agent_id=agent_id, appointment=appointment)  # fmt: skip


def agent(store: Store, name: str, *, capacity: int = 60, active: bool = True) -> int:
    return seed_agent(store, NOW, name, languages=("zh-TW", "en"), capacity=capacity,
                      shift=Shift("Asia/Taipei"), active=active)  # fmt: skip


def owners(store: Store, ids: list[int]) -> Counter[int | None]:
    with store.sessions() as s:
        return Counter(s.scalars(select(CallbackTask.agent_id).where(CallbackTask.id.in_(ids))))


def runner_audits(store: Store) -> list[dict[str, Any]]:
    with store.sessions() as s:
        return [
            dict(e.detail or {})
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.actor == "runner", AuditEntry.action == "tasks_rebalance")
                .order_by(AuditEntry.id)
            )
        ]


def test_the_lease_holder_assigns_and_out_of_hours_tasks_stay_unassigned(
    planners: Callable[[], Runner], store: Store, clock: SettableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    first, second = planners(), planners()
    assert first.leading and not second.leading
    assert first.scheduler.get_job("assign") is not None
    cid = campaign(store)
    taiwanese = tasks(store, cid, ["t1", "t2", "t3"])
    american = tasks(store, cid, ["u1", "u2"], us=True)
    tpe = agent(store, "tpe")

    run_job(second, "assign")  # not the lease holder: nothing happens
    assert owners(store, taiwanese + american) == {None: 5}
    assert second.stats.assigned == 0 and runner_audits(store) == []

    with caplog.at_level(logging.INFO, logger="dialer.runner"):
        run_job(first, "assign")
    assert owners(store, taiwanese) == {tpe: 3}
    assert owners(store, american) == {None: 2}  # no Taipei shift meets New York's window
    assert first.stats.assigned == 3
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("assign:")]
    assert lines == ["assign: 3 assigned, 0 moved, 0 kept, 2 unassigned (2 out of hours)"]
    [entry] = runner_audits(store)
    assert (entry["assigned"], entry["moved"], entry["unassigned"], entry["out_of_hours"]) == (
        3, 0, 2, 2,
    )  # fmt: skip
    assert entry["reasons"] == {US_OUT_OF_HOURS: 2} and entry["per_agent"] == {"tpe": 3}

    got = first.assign_tick()  # again: nothing changes hands, so no new audit entry
    assert got is not None
    assert (got.assigned, got.moved, got.kept, got.unassigned) == (0, 0, 3, 2)
    assert got.reasons == {US_OUT_OF_HOURS: 2} and got.out_of_hours_tasks == american
    assert len(runner_audits(store)) == 1


def slack(store: Store, ids: list[int]) -> dict[int, int | None]:
    with store.sessions() as s:
        rows = s.execute(select(CallbackTask.id, CallbackTask.slack_seconds)
                         .where(CallbackTask.id.in_(ids)))  # fmt: skip
        return {tid: seconds for tid, seconds in rows}


# Slack of t1 (deadline Thursday 10:00 Taipei) from Monday 10:00, in open window seconds: a call
# starts by 16:56:30 (ring 30 s + handle 3 m before 17:00), so Monday 10:00-16:56:30 (6 h 56 m
# 30 s), Tuesday and Wednesday 09:00-16:56:30 (7 h 56 m 30 s each), Thursday 09:00-10:00 (1 h):
# 23 h 49 m 30 s. t2 and t3 have one and two seconds more (their deadlines).
T1_SLACK = 23 * 3600 + 49 * 60 + 30


def test_a_new_leader_assigns_at_start_up_not_five_minutes_later(
    planners: Callable[[], Runner], store: Store, clock: SettableClock
) -> None:
    """Tasks and an agent wait in the database; a fleet starts: the process that leads gives
    them out (and refreshes the slack) during its start, before any job has run and with no
    time passed; the process that does not lead does nothing."""
    cid = campaign(store)
    taiwanese = tasks(store, cid, ["t1", "t2", "t3"])
    tpe = agent(store, "tpe")
    assert slack(store, taiwanese) == dict.fromkeys(taiwanese)

    first = planners()
    assert first.leading and clock.now() == NOW
    assert owners(store, taiwanese) == {tpe: 3}
    assert first.stats.assigned == 3
    assert slack(store, taiwanese) == {t: T1_SLACK + i for i, t in enumerate(taiwanese)}
    [entry] = runner_audits(store)
    assert entry["assigned"] == 3 and entry["per_agent"] == {"tpe": 3}

    second = planners()
    assert not second.leading and second.stats.assigned == 0
    assert len(runner_audits(store)) == 1


def test_a_process_that_takes_the_lease_over_runs_the_jobs_at_once(
    planners: Callable[[], Runner], store: Store, clock: SettableClock
) -> None:
    """The leader dies with tasks unassigned; the process taking over brings its interval jobs
    forward to now (the injected clock's), rather than waiting up to 5 minutes: its assign job
    then gives them out."""
    first, second = planners(), planners()
    assert first.leading and not second.leading
    cid = campaign(store)
    taiwanese = tasks(store, cid, ["t1", "t2", "t3"])
    tpe = agent(store, "tpe")
    run_job(second, "lead")
    assert not second.leading
    jobs = ("triggers", "plan", "forgotten-calls", "escalate", "assign", "slack")
    # Not started, the scheduler has not timed its jobs yet: none is brought forward.
    assert [getattr(second.scheduler.get_job(j), "next_run_time", None) for j in jobs] == [
        None
    ] * len(jobs)

    clock.advance(TTL)  # the first stopped renewing: killed
    run_job(second, "lead")
    assert second.leading
    assert [second.scheduler.get_job(j).next_run_time for j in jobs] == [NOW + TTL] * len(jobs)
    assert owners(store, taiwanese) == {None: 3}  # the heartbeat only moves the jobs
    run_job(second, "assign")
    assert owners(store, taiwanese) == {tpe: 3}
    assert second.stats.assigned == 3 and first.stats.assigned == 0
    run_job(second, "slack")
    assert slack(store, taiwanese) == {
        t: T1_SLACK - 30 + i for i, t in enumerate(taiwanese)
    }  # 30 s of Monday's window went by


def test_the_job_rebalances_but_keeps_appointments_and_calls_in_progress(
    planners: Callable[[], Runner], store: Store, clock: SettableClock
) -> None:
    """The job caps an agent at 3 days of work, as `dialer agents assign` does: lee (1 task a
    day, skill 1) may hold 3 x 1 = 3 tasks; holding 4 they shed 1, the least urgent that is not
    an appointment: the appointment has the latest deadline but stays, so `p3` goes. `away` is
    inactive: `w` moves, `c` (a call going on) stays until it ends. mei (60 a day) has room for
    both; lee, at 3 days, for neither."""
    runner = planners()
    cid = campaign(store)
    lee = agent(store, "lee", capacity=1)
    away = agent(store, "away", active=False)
    mei = agent(store, "mei")
    p1, p2, p3 = tasks(store, cid, ["p1", "p2", "p3"], agent_id=lee)
    [appt] = tasks(store, cid, ["appt"], agent_id=lee, appointment=NOW + timedelta(hours=1))
    with store.transaction() as s:  # the appointment is the least urgent of lee's four
        s.execute(update(CallbackTask).where(CallbackTask.id == appt)
                  .values(deadline=NOW + timedelta(days=3, minutes=5)))  # fmt: skip
    w, c = tasks(store, cid, ["w", "c"], agent_id=away)
    with store.transaction() as s:
        s.add(Attempt(task_id=c, number=1, channel="agent", state=AttemptState.PLACED,
                      due_at=NOW, placed_at=NOW, agent_id=away, created_at=NOW))  # fmt: skip

    result = runner.assign_tick()
    assert result is not None
    assert (result.assigned, result.moved, result.unassigned) == (0, 2, 0)
    assert owners(store, [p1, p2, appt]) == {lee: 3}
    assert owners(store, [p3, w]) == {mei: 2}
    assert owners(store, [c]) == {away: 1}
    assert runner.stats.assigned == 2
    [entry] = runner_audits(store)
    assert entry["moved"] == 2 and entry["per_agent"] == {"mei": 2}

    with store.transaction() as s:  # the call ended: the task moves on the next run
        s.execute(update(Attempt).where(Attempt.task_id == c).values(state="completed"))
    clock.advance(timedelta(minutes=5))
    again = runner.assign_tick()
    assert again is not None and again.moved == 1
    assert owners(store, [c]) == {mei: 1}


def test_a_call_started_after_the_job_read_its_tasks_keeps_the_task(
    store: Store, clock: SettableClock
) -> None:
    """The write itself checks for a call going on (the agent may start one while the job
    reads): of two moves written, the one whose task is in a call is left alone."""
    cid = campaign(store)
    lee, mei = agent(store, "lee"), agent(store, "mei")
    calling, idle = tasks(store, cid, ["calling", "idle"], agent_id=lee)
    with store.transaction() as s:
        s.add(Attempt(task_id=calling, number=1, channel="agent", state=AttemptState.PLACED,
                      due_at=NOW, placed_at=NOW, agent_id=lee, created_at=NOW))  # fmt: skip
    with store.transaction() as s:
        _write(s, NOW, {calling: mei, idle: mei})
    assert owners(store, [calling]) == {lee: 1}
    assert owners(store, [idle]) == {mei: 1}
