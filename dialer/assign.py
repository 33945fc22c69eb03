"""Assigning tasks that need a person to agents (負責客戶數量均衡、兼顧業務能力).

Pure core: `balance(tasks, agents)` hands out tasks in urgency order (priority ascending, members
first, then deadline), each to the eligible agent with the lowest load ratio
(backlog + 1) / (daily_capacity × skill weight), ties by fewer tasks then username. Eligible =
active, speaks the customer's language (no language → anyone), skill covers the campaign kind,
and below the cap of `max_days` days of capacity when one is set. One lazy-invalidated heap per
(language, kind) group keeps this O(tasks × log agents) instead of O(tasks × agents).

Shell: `assign_open_tasks` (unassigned tasks and tasks of inactive agents) and `rebalance`
(also sheds the least urgent tasks of agents who fell behind) read tasks and agents in one query
each, then write with one executemany UPDATE. `capacity_check` is the pure agent-hours check
`dialer plan` uses.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from dialer import audit
from dialer.agents import AgentProfile, profile_of
from dialer.clock import Clock
from dialer.models import Agent, AgentRole, CallbackTask, Campaign, Customer, TaskState
from dialer.store import Store

__all__ = [
    "OPEN_STATES",
    "AgentInfo",
    "AgentLoad",
    "AssignResult",
    "BalanceResult",
    "CapacityCheck",
    "TaskInfo",
    "assign_open_tasks",
    "balance",
    "capacity_check",
    "language_matches",
    "needs_person_by_definition",
    "rebalance",
    "skill_weight",
]

FAR_FUTURE: Final = datetime.max.replace(tzinfo=UTC)
OPEN_STATES: Final = (TaskState.PENDING.value, TaskState.IN_PROGRESS.value)
DEFAULT_CAP_DAYS: Final = 3.0
"""Nobody is planned more than three days of work: the three-day rule bounds a useful backlog."""
DEFAULT_BEHIND_DAYS: Final = 2.0
"""An agent holding more than two days of capacity has fallen behind and sheds tasks."""


# --- pure core -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskInfo:
    id: int
    kind: str
    language: str | None = None
    member: bool = False
    priority: int = 0
    deadline: datetime = FAR_FUTURE


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: int
    username: str
    languages: frozenset[str] = frozenset()
    skills: frozenset[str] | None = None
    """Campaign kinds; None = every kind."""
    daily_capacity: int = 60
    skill: int = 1
    active: bool = True
    backlog: int = 0
    """Open tasks the agent already holds that are not among the tasks being balanced."""


@dataclass
class BalanceResult:
    assignments: dict[int, int] = field(default_factory=dict)
    unassigned: dict[int, str] = field(default_factory=dict)
    """task id → why no agent could take it."""
    loads: dict[int, int] = field(default_factory=dict)
    """agent id → backlog after balancing (inactive agents excluded)."""

    def reasons(self) -> dict[str, int]:
        return dict(Counter(self.unassigned.values()).most_common())


def skill_weight(level: int) -> float:
    """Skill level 1 counts as 1×, each level above adds a quarter (level 3 → 1.5×)."""
    return 1.0 + 0.25 * (max(1, level) - 1)


def _primary(tag: str) -> str:
    return tag.split("-", 1)[0].lower()


def language_matches(customer: str | None, agent_languages: Iterable[str]) -> bool:
    """Exact tag (case-insensitive), or one side is the bare primary tag of the other (ko ~ ko-KR).

    zh-TW and zh-CN do not match each other: the scripts differ.
    """
    if not customer:
        return True
    want = customer.lower()
    for have in agent_languages:
        h = have.lower()
        if h == want or (_primary(h) == _primary(want) and ("-" not in h or "-" not in want)):
            return True
    return False


def _task_order(t: TaskInfo) -> tuple[int, bool, datetime, int]:
    return (t.priority, not t.member, t.deadline, t.id)


def balance(
    tasks: Iterable[TaskInfo],
    agents: Iterable[AgentInfo],
    *,
    max_days: float | None = None,
    weight: Callable[[int], float] = skill_weight,
) -> BalanceResult:
    """Assign each task to an eligible agent, most urgent first, keeping load ratios level.

    With `max_days`, an agent never holds more than max_days × capacity × weight tasks, so when
    capacity is short the least urgent tasks are the ones left unassigned (with a reason).
    """
    pool = [a for a in agents if a.active and a.daily_capacity > 0]
    result = BalanceResult()
    load = {a.id: a.backlog for a in pool}
    denom = {a.id: a.daily_capacity * weight(a.skill) for a in pool}
    limit = {a.id: (max_days * denom[a.id] if max_days is not None else float("inf")) for a in pool}
    names = {a.id: a.username for a in pool}
    groups: dict[tuple[str, str], list[tuple[float, int, str, int]]] = {}
    eligible: dict[tuple[str, str], int] = {}
    for task in sorted(tasks, key=_task_order):
        key = ((task.language or "").lower(), task.kind)
        heap = groups.get(key)
        if heap is None:
            heap = [
                ((load[a.id] + 1) / denom[a.id], load[a.id], a.username, a.id)
                for a in pool
                if language_matches(task.language, a.languages)
                and (a.skills is None or task.kind in a.skills)
            ]
            heapq.heapify(heap)
            groups[key] = heap
            eligible[key] = len(heap)
        chosen = _pop(heap, load, denom, limit)
        if chosen is None:
            result.unassigned[task.id] = _full(task) if eligible[key] else _why(task, pool)
            continue
        load[chosen] += 1
        result.assignments[task.id] = chosen
        if load[chosen] + 1 <= limit[chosen]:
            ratio = (load[chosen] + 1) / denom[chosen]
            heapq.heappush(heap, (ratio, load[chosen], names[chosen], chosen))
    result.loads = load
    return result


def _pop(
    heap: list[tuple[float, int, str, int]],
    load: Mapping[int, int],
    denom: Mapping[int, float],
    limit: Mapping[int, float],
) -> int | None:
    """The agent with the truly lowest key: entries whose load moved (other groups) are refreshed."""
    while heap:
        _, seen, username, agent_id = heapq.heappop(heap)
        current = load[agent_id]
        if current + 1 > limit[agent_id]:
            continue  # full: drops out of this group for good (loads only grow)
        if current != seen:
            heapq.heappush(heap, ((current + 1) / denom[agent_id], current, username, agent_id))
            continue
        return agent_id
    return None


def _why(task: TaskInfo, pool: Sequence[AgentInfo]) -> str:
    speakers = [a for a in pool if language_matches(task.language, a.languages)]
    if not speakers:
        return f"no active agent speaks {task.language}"
    if task.language:
        return f"no active agent speaking {task.language} has the skill {task.kind}"
    return f"no active agent has the skill {task.kind}"


def _full(task: TaskInfo) -> str:
    lang = f" speaking {task.language}" if task.language else ""
    return f"every agent{lang} with the skill {task.kind} is at capacity"


# --- the shell -----------------------------------------------------------------------------


def needs_person_by_definition(campaign: Campaign) -> bool:
    """Default rule: the campaign file says `handled_by = "agents"`."""
    return (campaign.definition or {}).get("handled_by") == "agents"


@dataclass(frozen=True, slots=True)
class AgentLoad:
    agent_id: int
    username: str
    active: bool
    backlog: int
    daily_capacity: int
    skill: int
    load_ratio: float
    """backlog ÷ (daily capacity × skill weight): days of work held."""

    def as_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "active": self.active,
            "backlog": self.backlog,
            "daily_capacity": self.daily_capacity,
            "skill": self.skill,
            "load_ratio": round(self.load_ratio, 3),
        }


@dataclass
class AssignResult:
    considered: int = 0
    assigned: int = 0
    """Tasks that had no (active) agent and got one."""
    moved: int = 0
    """Tasks taken off an inactive agent or one who fell behind."""
    kept: int = 0
    unassigned: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    loads: list[AgentLoad] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "considered": self.considered,
            "assigned": self.assigned,
            "moved": self.moved,
            "kept": self.kept,
            "unassigned": self.unassigned,
            "reasons": self.reasons,
            "agents": [a.as_json() for a in self.loads],
        }


@dataclass(frozen=True, slots=True)
class _Row:
    info: TaskInfo
    agent_id: int | None
    appointment: bool


def _load_agents(session: Session) -> tuple[list[Agent], dict[int, AgentProfile]]:
    agents = list(session.scalars(select(Agent).order_by(Agent.username)))
    return agents, {a.id: profile_of(a) for a in agents}


def _agent_infos(
    agents: Sequence[Agent], profiles: Mapping[int, AgentProfile], backlog: Mapping[int, int]
) -> list[AgentInfo]:
    return [
        AgentInfo(
            id=a.id,
            username=a.username,
            languages=frozenset(a.languages or ()),
            skills=profiles[a.id].skills,
            daily_capacity=a.daily_capacity,
            skill=a.skill,
            active=a.active and a.role != AgentRole.SUPERVISOR,
            backlog=backlog.get(a.id, 0),
        )
        for a in agents
    ]


def _load_tasks(
    session: Session, campaign_ids: Sequence[int], kinds: Mapping[int, str]
) -> list[_Row]:
    """One query: the open tasks of these campaigns with their customer's language."""
    if not campaign_ids:
        return []
    query = (
        select(
            CallbackTask.id,
            CallbackTask.campaign_id,
            CallbackTask.agent_id,
            CallbackTask.member,
            CallbackTask.priority,
            CallbackTask.deadline,
            CallbackTask.appointment_at.is_not(None),
            Customer.language,
        )
        .join(Customer, Customer.id == CallbackTask.customer_id)
        .where(CallbackTask.state.in_(OPEN_STATES), CallbackTask.campaign_id.in_(campaign_ids))
        .execution_options(yield_per=10_000)
    )
    return [
        _Row(
            TaskInfo(
                id=tid,
                kind=kinds[cid],
                language=lang,
                member=bool(member),
                priority=prio or 0,
                deadline=deadline,
            ),
            agent_id,
            bool(appt),
        )
        for tid, cid, agent_id, member, prio, deadline, appt, lang in session.execute(query)
    ]


