"""Capacity risk: which open tasks a campaign's capacity cannot reach before their deadlines.

docs/definitions.md's "at risk" asks whether the open windows **and capacity** left before the
deadline can fit the attempts still allowed. The window half is per task (`dialer.coverage`'s slack
rule); the capacity half is campaign-wide, so it is answered here with the one capacity model
(`dialer.capacity`: demand classes, agents or the dispatcher's calls per second, 15-minute slots)
and stored per task (`callback_tasks.capacity_short`) by the runner's slack refresh, so that
`dialer coverage` "now" stays an aggregate over stored columns.

The rule, for one campaign at `now`:

- **Demand**: every open task (pending or in progress) whose deadline is still ahead, grouped in
  the model's classes (language, calling window, deadline, member), each task needing the calls
  its tries still allowed are expected to take (`capacity.calls_left`: the first call channel's
  tries left, 65% answered) × one call's server time (handle time for agents, 1/CPS for the
  dispatcher). A task with no call left (waiting for its SMS fallback) needs none here: the
  window rule judges it.
- **Supply**: the campaign's active agents with its skill (their hours, days, zone, daily cap,
  languages), or the dispatcher at the runner's calls per second: `capacity.campaign_supply`,
  the same servers `dialer plan` counts.
- **Order**: members first, then the earliest deadline — the dispatcher's claim order (members,
  then least slack) and the assignment's (priority = member, then slack); inside one class, the
  task order of the assignment (priority, then id). The model serves the classes in that order,
  each in the earliest slots it may use; what a class cannot get before its deadline is its
  unmet work, and the tasks at the end of that class's order that make it up are **short**: at
  risk by capacity (a part of a task counts as the whole task).

What it does not model (said so that nobody reads more into it): other campaigns competing for
the same agents (each campaign is given all of its skilled agents, as `dialer plan` does); calls
agents already made today against their daily cap; a task's own next-try time (spacing is the
window rule's); appointments.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents import AgentProfile, profile_of
from dialer.balance import AgentInfo
from dialer.campaigns import CampaignSpec
from dialer.capacity import AUTOMATED_CPS, Demand, calls_left, campaign_supply, shortfall
from dialer.models import Agent, AgentRole

__all__ = ["CapacityLoad", "Staff", "active_staff", "capacity_reason", "short_tasks"]

Staff = list[tuple[AgentInfo, AgentProfile]]
ClassKey = tuple[str | None, object, datetime, bool]  # language, window (Reachee), deadline, member
_EPS = 1e-9


def active_staff(session: Session) -> Staff:
    """The active agents with their profiles: the supply `dialer plan` and the refresh count."""
    return [
        (
            AgentInfo(
                id=a.id,
                username=a.username,
                languages=frozenset(a.languages or ()),
                daily_capacity=a.daily_capacity,
                skill=a.skill,
            ),
            profile_of(a),
        )
        for a in session.scalars(
            select(Agent).where(Agent.active.is_(True), Agent.role == AgentRole.AGENT)
        )
    ]


@dataclass
class CapacityLoad:
    """One campaign's open tasks by demand class, each as (priority, task id, calls left)."""

    spec: CampaignSpec
    classes: defaultdict[ClassKey, list[tuple[int, int, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _calls: dict[int, float] = field(default_factory=dict)  # calls left per tries made

    def add(
        self,
        task_id: int,
        *,
        language: str | None,
        who: object,
        deadline: datetime,
        member: bool,
        priority: int,
        attempts_made: int,
    ) -> None:
        calls = self._calls.get(attempts_made)
        if calls is None:
            calls = self._calls[attempts_made] = calls_left(self.spec, attempts_made)
        if calls > 0:
            self.classes[(language, who, deadline, bool(member))].append((priority, task_id, calls))


def short_tasks(
    load: CapacityLoad,
    staff: Sequence[tuple[AgentInfo, AgentProfile]],
    now: datetime,
    *,
    cps: float = AUTOMATED_CPS,
) -> set[int]:
    """The ids of the tasks the campaign's capacity cannot reach before their deadline (above)."""
    keys = [k for k in load.classes if k[2] > now]
    if not keys:
        return set()
    supply = campaign_supply(load.spec, staff, cps=cps)
    demand = [
        Demand(k[0], k[1], k[2], k[3], sum(c for _, _, c in load.classes[k]) * supply.call_hours)
        for k in keys
    ]
    short = shortfall(demand, supply.servers, now, supply.window, members_first=True)
    found: set[int] = set()
    for key, unmet in zip(keys, short.unmet_by_class, strict=True):
        left = unmet
        for _, task_id, calls in sorted(load.classes[key], reverse=True):  # served last first
            if left <= _EPS:
                break
            found.add(task_id)
            left -= calls * supply.call_hours
    return found


def capacity_reason(spec: CampaignSpec) -> str:
    """Why a short task is at risk, for `dialer coverage --list at-risk`."""
    who = (
        f"the campaign's active agents with the skill {spec.kind}"
        if spec.handled_by == "agents"
        else "the dispatcher's calls per second"
    )
    return (
        f"capacity: {who} cannot reach it before its deadline, serving members first and then "
        "the earliest deadline (as of the last slack refresh)"
    )
