"""What the capacity model says a simulation needs: the calls per second that just serve the work.

`dialer.capacity.shortfall` serves the open tasks' calls earliest deadline first in each
customer's open calling window; here the dispatcher's rate is bisected until nothing (or no
member's work) stays unserved. `dialer simulate` starts its simulated search there, and the
tests size their scenarios with it ("capacity at 80% of what the members need").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from dialer.campaigns import CampaignSpec
from dialer.capacity import Demand, Server, expected_attempts, shortfall
from dialer.models import CallbackTask, Campaign, Customer, TaskState
from dialer.plan_model import REACHEE_COLUMNS, reachee_row
from dialer.store import Store
from dialer.windows import open_intervals

OPEN = (TaskState.PENDING, TaskState.IN_PROGRESS)
Key = tuple[str | None, Any, datetime, bool]


def open_load(store: Store, spec: CampaignSpec, start: datetime) -> Counter[Key]:
    """Open tasks with a deadline after `start`, counted by (language, window, deadline, member)."""
    t, c = CallbackTask, Customer
    load: Counter[Key] = Counter()
    with store.sessions() as s:
        cid = s.scalar(select(Campaign.id).where(Campaign.slug == spec.slug))
        if cid is None:
            return load
        for row in s.execute(
            select(
                t.deadline,
                t.member,
                c.language,
                *REACHEE_COLUMNS,
            )
            .join(c, c.id == t.customer_id)
            .where(t.campaign_id == cid, t.state.in_(OPEN), t.deadline > start)
        ):
            who = reachee_row(row)
            load[(row.language, who, row.deadline, bool(row.member))] += 1
    return load


def model_cps(
    spec: CampaignSpec,
    load: Counter[Key],
    start: datetime,
    *,
    answer_rate: float,
    members_only: bool = False,
) -> float | None:
    """The smallest CPS at which the model serves every (member) task's expected calls in time
    (all but the calls no rate can place: a deadline with no open window left); None when
    there is nothing to call."""
    calls = [ch for ch in spec.channels if ch not in ("sms", "agent")]
    if not calls:
        return None
    per_task = expected_attempts(spec.attempt_policy(calls[0]).max_attempts, answer_rate)
    classes = [(k, n) for k, n in load.items() if k[3] or not members_only]
    if not classes:
        return None
    policy = spec.window_policy()

    def window(who: Any, s: datetime, e: datetime) -> Sequence[tuple[datetime, datetime]]:
        return open_intervals(who, policy, s, e)

    server = [Server(count=1, speaks=lambda _lang: True)]

    def unmet(cps: float) -> float:
        demand = [
            Demand(lang, who, deadline, member, n * per_task / cps / 3600)
            for (lang, who, deadline, member), n in classes
        ]
        short = shortfall(demand, server, start, window)
        left = short.unmet_members if members_only else short.unmet
        return left * cps * 3600  # in calls, so that rates compare

    def enough(cps: float) -> bool:
        return unmet(cps) <= floor + 1e-6

    lo, hi = -7.0, 3.0  # log10 of calls per second
    floor = unmet(10**hi)  # calls no rate can place (a deadline with no open window left)
    for _ in range(40):
        mid = (lo + hi) / 2
        if enough(10**mid):
            hi = mid
        else:
            lo = mid
    return float(10**hi)


__all__ = ["model_cps", "open_load"]
