"""Simulated agents: people who work their queue at the campaign's handle time on a test clock.

For campaigns handled by agents (and tasks escalated to a person) `dialer simulate` needs
someone to make the calls the dispatcher does not. Each simulated agent is an `agents` row (the
real ones copied into the scratch database, more made like the first when the simulation asks
for more); the real assignment (`assign.assign_open_tasks`) gives them tasks, and in each step
every agent on shift calls the most urgent task of their own queue that is inside the
customer's calling window: members first, then least slack, then the deadline. The person at
the other end is drawn from the sandbox's population (the same seeded draws the dispatcher's
calls get), so an agent's call is answered as often as an automated one. Each call is an
`agent` attempt row with the agent's id, and the outcome goes through the real
`outcomes.record_outcome` path with the agent's id: reached customers count in coverage and
the report's agent performance like any other. An answered call takes the handle time; an
unanswered one the ring timeout plus a minute's note-taking. At most `daily_capacity` calls a
local day, within the agent's working hours and days.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.agents import AgentProfile, profile_of
from dialer.assign import assign_open_tasks
from dialer.attempts import phones_of
from dialer.campaigns import CampaignSpec
from dialer.capacity import working_spans
from dialer.clock import SettableClock
from dialer.models import (
    Agent,
    AgentRole,
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    Customer,
    OutcomeName,
    TaskState,
)
from dialer.outcomes import record_outcome
from dialer.plan_model import REACHEE_COLUMNS, reachee_of
from dialer.store import Store
from dialer.telephony.sandbox import Sandbox
from dialer.windows import is_open

ASSIGN_EVERY = timedelta(minutes=30)
NOTE_TIME = timedelta(minutes=1)  # after an unanswered call
SATISFACTION = {"1": OutcomeName.SATISFIED, "2": OutcomeName.AVERAGE, "3": OutcomeName.UNSATISFIED}


@dataclass
class _Person:
    id: int
    profile: AgentProfile
    daily_capacity: int
    free_at: datetime


class SimulatedAgents:
    """`count` agents (None: the active agents with the campaign's skill) on `store`'s campaign."""

    def __init__(
        self,
        store: Store,
        clock: SettableClock,
        spec: CampaignSpec,
        sandbox: Sandbox,
        *,
        count: int | None = None,
        step: timedelta = timedelta(minutes=10),
        order: Literal["priority", "fifo"] = "priority",
    ) -> None:
        self.store, self.clock, self.spec, self.sandbox = store, clock, spec, sandbox
        self.step, self.order = step, order
        self.policy = spec.window_policy()
        self.tries = spec.attempt_policy("agent")
        self.calls = 0
        self.done_today: Counter[tuple[int, str]] = Counter()
        self._assigned_at: datetime | None = None
        self.people = self._staff(count)
        self.count = len(self.people)

    # -- who works

    def _staff(self, count: int | None) -> list[_Person]:
        """The active agents with the skill; clones of the first (or defaults) up to `count`."""
        now = self.clock.now()
        with self.store.transaction() as s:
            agents = [
                a
                for a in s.scalars(
                    select(Agent)
                    .where(Agent.active.is_(True), Agent.role == AgentRole.AGENT)
                    .order_by(Agent.id)
                )
                if a.skills is None or not a.skills or self.spec.kind in a.skills
            ]
            if count is not None:
                for extra in agents[count:]:
                    extra.active = False
                agents = agents[:count]
                model = agents[0] if agents else None
                languages = sorted(self.spec.scripts) or [self.spec.default_language]
                for i in range(len(agents), count):
                    clone = Agent(
                        username=f"sim-agent-{i + 1}",
                        display_name=f"Simulated agent {i + 1}",
                        role=AgentRole.AGENT,
                        languages=list(model.languages) if model else languages,
                        daily_capacity=model.daily_capacity if model else 60,
                        skill=model.skill if model else 1,
                        skills=list(model.skills) if model and model.skills else None,
                        work_start=model.work_start if model else None,
                        work_end=model.work_end if model else None,
                        work_days=list(model.work_days) if model and model.work_days else None,
                        time_zone=model.time_zone if model else self.spec.default_time_zone,
                        active=True,
                        created_at=now,
                    )
                    s.add(clone)
                    agents.append(clone)
                s.flush()
            return [_Person(a.id, profile_of(a), a.daily_capacity, now) for a in agents]

    # -- one step of work

    def work(self, now: datetime) -> None:
        """Assign (every half hour), then let every agent make the calls that start in this step."""
        if not self.people:
            return
        if self._assigned_at is None or now - self._assigned_at >= ASSIGN_EVERY:
            with self.store.sessions() as s:
                cid = s.scalar(select(Campaign.id).where(Campaign.slug == self.spec.slug))
            if cid is not None:
                assign_open_tasks(self.store, self.clock, cid, actor="simulate")
            self._assigned_at = now
        end = now + self.step
        for person in self.people:
            profile = person.profile
            for a, b in working_spans(profile.hours, profile.days, profile.time_zone, now, end):
                person.free_at = max(person.free_at, a)
                while person.free_at < b and self._call(person, person.free_at):
                    pass
                person.free_at = max(person.free_at, b)

    def _call(self, person: _Person, at: datetime) -> bool:
        """One call by `person` at `at`; False when there is nothing to call or the day is full."""
        day = at.astimezone(ZoneInfo(person.profile.time_zone)).date().isoformat()
        if self.done_today[(person.id, day)] >= person.daily_capacity:
            return False
        with self.store.transaction() as s:
            task = self._next_task(s, person.id, at)
            if task is None:
                return False
            phones = [
                p for p in phones_of(s, [task.customer_id])[task.customer_id] if p.takes("voice")
            ]
            tried = (
                s.scalar(
                    select(func.count())
                    .select_from(Attempt)
                    .where(Attempt.task_id == task.id, Attempt.channel == "agent")
                )
                or 0
            )
            if not phones or tried >= self.tries.max_attempts:
                record_outcome(
                    s,
                    self.spec,
                    task,
                    OutcomeName.NOT_REACHED,
                    at,
                    channel="agent",
                    agent_id=person.id,
                )
                return True
            number = phones[tried % len(phones)].e164
            who = self.sandbox.world.person_for("call", number)
            answered = who.kind == "human"
            took = self.spec.handle_time if answered else self._ring() + NOTE_TIME
            number_row = (
                s.scalar(select(func.max(Attempt.number)).where(Attempt.task_id == task.id)) or 0
            )
            attempt = Attempt(
                task_id=task.id,
                customer_id=task.customer_id,
                number=number_row + 1,
                channel="agent",
                phone_e164=number,
                state=AttemptState.COMPLETED,
                due_at=at,
                placed_at=at,
                ended_at=at + took,
                provider_status="completed" if answered else who.kind.replace("_", "-"),
                answered_by="human" if answered else None,
                duration_seconds=int(took.total_seconds()) if answered else 0,
                agent_id=person.id,
                created_at=at,
            )
            s.add(attempt)
            s.flush()
            task.attempts_made = number_row + 1  # escalated tasks: after the automated tries
            task.state = TaskState.IN_PROGRESS
            task.updated_at = at
            if answered:
                self._answered(s, task, attempt.id, who.digits, person.id, at + took)
            elif tried + 1 >= self.tries.max_attempts:
                task.next_attempt_at = None
                record_outcome(
                    s,
                    self.spec,
                    task,
                    OutcomeName.NOT_REACHED,
                    at + took,
                    channel="agent",
                    attempt_id=attempt.id,
                    agent_id=person.id,
                )
            else:
                task.next_attempt_at = at + (self.tries.spacing or timedelta(hours=1))
        self.calls += 1
        self.done_today[(person.id, day)] += 1
        person.free_at = at + took
        return True

    def _ring(self) -> timedelta:
        return self.tries.ring_timeout or timedelta(seconds=30)

    def _answered(
        self,
        s: Session,
        task: CallbackTask,
        attempt_id: int,
        digits: tuple[str, ...],
        agent_id: int,
        at: datetime,
    ) -> None:
        """The customer took part: the convenience answer, then the satisfaction answer."""
        if digits and digits[0] == "2":  # "call me later": the agent agrees another time
            name = OutcomeName.CALLBACK_REQUESTED
            appointment = at + (self.tries.spacing or timedelta(hours=1))
        else:
            name = SATISFACTION.get(digits[1] if len(digits) > 1 else "1", OutcomeName.SATISFIED)
            appointment = None
        record_outcome(
            s,
            self.spec,
            task,
            name,
            at,
            channel="agent",
            attempt_id=attempt_id,
            agent_id=agent_id,
            appointment_at=appointment,
        )

    def _urgency(self) -> tuple[Any, ...]:
        """Members first, then least slack (docs/definitions.md); or the agent's list in order."""
        t = CallbackTask
        if self.order == "fifo":
            return (func.coalesce(t.next_attempt_at, t.created_at), t.id)
        return (t.member.desc(), func.coalesce(t.slack_seconds, 2**62), t.deadline, t.id)

    def _next_task(self, s: Session, agent_id: int, at: datetime) -> CallbackTask | None:
        """The agent's most urgent open task that is due and inside the customer's window."""
        t = CallbackTask
        rows = s.execute(
            select(
                t,
                *REACHEE_COLUMNS,
            )
            .join(Customer, Customer.id == t.customer_id)
            .where(
                t.agent_id == agent_id,
                t.state.in_((TaskState.PENDING, TaskState.IN_PROGRESS)),
                (t.next_attempt_at.is_(None)) | (t.next_attempt_at <= at),
                t.deadline > at,
            )
            .order_by(*self._urgency())
            .limit(50)
        ).all()
        for row in rows:
            task: CallbackTask = row[0]
            who = reachee_of(*row[1:])
            if is_open(who, self.policy, at):
                return task
        return None


__all__ = ["SimulatedAgents"]
