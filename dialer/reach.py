"""Reach: can an agent's shift meet a customer's calling window before the task's deadline?

Assignment (`dialer.assign`) matches language and skill; a task also needs an agent who is at
work while the customer may be called, before the deadline, or the agent can never call it (a
Taipei day shift and a New York customer share one evening hour at most). The answer per agent
shift (hours, days, zone) and task class (campaign, the customer's window, deadline) is the
capacity model's own count (`dialer.capacity.shared_hours`: 15-minute slots, the customer's
window cut by the time a call needs), so the assignment and `dialer plan` agree on who can reach
whom.

- **share** = shared hours ÷ the agent's working hours in the same span: the part of the agent's
  time that can serve this customer. The balancer divides the agent's capacity by it, so an agent
  who shares one hour of a nine-hour day with a customer takes about a ninth of the load that a
  fully overlapping colleague takes, and is capped accordingly. Rounded up to eighths, so that
  tasks with nearly equal windows share one balancing group.
- A task whose deadline has passed is still workable (a late reach is "reached late",
  docs/definitions.md): it is judged on the customer's window in the next `LATE_HORIZON` instead.
- An appointment still ahead needs an agent at work at its agreed time (the customer chose it);
  one whose time has passed is judged as any task. An agent's own appointments never leave them.
- A campaign definition that is not a whole campaign file (hand-made rows) has no calling window
  to read: the customer is taken as always callable, so only the shift and the deadline count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final

from pydantic import ValidationError

from dialer.agents import AgentProfile
from dialer.campaign_checks import CampaignError
from dialer.campaigns import CampaignSpec
from dialer.capacity import Interval, shared_hours, working_spans
from dialer.errors import ConfigError
from dialer.windows import Reachee, WindowPolicy, open_intervals

__all__ = ["LATE_HORIZON", "Reach", "ReachBook", "Shift", "policy_of", "shift_of"]

LATE_HORIZON: Final = timedelta(days=7)
"""How far ahead a task past its deadline looks for an agent who can still call it. One week,
because shifts (working days) and calling windows (campaign weekdays) repeat weekly: a week sees
every pairing that ever meets, and the share is a whole week's. Not a campaign setting: a shorter
span would call a reachable task out of hours on some weekdays, a longer one differs only
across long holidays. (It judges reach only; it does not end overdue tasks.)"""
STEPS: Final = 8  # shares are rounded up to eighths

Shift = tuple[tuple[time, time], frozenset[int], str]  # working hours, days, zone


def shift_of(profile: AgentProfile) -> Shift:
    return (profile.hours, frozenset(profile.days), profile.time_zone)


def policy_of(definition: Mapping[str, Any] | None) -> WindowPolicy | None:
    """The campaign's calling window (with the time one call needs), or None without a file."""
    try:
        return CampaignSpec.from_definition(definition or {}).window_policy()
    except (ValidationError, CampaignError, ConfigError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Reach:
    """Which agents can call one task class, and how well (see the module docstring)."""

    group: int
    """Equal for classes whose agents, rounded shares and order of first shared slots are equal:
    the balancing group."""
    share: Mapping[int, float]
    """agent id -> rounded share, only for agents who can reach (share > 0)."""
    first: Mapping[int, float]
    """agent id -> POSIX seconds of the first shared slot (sooner is preferred on a tie)."""
    late: bool
    """The deadline had passed: judged on the next LATE_HORIZON."""
    agreed: bool = False
    """An appointment: judged at its agreed time."""

    @property
    def when(self) -> str:
        """The span judged, for the reason a task stays unassigned."""
        if self.agreed:
            return "at the agreed appointment time"
        if self.late:
            return f"in the next {LATE_HORIZON.days} days (deadline passed)"
        return "before the deadline"


class ReachBook:
    """Reach per task class, computed once per (campaign, window, deadline) in one run."""

    def __init__(
        self,
        now: datetime,
        agents: Sequence[tuple[int, AgentProfile]],
        policies: Mapping[int, WindowPolicy | None],
    ) -> None:
        self.now = now
        self.policies = policies
        self.by_shift: dict[Shift, list[int]] = {}
        for aid, profile in agents:
            self.by_shift.setdefault(shift_of(profile), []).append(aid)
        self._classes: dict[tuple[int, Reachee, datetime], Reach] = {}
        self._groups: dict[tuple[tuple[int, int, int], ...], int] = {}
        self._spans: dict[tuple[Shift, datetime], list[Interval]] = {}

    def of(self, campaign_id: int, who: Reachee, deadline: datetime) -> Reach:
        key = (campaign_id, who, deadline)
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = self._compute(campaign_id, who, deadline)
        return found

    def at(self, when: datetime) -> Reach:
        """The agents at work at an appointment's agreed time, all alike (share 1)."""
        key = (-1, Reachee(()), when)
        found = self._classes.get(key)
        if found is None:
            instant = when + timedelta(microseconds=1)
            on_shift = [
                aid
                for shift, aids in self.by_shift.items()
                if working_spans(shift[0], shift[1], shift[2], when, instant)
                for aid in aids
            ]
            share = dict.fromkeys(on_shift, 1.0)
            first = dict.fromkeys(on_shift, when.timestamp())
            group = self._group(share, first)
            found = self._classes[key] = Reach(group, share, first, False, agreed=True)
        return found

    def _group(self, share: Mapping[int, float], first: Mapping[int, float]) -> int:
        """One balancing group per (agents, rounded shares, order of their first shared slot):
        tasks in one group are balanced alike, ties broken alike."""
        rank = {at: i for i, at in enumerate(sorted(set(first.values())))}
        signature = tuple(
            sorted((aid, round(s * STEPS), rank[first[aid]]) for aid, s in share.items())
        )
        return self._groups.setdefault(signature, len(self._groups))

    def _shift_spans(self, shift: Shift, end: datetime) -> list[Interval]:
        key = (shift, end)
        if key not in self._spans:
            self._spans[key] = working_spans(shift[0], shift[1], shift[2], self.now, end)
        return self._spans[key]

    def _compute(self, campaign_id: int, who: Reachee, deadline: datetime) -> Reach:
        now = self.now
        late = deadline <= now
        end = now + LATE_HORIZON if late else deadline
        policy = self.policies.get(campaign_id)
        window = open_intervals(who, policy, now, end) if policy is not None else [(now, end)]
        share: dict[int, float] = {}
        first: dict[int, float] = {}
        for shift, ids in self.by_shift.items():
            spans = self._shift_spans(shift, end)
            both, at = shared_hours(window, spans, now, end)
            if both <= 0 or at is None:
                continue
            working = sum((b - a).total_seconds() for a, b in spans) / 3600
            rounded = min(1.0, math.ceil(both / working * STEPS - 1e-9) / STEPS)
            for aid in ids:
                share[aid] = rounded
                first[aid] = at.timestamp()
        return Reach(self._group(share, first), share, first, late)