def _backlog(session: Session) -> dict[int, int]:
    """Open tasks per agent, across every campaign (an agent's day is one day)."""
    rows = session.execute(
        select(CallbackTask.agent_id, func.count())
        .where(CallbackTask.state.in_(OPEN_STATES), CallbackTask.agent_id.is_not(None))
        .group_by(CallbackTask.agent_id)
    )
    return {int(aid): int(n) for aid, n in rows if aid is not None}


def _write(session: Session, now: datetime, moves: Mapping[int, int]) -> None:
    """One executemany UPDATE; a task that closed meanwhile is left alone."""
    if not moves:
        return
    table = cast(Table, CallbackTask.__table__)
    stmt = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            # not IN (...): expanding parameters cannot be used with executemany
            or_(*(table.c.state == state for state in OPEN_STATES)),
        )
        .values(agent_id=bindparam("b_agent"), updated_at=bindparam("b_now"))
    )
    params = [{"b_id": t, "b_agent": a, "b_now": now} for t, a in moves.items()]
    conn = session.connection()
    for i in range(0, len(params), 5_000):
        conn.execute(stmt, params[i : i + 5_000])


def _run(
    store: Store,
    clock: Clock,
    *,
    campaign_id: int | None,
    needs_person: Callable[[Campaign], bool],
    max_days: float | None,
    behind_days: float | None,
    actor: str,
    action: str,
) -> AssignResult:
    with store.transaction() as session:
        campaigns = [
            c
            for c in session.scalars(select(Campaign))
            if (campaign_id is None or c.id == campaign_id) and needs_person(c)
        ]
        kinds = {c.id: c.kind for c in campaigns}
        agents, profiles = _load_agents(session)
        rows = _load_tasks(session, sorted(kinds), kinds)
        backlog = _backlog(session)
        infos = {a.id: a for a in _agent_infos(agents, profiles, backlog)}
        active = {aid for aid, a in infos.items() if a.active}

        to_balance: list[TaskInfo] = []
        origin: dict[int, int | None] = {}
        kept = 0
        # Tasks of inactive ("away") agents move, appointments included.
        for row in rows:
            if row.agent_id is None or row.agent_id not in active:
                to_balance.append(row.info)
                origin[row.info.id] = row.agent_id
                if row.agent_id is not None:
                    backlog[row.agent_id] -= 1
            else:
                kept += 1
        # Agents who fell behind shed their least urgent tasks, never their own appointments.
        if behind_days is not None:
            held: dict[int, list[_Row]] = defaultdict(list)
            for row in rows:
                if row.agent_id in active and not row.appointment:
                    held[row.agent_id].append(row)
            for aid, mine in held.items():
                a = infos[aid]
                allowed = int(behind_days * a.daily_capacity * skill_weight(a.skill))
                surplus = backlog.get(aid, 0) - allowed
                if surplus <= 0:
                    continue
                mine.sort(key=lambda r: _task_order(r.info), reverse=True)
                for row in mine[:surplus]:
                    to_balance.append(row.info)
                    origin[row.info.id] = aid
                    backlog[aid] -= 1
                    kept -= 1
            max_days = behind_days if max_days is None else min(max_days, behind_days)

        pool = [
            AgentInfo(**{**_fields(a), "backlog": backlog.get(a.id, 0)}) for a in infos.values()
        ]
        outcome = balance(to_balance, pool, max_days=max_days)

        moves: dict[int, int] = {}
        result = AssignResult(considered=len(rows), kept=kept)
        for task in to_balance:
            src = origin[task.id]
            dst = outcome.assignments.get(task.id)
            if dst is None:
                if src is not None and src in active:
                    result.kept += 1  # fell-behind agent keeps it: nobody has room
                    outcome.loads[src] = outcome.loads.get(src, 0) + 1
                else:
                    result.unassigned += 1
                continue
            if dst == src:
                result.kept += 1
                continue
            moves[task.id] = dst
            if src is None:
                result.assigned += 1
            else:
                result.moved += 1
        result.reasons = dict(
            Counter(
                r
                for tid, r in outcome.unassigned.items()
                if origin[tid] is None or origin[tid] not in active
            ).most_common()
        )
        _write(session, clock.now(), moves)
        result.loads = [
            AgentLoad(
                agent_id=a.id,
                username=a.username,
                active=a.active,
                backlog=outcome.loads.get(a.id, 0) if a.active else backlog.get(a.id, 0),
                daily_capacity=a.daily_capacity,
                skill=a.skill,
                load_ratio=(outcome.loads.get(a.id, 0) if a.active else backlog.get(a.id, 0))
                / (a.daily_capacity * skill_weight(a.skill)),
            )
            for a in sorted(infos.values(), key=lambda x: x.username)
        ]
        if moves or result.unassigned:
            audit.record(
                session,
                clock,
                actor,
                action,
                "campaign" if campaign_id is not None else None,
                campaign_id,
                assigned=result.assigned,
                moved=result.moved,
                unassigned=result.unassigned,
                reasons=result.reasons,
                per_agent=dict(Counter(infos[a].username for a in moves.values())),
            )
    return result


