"""The simulation's scratch database: the operator's campaign copied into a private SQLite file.

`dialer simulate` must never write to the operator's database, so the campaign's customers (with
their numbers, service events and do-not-contact entries), the agents and the campaign's own
tasks are copied into a SQLite file in a private temporary folder. Open tasks start afresh at
the simulation's start (their tries so far are not copied: an attempt in flight at Twilio cannot
be replayed in the sandbox); reached and ended tasks stay as they are, so the planner does not
plan them again and coverage counts them. The real planner then plans the campaign there once,
and every Monte Carlo run starts from a byte copy of that template.

`reachable_members` says which member tasks the seeded sandbox population would answer at all
within the campaign's tries: the ceiling no order of calls can beat.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update

from dialer.attempts import Phone, phones_of
from dialer.campaigns import CampaignSpec
from dialer.clock import SettableClock
from dialer.models import (
    Agent,
    CallbackTask,
    Campaign,
    CampaignStatus,
    Customer,
    CustomerPhone,
    DoNotContact,
    ImportRun,
    ServiceEvent,
    TaskState,
)
from dialer.planner import plan_campaign
from dialer.store import Store
from dialer.telephony.sandbox.behaviour import Behaviour, draw_call_person, draw_sms_person

BATCH = 2000
OPEN = (TaskState.PENDING, TaskState.IN_PROGRESS)
COPIED = (ImportRun, Customer, CustomerPhone, ServiceEvent, Agent, DoNotContact)


@dataclass
class Template:
    """The planned scratch database every run copies, and what the simulation needs of it."""

    path: Path
    start: datetime
    last_deadline: datetime | None
    open_tasks: int
    open_members: int
    copied_customers: int


def _rows(source: Store, table: Table, where: Any = None) -> Iterator[list[dict[str, Any]]]:
    query = select(table).order_by(*table.primary_key.columns)
    if where is not None:
        query = query.where(where)
    with source.engine.connect() as conn:
        batch: list[dict[str, Any]] = []
        for row in conn.execute(query):
            batch.append(dict(row._mapping))
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def build_template(source: Store, spec: CampaignSpec, path: Path, start: datetime) -> Template:
    """Copy what the campaign needs from `source` into a new SQLite file at `path` and plan it."""
    scratch = Store.open(f"sqlite:///{path}")
    try:
        copied = 0
        with scratch.engine.begin() as dst:
            for model in COPIED:
                table = cast(Table, model.__table__)
                for batch in _rows(source, table):
                    dst.execute(insert(table), batch)
                    copied += len(batch) if model is Customer else 0
            campaigns = cast(Table, Campaign.__table__)
            tasks = cast(Table, CallbackTask.__table__)
            with source.sessions() as s:
                cid = s.scalar(select(Campaign.id).where(Campaign.slug == spec.slug))
            if cid is not None:
                for batch in _rows(source, campaigns, campaigns.c.id == cid):
                    dst.execute(insert(campaigns), batch)
                for batch in _rows(source, tasks, tasks.c.campaign_id == cid):
                    dst.execute(insert(tasks), batch)
                # Open tasks start afresh at the start; their past tries are not copied.
                dst.execute(
                    update(tasks)
                    .where(tasks.c.state.in_(OPEN))
                    .values(state=TaskState.PENDING, attempts_made=0, updated_at=start)
                )
                dst.execute(
                    update(tasks)
                    .where(
                        tasks.c.state == TaskState.PENDING,
                        (tasks.c.next_attempt_at.is_(None)) | (tasks.c.next_attempt_at < start),
                    )
                    .values(next_attempt_at=start)
                )
                if not needs_agents(spec):
                    dst.execute(update(tasks).values(agent_id=None))
            dst.execute(  # a campaign paused or stopped for real is simulated as running
                update(campaigns).values(status=CampaignStatus.ACTIVE)
            )
        plan_campaign(scratch, SettableClock(start), spec)
        with scratch.sessions() as s:
            rows = s.execute(
                select(CallbackTask.deadline, CallbackTask.member).where(
                    CallbackTask.state.in_(OPEN), CallbackTask.deadline > start
                )
            ).all()
        return Template(
            path,
            start,
            max((r.deadline for r in rows), default=None),
            len(rows),
            sum(1 for r in rows if r.member),
            copied,
        )
    finally:
        scratch.close()


def needs_agents(spec: CampaignSpec) -> bool:
    """Whether people work some of the campaign's tasks: handled by agents, or a person is one
    of its channels (the after-service campaign's last resort), so a simulation needs them."""
    return spec.handled_by == "agents" or "agent" in spec.channels


def reachable_members(
    store: Store,
    spec: CampaignSpec,
    behaviour: Behaviour,
    seed: int,
    start: datetime,
    *,
    people: bool = True,
) -> int:
    """Members reached before the start plus open member tasks the population would answer.

    A task is answerable when one of its calls within the campaign's tries (numbers rotated as
    the dispatcher rotates them) is picked up by a person (any answer past the greeting is
    reached), or one of its SMS gets a reply; agents' calls draw from the same population.
    """
    t = CallbackTask
    with store.sessions() as s:
        cid = s.scalar(select(Campaign.id).where(Campaign.slug == spec.slug))
        if cid is None:
            return 0
        done = s.scalar(
            select(func.count())
            .select_from(t)
            .where(t.campaign_id == cid, t.member.is_(True), t.reached_at.is_not(None))
            .where(t.reached_at <= t.deadline, t.reached_at <= start)
        )
        open_rows = s.execute(
            select(t.id, t.customer_id).where(
                t.campaign_id == cid, t.member.is_(True), t.state.in_(OPEN), t.deadline > start
            )
        ).all()
        phones = phones_of(s, {r.customer_id for r in open_rows})
    return int(done or 0) + sum(
        1
        for r in open_rows
        if answerable(spec, phones[r.customer_id], behaviour, seed, people=people)
    )


def answerable(
    spec: CampaignSpec,
    phones: Sequence[Phone],
    behaviour: Behaviour,
    seed: int,
    *,
    people: bool = True,
) -> bool:
    """Whether the seeded population answers one of the campaign's tries to these numbers.

    Counted per number as the sandbox counts contacts: a person's call to a number the IVR
    already rang three times is that number's fourth call (a fresh draw), not its first again.
    Without `people` (a simulation with no agents) the person's channel makes no calls.
    """
    contacts: Counter[tuple[str, str]] = Counter()
    for channel in spec.channels:
        if channel == "agent" and not people:
            continue
        kind = "sms" if channel == "sms" else "voice"
        usable = [p for p in phones if p.takes(kind)]
        if not usable:
            continue
        tries = spec.attempt_policy(channel).max_attempts
        for k in range(tries):
            number = usable[k % len(usable)].e164
            nth = contacts[(kind, number)]
            contacts[(kind, number)] += 1
            if kind == "sms":
                if draw_sms_person(behaviour, seed, number, nth).sms_reply is not None:
                    return True
            elif draw_call_person(behaviour, seed, number, nth).kind == "human":
                return True
    return False


def horizon(template: Template, days: float | None) -> datetime:
    """Where a run stops: `days` after the start, else just past the last open deadline."""
    if days is not None:
        return template.start + timedelta(days=days)
    if template.last_deadline is None:
        return template.start + timedelta(hours=1)
    return min(template.last_deadline, template.start + timedelta(days=45)) + timedelta(minutes=1)


__all__ = [
    "Template",
    "answerable",
    "build_template",
    "horizon",
    "needs_agents",
    "reachable_members",
]
