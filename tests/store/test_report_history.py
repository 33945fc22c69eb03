"""The report's complaints as they stood at a past instant (from the case steps) and its agent
performance (tasks handled, reach rate, handle time, satisfaction of the outcomes each agent
recorded), against hand-computed histories, on both engines.

Four member tasks created at NOW in the shipped after-service campaign.

Agents (the hand-computed figures below):

| task | attempt                                    | outcome (recorded by, at)            | reached |
|------|--------------------------------------------|--------------------------------------|---------|
| 0    | 王小明, created +1 h, 100 s                | satisfied (王小明, +1 h)              | +1 h    |
| 1    | 王小明, created +2 h, placed +2 h, ended +2 h 200 s (no duration) | unsatisfied (王小明, +2 h 5 min) | +2 h |
| 2    | automated, created and placed +3 h, no timing | average (Chen, +3 h 5 min, on that call) | +3 h |
| 3    | Bob, created +4 h, 60 s, no answer         | none                                 | no      |

Now: Bob 1 task, 1 attempt, 0 reached, 60 s, no answers; Chen 1 task, 0 attempts, 1 reached,
300 s (recorded - placed), one average (100% average); 王小明 2 tasks, 2 attempts, 2 reached,
(100 + 200) / 2 = 150 s, satisfied 1 unsatisfied 1 (50% / 0% / 50%).
At +90 min: only 王小明, 1 task, 1 attempt, 1 reached, 100 s, satisfied 1.

Complaints (case A on task 1 "waiting time", B on task 2 "price", C on task 0, a request):

| at      | A              | B                      | C    |
|---------|----------------|------------------------|------|
| +2 h    | open           |                        |      |
| +3 h    | judged         | open                   |      |
| +4 h    | investigating  |                        |      |
| +5 h    | resolved       |                        |      |
| +6 h    |                | rejected, closed (one instant) |  |
| +8 h    | investigating (the follow-up answer unsatisfied: reopened) | |  |
| +10 h   |                |                        | open |
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from report_seeding import CAMPAIGNS, NOW, SLUG, H
from seeding import seed
from sqlalchemy import update

from dialer import cases
from dialer.attempts import CampaignBook
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.models import Agent, Attempt, CallbackTask, CaseSource, Outcome
from dialer.report import AgentRow, build_report
from dialer.store import Store

M = timedelta(minutes=1)


def _seed_agents(store: Store, clock: SettableClock) -> None:
    clock.set(NOW)
    spec = load_campaign(CAMPAIGNS / f"{SLUG}.toml")
    tasks = seed(store, clock, spec, n=4)
    with store.transaction() as s:
        wang = Agent(username="wang", display_name="王小明", created_at=NOW)
        bob = Agent(username="bob", display_name="Bob", created_at=NOW)
        chen = Agent(username="chen", display_name="Chen", created_at=NOW)
        s.add_all([wang, bob, chen])
        s.flush()

        def attempt(i: int, agent: Agent | None, created: datetime, **kw: Any) -> Attempt:
            task = s.get(CallbackTask, tasks[i])
            assert task is not None
            a = Attempt(
                task_id=task.id,
                customer_id=task.customer_id,
                number=1,
                channel="voice",
                phone_e164=f"+88691234567{i}",
                state="completed",
                due_at=NOW,
                created_at=created,
                placed_at=kw.get("placed", created),
                ended_at=kw.get("ended"),
                duration_seconds=kw.get("secs"),
                agent_id=agent.id if agent else None,
            )
            s.add(a)
            s.flush()
            return a

        def reached(i: int, name: str, at: datetime, by: Agent, call: Attempt) -> None:
            s.execute(
                update(CallbackTask)
                .where(CallbackTask.id == tasks[i])
                .values(state="reached", reached_at=at, outcome=name)
            )
            s.add(
                Outcome(
                    task_id=tasks[i],
                    attempt_id=call.id,
                    name=name,
                    channel="voice",
                    agent_id=by.id,
                    recorded_at=at,
                )
            )

        reached(0, "satisfied", NOW + H, wang, attempt(0, wang, NOW + H, secs=100))
        call = attempt(1, wang, NOW + 2 * H, ended=NOW + 2 * H + 200 * timedelta(seconds=1))
        reached(1, "unsatisfied", NOW + 2 * H + 5 * M, wang, call)
        s.execute(
            update(CallbackTask).where(CallbackTask.id == tasks[1]).values(reached_at=NOW + 2 * H)
        )
        reached(2, "average", NOW + 3 * H + 5 * M, chen, attempt(2, None, NOW + 3 * H))
        s.execute(
            update(CallbackTask).where(CallbackTask.id == tasks[2]).values(reached_at=NOW + 3 * H)
        )
        attempt(3, bob, NOW + 4 * H, secs=60)
    clock.set(NOW + 24 * H)


def test_agent_performance_from_their_own_attempts_and_outcomes(
    store: Store, clock: SettableClock
) -> None:
    _seed_agents(store, clock)
    with store.sessions() as s:
        r = build_report(s, CampaignBook(), clock.now(), SLUG)
    assert r.agents == [
        AgentRow("Bob", 1, 1, 0, 60.0, 0, 0, 0),
        AgentRow("Chen", 1, 0, 1, 300.0, 0, 1, 0),
        AgentRow("王小明", 2, 2, 2, 150.0, 1, 0, 1),
    ]
    bob, chen, wang = r.agents
    assert bob.reach_rate == 0.0 and bob.satisfaction is None
    assert chen.reach_rate == 1.0 and chen.average_share == 1.0 and chen.satisfaction == 0.0
    assert wang.satisfaction == 0.5 and wang.average_share == 0.0
    assert wang.unsatisfied_share == 0.5
    rows = {(m, k): v for sec, m, k, v in r.rows() if sec == "agents"}
    assert rows[("unsatisfied_share", "王小明")] == 0.5 and rows[("tasks", "Chen")] == 1
    with store.sessions() as s:
        past = build_report(s, CampaignBook(), clock.now(), SLUG, at=NOW + 90 * M)
    assert past.agents == [AgentRow("王小明", 1, 1, 1, 100.0, 1, 0, 0)]


def _seed_cases(store: Store, clock: SettableClock) -> None:
    clock.set(NOW)
    spec = load_campaign(CAMPAIGNS / f"{SLUG}.toml")
    tasks = seed(store, clock, spec, n=3)
    with store.transaction() as s:

        def task(i: int) -> CallbackTask:
            got = s.get(CallbackTask, tasks[i])
            assert got is not None
            return got

        def answer(i: int, name: str, at: datetime) -> Outcome:
            o = Outcome(task_id=tasks[i], name=name, channel="voice", recorded_at=at)
            s.add(o)
            s.flush()
            return o

        a = cases.open_case(s, task(1), answer(1, "unsatisfied", NOW + 2 * H), NOW + 2 * H,
                            reason="waiting time")  # fmt: skip
        b = cases.open_case(s, task(2), answer(2, "average", NOW + 3 * H), NOW + 3 * H,
                            reason="price")  # fmt: skip
        cases.judge(s, a.id, True, "the wait was too long", "lead", NOW + 3 * H)
        cases.investigate(s, a.id, "workshop", "lead", NOW + 4 * H)
        follow_up = cases.resolve(s, a.id, "faster booking", "lead", NOW + 5 * H, spec=spec)
        cases.reject(s, b.id, "the price was quoted before", "lead", NOW + 6 * H)
        cases.on_follow_up_answer(s, follow_up, "unsatisfied", NOW + 8 * H)
        cases.open_case(s, task(0), None, NOW + 10 * H, reason="waiting time",
                        source=CaseSource.REQUEST)  # fmt: skip
    clock.set(NOW + 24 * H)


@pytest.mark.parametrize(
    ("hours", "total", "by_state", "by_reason", "rejected", "reopened"),
    [
        (1, 0, {}, {}, 0, 0),
        (2, 1, {"open": 1}, {"waiting time": 1}, 0, 0),
        (3.5, 2, {"judged": 1, "open": 1}, {"waiting time": 1, "price": 1}, 0, 0),
        (6, 2, {"resolved": 1, "closed": 1}, {"waiting time": 1, "price": 1}, 1, 0),
        (9, 2, {"investigating": 1, "closed": 1}, {"waiting time": 1, "price": 1}, 1, 1),
        (
            12,
            3,
            {"investigating": 1, "closed": 1, "open": 1},
            {"waiting time": 2, "price": 1},
            1,
            1,
        ),
    ],
)
def test_complaints_as_they_stood_at_a_past_instant(
    store: Store,
    clock: SettableClock,
    hours: float,
    total: int,
    by_state: dict[str, int],
    by_reason: dict[str, int],
    rejected: int,
    reopened: int,
) -> None:
    _seed_cases(store, clock)
    with store.sessions() as s:
        r = build_report(s, CampaignBook(), clock.now(), SLUG, at=NOW + hours * H)
    assert r.history
    c = r.complaints
    assert (c.total, c.rejected, c.reopened) == (total, rejected, reopened)
    assert c.by_state == Counter(by_state) and c.by_reason == Counter(by_reason)
    assert sum(c.by_source.values()) == total
    rows = {(m, k): v for sec, m, k, v in r.rows() if sec == "complaints"}
    assert rows[("total", "")] == total


def test_complaints_now_are_the_stored_states(store: Store, clock: SettableClock) -> None:
    _seed_cases(store, clock)
    with store.sessions() as s:
        r = build_report(s, CampaignBook(), clock.now(), SLUG)
    assert not r.history
    assert r.complaints.by_state == Counter({"investigating": 1, "closed": 1, "open": 1})
    assert r.complaints.by_source == Counter({"answer": 2, "request": 1})