def _fields(a: AgentInfo) -> dict[str, Any]:
    return {name: getattr(a, name) for name in AgentInfo.__dataclass_fields__}


def assign_open_tasks(
    store: Store,
    clock: Clock,
    campaign_id: int | None = None,
    *,
    needs_person: Callable[[Campaign], bool] = needs_person_by_definition,
    max_days: float | None = DEFAULT_CAP_DAYS,
    actor: str = "system",
) -> AssignResult:
    """Give every open, unassigned task that needs a person to an agent (idempotent)."""
    return _run(
        store,
        clock,
        campaign_id=campaign_id,
        needs_person=needs_person,
        max_days=max_days,
        behind_days=None,
        actor=actor,
        action="tasks_assign",
    )


def rebalance(
    store: Store,
    clock: Clock,
    campaign_id: int | None = None,
    *,
    needs_person: Callable[[Campaign], bool] = needs_person_by_definition,
    behind_days: float = DEFAULT_BEHIND_DAYS,
    max_days: float | None = DEFAULT_CAP_DAYS,
    actor: str = "system",
) -> AssignResult:
    """assign_open_tasks, plus: agents holding more than `behind_days` of capacity shed their
    least urgent tasks (never their appointments) to agents with room."""
    return _run(
        store,
        clock,
        campaign_id=campaign_id,
        needs_person=needs_person,
        max_days=max_days,
        behind_days=behind_days,
        actor=actor,
        action="tasks_rebalance",
    )


