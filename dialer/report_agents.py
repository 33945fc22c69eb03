"""Agent performance (員工績效) for the summary report, at an instant `at`.

Per agent, from what the agent did themselves (an automated call or SMS of a task assigned to
them is not theirs):

- **tasks handled**: distinct tasks with one of their attempts (not cancelled, created by `at`)
  or an outcome they recorded (`Outcome.agent_id`, recorded by `at`);
- **attempts**: their attempts (not cancelled, created by `at`);
- **reached**: tasks handled that were reached by `at`; **reach rate** = reached ÷ handled;
- **handle time**: the mean over their calls of the call's length: the attempt's
  `duration_seconds`, else `ended_at - placed_at`; for an outcome they recorded on a call that
  gives neither (or on somebody else's attempt), `recorded_at - placed_at` of that call (the
  conversation and the wrap-up). Calls with no timing at all are not in the mean;
- **satisfaction**: the satisfied / average / unsatisfied answers among the outcomes *they
  recorded* by `at`, and each one's share of the three.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from dialer.models import Agent, Attempt, AttemptState, CallbackTask, Outcome, OutcomeName


@dataclass(frozen=True, slots=True)
class AgentRow:
    name: str
    tasks: int
    attempts: int
    reached: int
    handle_seconds: float | None  # mean call length of their calls that have a timing
    satisfied: int
    average: int
    unsatisfied: int

    @property
    def rated(self) -> int:
        return self.satisfied + self.average + self.unsatisfied

    @property
    def reach_rate(self) -> float | None:
        return self.reached / self.tasks if self.tasks else None

    @property
    def satisfaction(self) -> float | None:
        """Satisfied ÷ (satisfied + average + unsatisfied) of the outcomes they recorded."""
        return self.satisfied / self.rated if self.rated else None

    @property
    def average_share(self) -> float | None:
        return self.average / self.rated if self.rated else None

    @property
    def unsatisfied_share(self) -> float | None:
        return self.unsatisfied / self.rated if self.rated else None


@dataclass
class _Tally:
    tasks: set[int] = field(default_factory=set)
    reached: set[int] = field(default_factory=set)
    attempts: int = 0
    timed: dict[int, float] = field(default_factory=dict)  # attempt id -> seconds
    answers: dict[str, int] = field(default_factory=dict)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def agent_rows(session: Session, campaign_id: int, at: datetime) -> list[AgentRow]:
    """One row per agent who attempted or recorded something in the campaign by `at`."""
    t = CallbackTask
    tally: dict[int, _Tally] = defaultdict(_Tally)
    for agent_id, task_id, attempt_id, duration, placed, ended, reached_at in session.execute(
        select(
            Attempt.agent_id,
            Attempt.task_id,
            Attempt.id,
            Attempt.duration_seconds,
            Attempt.placed_at,
            Attempt.ended_at,
            t.reached_at,
        )
        .join(t, t.id == Attempt.task_id)
        .where(
            t.campaign_id == campaign_id,
            Attempt.agent_id.is_not(None),
            Attempt.created_at <= at,
            Attempt.state != AttemptState.CANCELLED,
        )
    ):
        assert agent_id is not None  # the query's filter
        mine = tally[agent_id]
        mine.tasks.add(task_id)
        mine.attempts += 1
        if reached_at is not None and reached_at <= at:
            mine.reached.add(task_id)
        secs = float(duration) if duration is not None else _seconds(placed, ended)
        if secs is not None:
            mine.timed[attempt_id] = secs
    call = aliased(Attempt)
    for agent_id, task_id, name, on_call, recorded, placed, reached_at in session.execute(
        select(
            Outcome.agent_id,
            Outcome.task_id,
            Outcome.name,
            Outcome.attempt_id,
            Outcome.recorded_at,
            call.placed_at,
            t.reached_at,
        )
        .join(t, t.id == Outcome.task_id)
        .outerjoin(call, call.id == Outcome.attempt_id)
        .where(
            t.campaign_id == campaign_id,
            Outcome.agent_id.is_not(None),
            Outcome.recorded_at <= at,
        )
    ):
        assert agent_id is not None
        mine = tally[agent_id]
        mine.tasks.add(task_id)
        if reached_at is not None and reached_at <= at:
            mine.reached.add(task_id)
        if name in (OutcomeName.SATISFIED, OutcomeName.AVERAGE, OutcomeName.UNSATISFIED):
            mine.answers[name] = mine.answers.get(name, 0) + 1
        if on_call is not None and on_call not in mine.timed:
            secs = _seconds(placed, recorded)
            if secs is not None:
                mine.timed[on_call] = secs
    if not tally:
        return []
    names: dict[int, str] = {
        aid: name
        for aid, name in session.execute(
            select(Agent.id, Agent.display_name).where(Agent.id.in_(list(tally)))
        )
    }
    rows = [
        (
            names.get(agent_id, f"agent {agent_id}"),
            agent_id,
            AgentRow(
                name=names.get(agent_id, f"agent {agent_id}"),
                tasks=len(mine.tasks),
                attempts=mine.attempts,
                reached=len(mine.reached),
                handle_seconds=(sum(mine.timed.values()) / len(mine.timed) if mine.timed else None),
                satisfied=mine.answers.get(OutcomeName.SATISFIED, 0),
                average=mine.answers.get(OutcomeName.AVERAGE, 0),
                unsatisfied=mine.answers.get(OutcomeName.UNSATISFIED, 0),
            ),
        )
        for agent_id, mine in tally.items()
    ]
    rows.sort(key=lambda r: (r[0], r[1]))
    return [row for _, _, row in rows]


__all__ = ["AgentRow", "agent_rows"]
