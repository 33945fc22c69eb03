"""Balancing tasks across agents (負責客戶數量均衡、兼顧業務能力): the pure core of assignment.

`balance(tasks, agents)` hands out tasks in urgency order (priority ascending, members first, then
deadline), each to the eligible agent with the lowest load ratio
(backlog + 1) / (daily_capacity × skill weight), ties by fewer tasks then username. Eligible =
active, speaks the customer's language (no language → anyone), skill covers the campaign kind,
and below the cap of `max_days` days of capacity when one is set. One lazy-invalidated heap per
(language, kind) group keeps this O(tasks × log agents) instead of O(tasks × agents).
No database here: `dialer.assign` is the shell that reads and writes.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from dialer.reach import Reach

__all__ = [
    "FAR_FUTURE",
    "OUT_OF_HOURS",
    "AgentInfo",
    "BalanceResult",
    "Balancer",
    "TaskInfo",
    "balance",
    "language_matches",
    "skill_weight",
    "task_order",
]

FAR_FUTURE: Final = datetime.max.replace(tzinfo=UTC)
OUT_OF_HOURS: Final = "out of hours:"
"""How the reason for a task no agent's shift can reach in time begins."""


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


def task_order(t: TaskInfo) -> tuple[int, bool, datetime, int]:
    return (t.priority, not t.member, t.deadline, t.id)


@dataclass
class _Group:
    """One balancing group: a heap of (ratio, first shared slot, load, username, id), with the
    capacity each agent brings to this group's tasks (scaled by reach) and its cap."""

    heap: list[tuple[float, float, int, str, int]]
    denom: dict[int, float]
    limit: dict[int, float]
    first: dict[int, float]


class Balancer:
    """Hands out tasks one at a time, most urgent first (the caller's order): `balance`'s engine.

    Offering tasks as they stream in keeps memory bounded by the agents, not by the tasks, so a
    million open tasks can be assigned from a cursor sorted by the database.

    `offer(task, reach)` may restrict the task to the agents who can reach its customer in time
    (`dialer.reach`): only they are eligible, each with capacity × share, and on equal load
    ratios the one whose shift meets the customer's window sooner is preferred.
    """

    def __init__(
        self,
        agents: Iterable[AgentInfo],
        *,
        max_days: float | None = None,
        weight: Callable[[int], float] = skill_weight,
    ) -> None:
        self.pool = [a for a in agents if a.active and a.daily_capacity > 0]
        self.load = {a.id: a.backlog for a in self.pool}
        self.denom = {a.id: a.daily_capacity * weight(a.skill) for a in self.pool}
        self.max_days = max_days
        self.names = {a.id: a.username for a in self.pool}
        self.groups: dict[tuple[str, str, int | None], _Group] = {}
        self.eligible: dict[tuple[str, str], int] = {}

    def _group(self, task: TaskInfo, reach: Reach | None) -> _Group:
        lang = (task.language or "").lower()
        key = (lang, task.kind, reach.group if reach is not None else None)
        group = self.groups.get(key)
        if group is not None:
            return group
        load = self.load
        speakers = [
            a
            for a in self.pool
            if language_matches(task.language, a.languages)
            and (a.skills is None or task.kind in a.skills)
        ]
        self.eligible[(lang, task.kind)] = len(speakers)
        if reach is not None:
            speakers = [a for a in speakers if a.id in reach.share]
        denom = {
            a.id: self.denom[a.id] * (reach.share[a.id] if reach is not None else 1.0)
            for a in speakers
        }
        first = {a.id: reach.first[a.id] if reach is not None else 0.0 for a in speakers}
        limit = {
            aid: self.max_days * d if self.max_days is not None else float("inf")
            for aid, d in denom.items()
        }
        heap = [
            ((load[a.id] + 1) / denom[a.id], first[a.id], load[a.id], a.username, a.id)
            for a in speakers
        ]
        heapq.heapify(heap)
        group = self.groups[key] = _Group(heap, denom, limit, first)
        return group

    def offer(self, task: TaskInfo, reach: Reach | None = None) -> tuple[int | None, str | None]:
        """(agent id, None) for the agent who takes `task`, or (None, why nobody can).

        `reach` (None: no working-hours test) names the agents who can call the task in time."""
        group = self._group(task, reach)
        chosen = _pop(group, self.load)
        if chosen is None:
            key = ((task.language or "").lower(), task.kind)
            if not self.eligible[key]:
                return None, _why(task, self.pool)
            if not group.denom and reach is not None:
                return None, _out_of_hours(task, reach)
            if reach is not None and len(group.denom) < self.eligible[key]:
                return None, f"{_full(task)} among those whose shift meets the customer's window"
            return None, _full(task)
        load = self.load
        load[chosen] += 1
        if load[chosen] + 1 <= group.limit[chosen]:
            ratio = (load[chosen] + 1) / group.denom[chosen]
            entry = (ratio, group.first[chosen], load[chosen], self.names[chosen], chosen)
            heapq.heappush(group.heap, entry)
        return chosen, None


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
    balancer = Balancer(agents, max_days=max_days, weight=weight)
    result = BalanceResult()
    for task in sorted(tasks, key=task_order):
        chosen, why = balancer.offer(task)
        if chosen is None:
            result.unassigned[task.id] = why or ""
        else:
            result.assignments[task.id] = chosen
    result.loads = balancer.load
    return result


def _pop(group: _Group, load: Mapping[int, int]) -> int | None:
    """The agent with the truly lowest key: entries whose load moved (other groups) are refreshed."""
    heap = group.heap
    while heap:
        _, first, seen, username, agent_id = heapq.heappop(heap)
        current = load[agent_id]
        if current + 1 > group.limit[agent_id]:
            continue  # full: drops out of this group for good (loads only grow)
        if current != seen:
            ratio = (current + 1) / group.denom[agent_id]
            heapq.heappush(heap, (ratio, first, current, username, agent_id))
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


def _out_of_hours(task: TaskInfo, reach: Reach) -> str:
    lang = f" speaking {task.language}" if task.language else ""
    return (
        f"{OUT_OF_HOURS} no active agent{lang} with the skill {task.kind} works while the customer can be "
        f"called {reach.when}"
    )