# --- capacity check for `dialer plan` ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapacityCheck:
    sufficient: bool
    required_hours: float
    available_hours: float
    shortfall_hours: float
    """More agent-hours needed so that every task is handled by its deadline (0 when enough)."""
    binding_deadline: datetime | None
    """The deadline at which the shortfall is largest."""

    def as_json(self) -> dict[str, Any]:
        return {
            "sufficient": self.sufficient,
            "required_agent_hours": round(self.required_hours, 2),
            "available_agent_hours": round(self.available_hours, 2),
            "shortfall_agent_hours": round(self.shortfall_hours, 2),
            "binding_deadline": self.binding_deadline.isoformat()
            if self.binding_deadline
            else None,
        }


def _working_spans(
    profile: AgentProfile, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    tz = ZoneInfo(profile.time_zone)
    day: date = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    spans: list[tuple[datetime, datetime]] = []
    while day <= last:
        if day.weekday() in profile.days:
            s = datetime.combine(day, profile.hours[0], tz).astimezone(UTC)
            e = datetime.combine(day, profile.hours[1], tz).astimezone(UTC)
            s, e = max(s, start), min(e, end)
            if e > s:
                spans.append((s, e))
        day += timedelta(days=1)
    return spans


def capacity_check(
    deadlines: Sequence[datetime],
    agents: Sequence[tuple[AgentInfo, AgentProfile]],
    *,
    handle_time: timedelta,
    now: datetime,
) -> CapacityCheck:
    """Can the active agents handle one task per deadline (each `handle_time`) in time?

    Earliest-deadline-first feasibility: for every deadline D, the work of all tasks due by D
    must fit in the agent-hours available between `now` and D, where an agent's hours are their
    working hours (in their zone, on their days) capped per day at daily_capacity × handle_time.
    The shortfall is the largest deficit over all D.
    """
    hours_per_task = handle_time.total_seconds() / 3600
    due = sorted(d for d in deadlines)
    if not due:
        return CapacityCheck(True, 0.0, 0.0, 0.0, None)
    horizon = max(due[-1], now)
    # Per agent per working day: (span start, span end, daily cap in hours).
    spans: list[tuple[datetime, datetime, float]] = []
    for info, profile in agents:
        if not info.active:
            continue
        cap = info.daily_capacity * hours_per_task
        for s, e in _working_spans(profile, now, horizon):
            spans.append((s, e, cap))

    def available(until: datetime) -> float:
        total = 0.0
        for s, e, cap in spans:
            if s < until:
                total += min((min(e, until) - s).total_seconds() / 3600, cap)
        return total

    worst, worst_at, needed = 0.0, None, 0.0
    i = 0
    while i < len(due):
        j = i
        while j < len(due) and due[j] == due[i]:
            j += 1
        needed = j * hours_per_task
        deficit = needed - available(due[i])
        if deficit > worst + 1e-9:
            worst, worst_at = deficit, due[i]
        i = j
    total_available = available(horizon)
    return CapacityCheck(
        sufficient=worst <= 1e-9,
        required_hours=needed,
        available_hours=total_available,
        shortfall_hours=worst,
        binding_deadline=worst_at,
    )
