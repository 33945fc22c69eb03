"""What a supervisor sees and does in the console: every agent's load against capacity,
reassigning tasks, open complaints, cases; each one refused (as "not found") to a plain agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dialer import audit
from dialer.agent_work import OPEN_STATES, Actor, visible_task
from dialer.agents import profile_of
from dialer.clock import Clock
from dialer.errors import NotFoundError, UsageError
from dialer.gate import APPOINTMENT_KEPT
from dialer.models import Agent, CallbackTask, CaseState, Customer, FollowUpCase, Outcome

CLOSED_CASES = (CaseState.CLOSED, CaseState.REJECTED)


def require_supervisor(actor: Actor, what: str) -> None:
    if not actor.supervisor:
        raise NotFoundError(f"there is no {what}")


@dataclass(frozen=True, slots=True)
class AgentLoad:
    username: str
    name: str
    role: str
    active: bool
    capacity: int
    open_tasks: int
    members: int
    done_today: int  # outcomes the agent recorded since midnight in the agent's own zone
    overdue: int = 0  # open tasks past their deadline: breached until reached (then late)
    missed_appointments: int = 0  # agreed times passed without the call: the customer waits

    @property
    def load(self) -> float:
        """Open tasks as a share of a day's capacity (1.0: a full day's work waiting)."""
        return self.open_tasks / self.capacity if self.capacity else 0.0


def loads(session: Session, actor: Actor, now: datetime) -> list[AgentLoad]:
    require_supervisor(actor, "such page")
    missed_before = now - APPOINTMENT_KEPT  # as the agent's queue marks them (agent_queue)
    open_counts = {
        aid: (int(n), int(m or 0), int(late or 0), int(missed or 0))
        for aid, n, m, late, missed in session.execute(
            select(
                CallbackTask.agent_id,
                func.count(),
                func.sum(case((CallbackTask.member.is_(True), 1), else_=0)),
                func.sum(case((CallbackTask.deadline <= now, 1), else_=0)),
                func.sum(case((CallbackTask.appointment_at < missed_before, 1), else_=0)),
            )
            .where(CallbackTask.state.in_(OPEN_STATES), CallbackTask.agent_id.is_not(None))
            .group_by(CallbackTask.agent_id)
        )
    }
    out: list[AgentLoad] = []
    for agent in session.scalars(select(Agent).order_by(Agent.username)):
        zone = ZoneInfo(profile_of(agent).time_zone)
        midnight = datetime.combine(now.astimezone(zone).date(), time(0), zone)
        done = session.scalar(
            select(func.count()).where(
                Outcome.agent_id == agent.id, Outcome.recorded_at >= midnight
            )
        )
        n, m, late, missed = open_counts.get(agent.id, (0, 0, 0, 0))
        out.append(
            AgentLoad(
                agent.username,
                agent.display_name,
                agent.role,
                agent.active,
                agent.daily_capacity,
                n,
                m,
                int(done or 0),
                late,
                missed,
            )
        )
    return out


def reassign(session: Session, clock: Clock, actor: Actor, task_id: int, username: str) -> Agent:
    """Give an open task to another active agent; audited."""
    require_supervisor(actor, f"task {task_id}")
    task = visible_task(session, actor, task_id)
    if task.state not in OPEN_STATES:
        raise UsageError(f"task {task_id} is finished; only open tasks are reassigned")
    agent = session.scalars(select(Agent).where(Agent.username == username.strip())).first()
    if agent is None:
        raise NotFoundError(f"there is no agent {username!r}")
    if not agent.active:
        raise UsageError(f"agent {username!r} is not active")
    before = task.agent_id
    task.agent_id = agent.id
    task.updated_at = clock.now()
    audit.record(session, clock, actor.username, "task_reassign", "task", task.id,
                 from_agent=before, to_agent=agent.id)  # fmt: skip
    return agent


@dataclass(frozen=True, slots=True)
class OpenCase:
    id: int
    state: str
    reason: str | None
    customer: str
    task_id: int
    owner: str | None
    opened_at: datetime
    age: timedelta


def open_complaints(
    session: Session, actor: Actor, now: datetime, limit: int = 200
) -> list[OpenCase]:
    require_supervisor(actor, "such page")
    owner = Agent.__table__.alias("owner")
    rows = session.execute(
        select(FollowUpCase, Customer.name, owner.c.username)
        .join(Customer, Customer.id == FollowUpCase.customer_id)
        .outerjoin(owner, owner.c.id == FollowUpCase.owner_agent_id)
        .where(FollowUpCase.state.not_in(CLOSED_CASES))
        .order_by(FollowUpCase.opened_at)
        .limit(limit)
    ).all()
    return [
        OpenCase(c.id, c.state, c.reason, name, c.task_id, who, c.opened_at, now - c.opened_at)
        for c, name, who in rows
    ]


def visible_case(session: Session, clock: Clock, actor: Actor, case_id: int) -> FollowUpCase:
    """A case for its owner, the agent of its task, or a supervisor; the view is audited."""
    case = session.get(FollowUpCase, case_id)
    if case is None:
        raise NotFoundError(f"there is no case {case_id}")
    if not actor.supervisor and case.owner_agent_id != actor.agent_id:
        task = session.get(CallbackTask, case.task_id)
        if task is None or task.agent_id != actor.agent_id:
            raise NotFoundError(f"there is no case {case_id}")
    audit.record(session, clock, actor.username, "case_view", "case", case.id)
    return case
