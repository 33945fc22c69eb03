"""The planner: turns customers and service events into callback tasks with deadline and priority.

Pure core, thin shell. `decide(...)` is a pure function of one customer's facts, their candidate
triggers and the dedupe keys already planned for them; `plan_campaign(...)` is the shell that reads
customers in keyset-paginated batches (a few queries per batch of customers, never one per row),
calls `decide` and writes each batch with one Core `INSERT ... ON CONFLICT DO NOTHING` executemany,
committing batch by batch (re-running after a crash only adds what is missing).

Idempotence and merging (one task per customer per trigger):
- after-service (`service_event` trigger): a task's `dedupe_key` is `svc:<anchor service date>`,
  the anchor being the earliest event of a group. An event is *covered* when an existing task of
  the customer has an anchor less than the campaign's `dedupe_window` away (at least one day, so
  events of the same day always merge); otherwise it starts a new group anchored at its date and
  the later events within the window join it. Re-planning after the next day's import therefore
  only adds tasks for events that no task covers. The task takes the anchor (earliest) event's
  deadline and `service_event_id`.
- fixed_date / cron triggers: `dedupe_key` is `once:<date>` / `cron:<date>` of the occurrence (in
  the trigger's zone); a customer with a task less than `dedupe_window` before the occurrence is
  covered ("not reminded again within four weeks").
- the unique (campaign, customer, dedupe_key) constraint backs all of this up under concurrency.

Only events whose service date is recent enough to matter are read (`LOOKBACK`): their deadline
has not passed, or passed less than the dedupe window ago (those become infeasible tasks, reported,
never silently dropped). A file imported weeks late is not turned into callbacks.
"""

from __future__ import annotations

import json
import math
import re
import time as _time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, Select, Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dialer.agents import profile_of
from dialer.balance import AgentInfo
from dialer.campaigns import CampaignSpec
from dialer.capacity import (
    ANSWER_RATE,
    AUTOMATED_CPS,
    CapacityVerdict,
    PlanLoad,
    expected_attempts,
    plan_capacity,
)
from dialer.clock import Clock, ensure_utc
from dialer.models import (
    Agent,
    AgentRole,
    CallbackTask,
    Campaign,
    Customer,
    CustomerPhone,
    DoNotContact,
    OutcomeName,
    PhoneType,
    ServiceEvent,
    TaskState,
)
from dialer.store import Store
from dialer.windows import Reachee, WindowPolicy, closed_reason, next_open, open_seconds

__all__ = [
    "ANSWER_RATE",
    "AUTOMATED_CPS",
    "CapacityVerdict",
    "CustomerFacts",
    "EventFacts",
    "Infeasible",
    "PhoneFacts",
    "PlanContext",
    "PlanResult",
    "PlannedTask",
    "Skip",
    "decide",
    "expected_attempts",
    "plan_campaign",
]

BATCH_CUSTOMERS = 5000
LIST_LIMIT = 1000  # per list kept in PlanResult (counts are always complete)
PRIORITY_SPAN = 10**9  # priority = (0 member | 1 other) * SPAN + min(slack, SPAN - 1)
NEXT_OPEN_HORIZON = timedelta(days=45)
PlanAction = Literal["sms", "extend", "flag"]
SkipReason = Literal[
    "not_in_audience", "no_consent", "no_valid_number", "opted_out", "already_covered"
]


# ------------------------------------------------------------------------------- the facts


@dataclass(frozen=True, slots=True)
class PhoneFacts:
    e164: str
    phone_type: str
    voice_ok: bool = True
    sms_ok: bool = True
    unusable_reason: str | None = None
    blocked_channels: frozenset[str] = (
        frozenset()
    )  # do-not-contact on this number ("all" or a channel)


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    id: int
    key: str
    name: str
    member: bool
    marketing_consent: bool | None = None
    language: str | None = None
    region: str | None = None
    time_zones: tuple[str, ...] = ()
    quiet_hours: str | None = None
    phones: tuple[PhoneFacts, ...] = ()
    blocked_channels: frozenset[str] = frozenset()  # do-not-contact on the customer

    def reachee(self) -> Reachee:
        return _reachee(self.time_zones, self.quiet_hours, self.region, self.marketing_consent)


@dataclass(frozen=True, slots=True)
class EventFacts:
    id: int
    service_date: date
    service_at: datetime | None = None
    service_type: str | None = None
    mileage_km: int | None = None


@dataclass(frozen=True, slots=True)
class Infeasible:
    reason: str
    earliest_possible: datetime | None
    action: str  # what the campaign's planning.on_infeasible did about it, as a sentence
    code: PlanAction = "flag"  # the same decision as a word, stored on the task (plan_action)


@dataclass(slots=True)
class PlannedTask:
    customer_id: int
    customer_key: str
    name: str
    member: bool
    dedupe_key: str
    service_event_id: int | None
    deadline: datetime
    earliest_start: datetime
    state: str = TaskState.PENDING
    outcome: str | None = None
    next_attempt_at: datetime | None = None
    slack_seconds: int | None = None
    priority: int = 0
    not_contactable: str | None = None  # why, for not-contactable members
    infeasible: Infeasible | None = None
    events: int = 1  # service events merged into this task
    task_id: int | None = None

    def row(self, campaign_id: int, now: datetime) -> dict[str, Any]:
        return {
            "campaign_id": campaign_id,
            "customer_id": self.customer_id,
            "service_event_id": self.service_event_id,
            "dedupe_key": self.dedupe_key,
            "member": self.member,
            "state": self.state,
            "deadline": self.deadline,
            "priority": self.priority,
            "slack_seconds": self.slack_seconds,
            "attempts_made": 0,
            "next_attempt_at": self.next_attempt_at,
            "outcome": self.outcome,
            # The infeasibility decision travels with the task: the dispatcher and supervisors
            # read it from the row, not from a plan report that is gone by then.
            "plan_action": self.infeasible.code if self.infeasible else None,
            "plan_reason": self.infeasible.reason if self.infeasible else None,
            "earliest_possible_at": self.infeasible.earliest_possible if self.infeasible else None,
            "created_at": now,
            "updated_at": now,
        }


@dataclass(frozen=True, slots=True)
class Skip:
    customer_id: int
    customer_key: str
    name: str
    member: bool
    reason: SkipReason
    detail: str
    count: int = 1  # triggers (events) it stands for


@dataclass(frozen=True)
class PlanContext:
    """Everything `decide` needs besides the customer: the campaign, its windows and `now`."""

    spec: CampaignSpec
    now: datetime
    occurrence: datetime | None = None  # fixed_date / cron: this run's trigger instant
    policy: WindowPolicy = field(init=False)
    sms_policy: WindowPolicy = field(init=False)
    merge_days: int = field(init=False)
    _deadlines: dict[tuple[date, tuple[str, ...]], datetime] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", self.spec.window_policy())
        object.__setattr__(self, "sms_policy", self.spec.window_policy(min_open=timedelta(0)))
        days = max(1, math.ceil(self.spec.planning.dedupe_window / timedelta(days=1)))
        object.__setattr__(self, "merge_days", days)

    def service_deadline(self, service_date: date, zones: tuple[str, ...]) -> datetime:
        """spec.deadline_for, remembered: a run sees few (date, zones) pairs for many tasks."""
        key = (service_date, zones)
        found = self._deadlines.get(key)
        if found is None:
            found = self._deadlines[key] = self.spec.deadline_for(
                service_date=service_date, zones=zones
            )
        return found


@dataclass
class PlanResult:
    campaign: str
    campaign_id: int | None
    dry_run: bool
    now: datetime
    created: int = 0
    existing: int = 0
    members: int = 0
    not_contactable_count: int = 0
    infeasible_count: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    planned: list[PlannedTask] = field(default_factory=list)  # first LIST_LIMIT, for dry runs
    not_contactable: list[PlannedTask] = field(default_factory=list)
    infeasible: list[PlannedTask] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)  # first LIST_LIMIT
    capacity: CapacityVerdict | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        def when(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        return {
            "campaign": self.campaign,
            "created": self.created,
            "existing": self.existing,
            "members": self.members,
            "not_contactable": [
                {
                    "task_id": t.task_id,
                    "customer_id": t.customer_key,
                    "name": t.name,
                    "member": t.member,
                    "reason": t.not_contactable,
                }
                for t in self.not_contactable
            ],
            "not_contactable_count": self.not_contactable_count,
            "skipped": dict(sorted(self.skipped.items())),
            "infeasible": [
                {
                    "task_id": t.task_id,
                    "customer_id": t.customer_key,
                    "member": t.member,
                    "deadline": when(t.deadline),
                    "reason": t.infeasible.reason if t.infeasible else None,
                    "earliest_possible": when(t.infeasible.earliest_possible)
                    if t.infeasible
                    else None,
                    "action": t.infeasible.action if t.infeasible else None,
                    "plan_action": t.infeasible.code if t.infeasible else None,
                }
                for t in self.infeasible
            ],
            "infeasible_count": self.infeasible_count,
            "capacity": self.capacity.as_json() if self.capacity else None,
            "dry_run": self.dry_run,
        }


# ------------------------------------------------------------------------------- pure core


_QUIET = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


@lru_cache(maxsize=4096)
def _quiet_spans(text: str | None) -> tuple[tuple[time, time], ...]:
    """The customer's stored quiet hours ("12:00-13:30,22:00-08:00") as spans; junk is ignored."""
    spans = []
    for part in (text or "").split(","):
        m = _QUIET.match(part)
        if m:
            a, b = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
            if a != b:
                spans.append((a, b))
    return tuple(spans)


@lru_cache(maxsize=65536)
def _reachee(
    zones: tuple[str, ...], quiet: str | None, region: str | None, consent: bool | None
) -> Reachee:
    return Reachee(zones, _quiet_spans(quiet), region, consent)


@lru_cache(maxsize=64)
def _can_sms(phone_type: str) -> bool:
    try:
        return PhoneType(phone_type).can_receive_sms
    except ValueError:
        return False


def _channel_ok(phone: PhoneFacts, channel: str) -> bool:
    if phone.unusable_reason:
        return False
    if channel == "sms":
        return phone.sms_ok and _can_sms(phone.phone_type)
    return phone.voice_ok


def _blocked(blocked: frozenset[str], channel: str) -> bool:
    return "all" in blocked or channel in blocked or (channel == "agent" and "voice" in blocked)


def contact_problem(
    cust: CustomerFacts, channels: Sequence[str]
) -> tuple[Literal["no_valid_number", "opted_out"], str] | None:
    """Why no channel of the campaign can reach the customer, or None when one can."""
    usable = False
    for p in cust.phones:
        blocked = cust.blocked_channels | p.blocked_channels if p.blocked_channels else None
        for ch in channels:
            if _channel_ok(p, ch):
                usable = True
                if not _blocked(blocked if blocked is not None else cust.blocked_channels, ch):
                    return None  # the usual case: the first number reaches them
    if not usable:
        wanted = " or ".join(channels)
        return "no_valid_number", f"no number usable for {wanted}"
    return "opted_out", "on the do-not-contact list"


def maintenance_due(spec: CampaignSpec, events: Sequence[EventFacts], now: datetime) -> bool:
    """The maintenance audience: last service older than X and/or estimated km since at least Y."""
    a = spec.audience
    tests: list[bool] = []
    if not events:
        return a.last_service_older_than is None and a.mileage_at_least is None
    last = max(events, key=lambda e: (e.service_date, e.id))
    today = now.astimezone(ZoneInfo(spec.trigger.time_zone)).date()
    days = (today - last.service_date).days
    if a.last_service_older_than is not None:
        tests.append(timedelta(days=days) > a.last_service_older_than)
    if a.mileage_at_least is not None:
        readings = sorted((e.service_date, e.mileage_km) for e in events if e.mileage_km)
        rate = a.assumed_km_per_day
        if len(readings) >= 2 and readings[-1][0] > readings[0][0]:
            span = (readings[-1][0] - readings[0][0]).days
            rate = max(0.0, (readings[-1][1] - readings[0][1]) / span)
        tests.append(rate * days >= a.mileage_at_least)
    if not tests:
        return True
    return any(tests) if a.match == "any" else all(tests)


def _audience_problem(
    ctx: PlanContext, cust: CustomerFacts, events: Sequence[EventFacts]
) -> str | None:
    a = ctx.spec.audience
    if a.members_only and not cust.member:
        return "not a member (the campaign is for members only)"
    if a.languages and (cust.language or ctx.spec.default_language) not in a.languages:
        return f"language {cust.language or 'unknown'} is not among {', '.join(a.languages)}"
    if a.regions and (cust.region or "") not in a.regions:
        return f"region {cust.region or 'unknown'} is not among {', '.join(a.regions)}"
    if ctx.spec.kind == "maintenance_reminder" and not maintenance_due(ctx.spec, events, ctx.now):
        return "not due for maintenance"
    return None


def _key_date(key: str) -> date | None:
    try:
        return date.fromisoformat(key.split(":", 1)[1])
    except (IndexError, ValueError):
        return None


def _local(at: datetime, zone: str) -> str:
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M:%S} {zone}"


def _zones(cust: CustomerFacts, spec: CampaignSpec) -> tuple[str, ...]:
    return _valid_zones(cust.time_zones, spec.default_time_zone)


@lru_cache(maxsize=4096)
def _valid_zones(zones: tuple[str, ...], default: str) -> tuple[str, ...]:
    """The customer's zones that exist (few distinct tuples: cached), else the default zone."""
    valid = []
    for z in zones:
        try:
            ZoneInfo(z)
        except (ValueError, KeyError, OSError):
            continue
        valid.append(z)
    return tuple(valid) or (default,)


@lru_cache(maxsize=1 << 17)
def _slack_and_next(
    who: Reachee, policy: WindowPolicy, start: datetime, deadline: datetime
) -> tuple[int, datetime | None]:
    """Open-window seconds in [start, deadline) and the first open time from start.

    Cached: a million tasks share a few thousand (window, start minute, deadline) keys, since
    service times cluster and deadlines are end-of-day; the window maths is pure.
    """
    slack = int(open_seconds(who, policy, start, deadline)) if deadline > start else 0
    return slack, next_open(who, policy, start, horizon=NEXT_OPEN_HORIZON)


def _why_closed(
    who: Reachee, policy: WindowPolicy, start: datetime, deadline: datetime, zone: str
) -> str:
    """The closed reasons met between start and deadline: the first moment, then each local day."""
    found: list[str] = []
    first = closed_reason(who, policy, start)
    if first:
        found.append(f"{start.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {first}")
    tz = ZoneInfo(zone)
    opening = min(policy.hours)[0] if policy.hours else time(9)
    day = start.astimezone(tz).date() + timedelta(days=1)
    last = deadline.astimezone(tz).date()
    while day <= last and len(found) < 8:
        at = datetime.combine(day, opening, tz)
        reason = closed_reason(who, policy, at)
        if reason:
            found.append(f"{day:%Y-%m-%d} {reason}")
        day += timedelta(days=1)
    return "; ".join(found)


def _schedule(ctx: PlanContext, cust: CustomerFacts, task: PlannedTask) -> None:
    """Slack, priority, next attempt; infeasibility detected and handled as the campaign says."""
    who = cust.reachee()
    start, deadline = task.earliest_start, task.deadline
    slack, nxt = _slack_and_next(who, ctx.policy, start, deadline)
    task.slack_seconds = slack
    task.priority = (0 if task.member else 1) * PRIORITY_SPAN + min(slack, PRIORITY_SPAN - 1)
    if slack > 0 and nxt is not None and nxt < deadline:
        task.next_attempt_at = nxt
        return
    zone = _zones(cust, ctx.spec)[0]
    if deadline <= ctx.now:
        reason = f"the deadline {_local(deadline, zone)} has already passed"
    else:
        why = _why_closed(who, ctx.policy, start, deadline, zone)
        reason = f"no open calling window before the deadline {_local(deadline, zone)}" + (
            f": {why}" if why else ""
        )
    earliest = nxt
    on = ctx.spec.planning.on_infeasible
    action = "flagged for a supervisor"
    code: PlanAction = "flag"
    task.next_attempt_at = None
    if on == "sms" and "sms" in ctx.spec.channels:
        sms_at = next_open(who, ctx.sms_policy, max(start, ctx.now), horizon=NEXT_OPEN_HORIZON)
        if sms_at is not None and sms_at < deadline:
            task.next_attempt_at = sms_at
            code = "sms"
            action = f"send an SMS at {_local(sms_at, zone)} (the SMS window is open before then)"
        else:
            action = "flagged for a supervisor (no SMS window before the deadline either)"
    elif on == "extend":
        task.next_attempt_at = earliest
        if earliest:
            code = "extend"
            action = (
                "keep trying after the deadline from the earliest possible time (reported as late)"
            )
        else:
            action = "flagged for a supervisor (no open window within 45 days)"
    task.infeasible = Infeasible(reason, earliest, action, code)


def _new_task(
    ctx: PlanContext,
    cust: CustomerFacts,
    key: str,
    event: EventFacts | None,
    deadline: datetime,
    start: datetime,
    events: int,
    problem: str | None,
) -> PlannedTask:
    task = PlannedTask(
        customer_id=cust.id,
        customer_key=cust.key,
        name=cust.name,
        member=cust.member,
        dedupe_key=key,
        service_event_id=event.id if event else None,
        deadline=deadline,
        earliest_start=max(start, ctx.now),
        events=events,
    )
    if problem is not None:
        task.state = TaskState.NOT_CONTACTABLE
        task.outcome = OutcomeName.NOT_CONTACTABLE
        task.not_contactable = problem
        task.priority = (0 if cust.member else 1) * PRIORITY_SPAN + PRIORITY_SPAN - 1
        return task
    _schedule(ctx, cust, task)
    return task


def _event_order(e: EventFacts) -> tuple[date, int]:
    return (e.service_date, e.id)


def _triggers(
    ctx: PlanContext, cust: CustomerFacts, events: Sequence[EventFacts], existing: Iterable[str]
) -> tuple[list[tuple[str, EventFacts | None, datetime, datetime, int]], int]:
    """(dedupe_key, anchor event, deadline, earliest start, events merged) to plan; covered count."""
    spec, days = ctx.spec, ctx.merge_days
    anchors = [d for d in map(_key_date, existing) if d is not None] if existing else []
    out: list[tuple[str, EventFacts | None, datetime, datetime, int]] = []
    if spec.trigger.type == "service_event":
        wanted = spec.audience.service_types
        zones = _zones(cust, spec)
        groups: list[list[EventFacts]] = []
        covered = 0
        ordered = events if len(events) < 2 else sorted(events, key=_event_order)
        for ev in ordered:
            if wanted and (ev.service_type or "") not in wanted:
                continue
            if anchors and any(abs((ev.service_date - a).days) < days for a in anchors):
                covered += 1
            elif groups and (ev.service_date - groups[-1][0].service_date).days < days:
                groups[-1].append(ev)
            else:
                groups.append([ev])
        for group in groups:
            first = group[0]
            deadline = ctx.service_deadline(first.service_date, zones)
            if first.service_at is not None:
                start = first.service_at
            else:
                start = datetime.combine(first.service_date, time(0), ZoneInfo(zones[0]))
            start = start + (spec.trigger.delay or timedelta(0))
            out.append(
                (f"svc:{first.service_date.isoformat()}", first, deadline, start, len(group))
            )
        return out, covered
    assert ctx.occurrence is not None
    occ_day = ctx.occurrence.astimezone(ZoneInfo(spec.trigger.time_zone)).date()
    window = max(ctx.spec.planning.dedupe_window, timedelta(days=1))
    if any(timedelta(0) <= timedelta(days=(occ_day - a).days) < window for a in anchors):
        return [], 1
    prefix = "once" if spec.trigger.type == "fixed_date" else "cron"
    deadline = spec.deadline_for(triggered_at=ctx.occurrence)
    return [(f"{prefix}:{occ_day.isoformat()}", None, deadline, ctx.occurrence, 1)], 0


def decide(
    ctx: PlanContext,
    cust: CustomerFacts,
    events: Sequence[EventFacts],
    existing: Iterable[str] = (),
) -> list[PlannedTask | Skip]:
    """What to do for one customer: tasks to create (with deadline, priority, slack) and skips.

    `events` are the customer's candidate service events (after-service) or their service history
    (maintenance audience); `existing` the dedupe keys already planned for them in this campaign.
    """
    out: list[PlannedTask | Skip] = []

    def skip(reason: SkipReason, detail: str, count: int = 1) -> Skip:
        return Skip(cust.id, cust.key, cust.name, cust.member, reason, detail, count)

    not_in = _audience_problem(ctx, cust, events)
    if not_in is not None:
        return [skip("not_in_audience", not_in)]
    triggers, covered = _triggers(ctx, cust, events, existing)
    if covered:
        out.append(skip("already_covered", "already has a task for this trigger", covered))
    if not triggers:
        return out
    problem: tuple[SkipReason, str] | None = None
    if ctx.spec.audience.require_consent and cust.marketing_consent is not True:
        problem = ("no_consent", "no marketing consent")
    else:
        problem = contact_problem(cust, ctx.spec.channels)
    if problem is not None and not cust.member:
        return [*out, skip(problem[0], problem[1], sum(t[4] for t in triggers))]
    for key, event, deadline, start, n in triggers:
        out.append(
            _new_task(ctx, cust, key, event, deadline, start, n, problem[1] if problem else None)
        )
    return out


def occurrence_for(spec: CampaignSpec, now: datetime) -> datetime | None:
    """The trigger instant a plan at `now` belongs to (fixed_date: its start; cron: the last fire)."""
    zone = ZoneInfo(spec.trigger.time_zone)
    if spec.trigger.type == "fixed_date":
        start = spec.trigger.start
        assert start is not None
        return (start if start.tzinfo else start.replace(tzinfo=zone)).astimezone(UTC)
    if spec.trigger.type == "cron":
        from apscheduler.triggers.cron import CronTrigger

        assert spec.trigger.cron is not None
        trig = CronTrigger.from_crontab(spec.trigger.cron, timezone=zone)
        at: datetime | None = trig.get_next_fire_time(None, now - timedelta(days=366))
        last: datetime | None = None
        while at is not None and at <= now:
            last = at
            at = trig.get_next_fire_time(at, at + timedelta(seconds=1))
        chosen = last or at
        return chosen.astimezone(UTC) if chosen else None
    return None


# ---------------------------------------------------------------------------------- shell


def upsert_campaign(session: Session, spec: CampaignSpec, now: datetime) -> int:
    """The campaign row for `spec` (by slug), created or brought up to the file's definition."""
    definition = spec.as_definition()
    row = session.execute(
        select(Campaign.id, Campaign.definition_sha256).where(Campaign.slug == spec.slug)
    ).first()
    if row is None:
        return int(
            session.execute(
                insert(Campaign).returning(Campaign.id),
                {
                    "slug": spec.slug,
                    "name": spec.name,
                    "kind": spec.kind,
                    "purpose": spec.purpose,
                    "definition": definition,
                    "definition_sha256": spec.sha256 or None,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        )
    if row.definition_sha256 != (spec.sha256 or None):
        session.execute(
            update(Campaign)
            .where(Campaign.id == row.id)
            .values(
                name=spec.name,
                kind=spec.kind,
                purpose=spec.purpose,
                definition=definition,
                definition_sha256=spec.sha256 or None,
                updated_at=now,
            )
        )
    return int(row.id)


def _dnc(session: Session, purpose: str) -> tuple[dict[int, set[str]], dict[str, set[str]]]:
    """Do-not-contact entries that apply to this purpose: by customer id and by number."""
    scopes = ("all", "marketing") if purpose == "marketing" else ("all",)
    by_customer: dict[int, set[str]] = defaultdict(set)
    by_number: dict[str, set[str]] = defaultdict(set)
    rows = session.execute(
        select(DoNotContact.customer_id, DoNotContact.e164, DoNotContact.channel).where(
            DoNotContact.scope.in_(scopes)
        )
    )
    for cid, e164, channel in rows:
        if cid is not None:
            by_customer[cid].add(channel or "all")
        if e164:
            by_number[e164].add(channel or "all")
    return by_customer, by_number


def _id_batches(session: Session, query: Select[Any], size: int) -> Iterator[list[int]]:
    """Keyset pagination over customer ids: bounded memory on both engines, no server cursors."""
    last = 0
    col = query.selected_columns[0]
    while True:
        ids = list(session.scalars(query.where(col > last).order_by(col).limit(size)))
        if not ids:
            return
        yield ids
        last = ids[-1]


_TASK_COLUMNS = (
    "campaign_id",
    "customer_id",
    "service_event_id",
    "dedupe_key",
    "member",
    "state",
    "deadline",
    "priority",
    "slack_seconds",
    "attempts_made",
    "next_attempt_at",
    "outcome",
    "plan_action",
    "plan_reason",
    "earliest_possible_at",
    "created_at",
    "updated_at",
)
_STAMPED = frozenset(
    ("deadline", "next_attempt_at", "earliest_possible_at", "created_at", "updated_at")
)
_SQLITE_CHUNK = 32_000 // len(_TASK_COLUMNS)  # bound parameters per statement stay < 32,766


@lru_cache(maxsize=1 << 16)
def _sqlite_stamp(at: datetime) -> str:
    """An aware time as UTCDateTime stores it on SQLite (few distinct deadlines/starts: cached)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _insert(
    session: Session, dialect: str, tasks: list[PlannedTask], campaign_id: int, now: datetime
) -> dict[tuple[int, str], int]:
    """Insert what is not there yet; (customer_id, dedupe_key) -> id of each row really created.

    SQLite: multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` through the driver with
    values already in stored form (the ORM's RETURNING path inserts one row at a time there).
    Elsewhere: a Core insert, which SQLAlchemy batches into multi-row statements itself.
    """
    if not tasks:
        return {}
    made: dict[tuple[int, str], int] = {}
    if dialect == "sqlite":
        conn = session.connection()
        stamp = _sqlite_stamp
        created = stamp(now)
        flat: list[Any] = []
        for t in tasks:
            inf = t.infeasible
            flat += (
                campaign_id, t.customer_id, t.service_event_id, t.dedupe_key, t.member, t.state,
                stamp(t.deadline), t.priority, t.slack_seconds, 0,
                stamp(t.next_attempt_at) if t.next_attempt_at else None, t.outcome,
                inf.code if inf else None, inf.reason if inf else None,
                stamp(inf.earliest_possible) if inf and inf.earliest_possible else None,
                created, created,
            )  # fmt: skip
        width = len(_TASK_COLUMNS)
        one = "(" + ", ".join("?" * width) + ")"
        for i in range(0, len(tasks), _SQLITE_CHUNK):
            n = min(_SQLITE_CHUNK, len(tasks) - i)
            sql = (
                f"INSERT INTO callback_tasks ({', '.join(_TASK_COLUMNS)}) VALUES "  # noqa: S608
                + ", ".join([one] * n)
                + " ON CONFLICT (campaign_id, customer_id, dedupe_key) DO NOTHING"
                " RETURNING id, customer_id, dedupe_key"
            )
            params = tuple(flat[i * width : (i + n) * width])
            for tid, cid, key in conn.exec_driver_sql(sql, params).all():
                made[(cid, key)] = tid
        return made
    rows = [t.row(campaign_id, now) for t in tasks]
    table = cast(Table, CallbackTask.__table__)
    stmt = (
        pg_insert(table)
        .on_conflict_do_nothing(index_elements=["campaign_id", "customer_id", "dedupe_key"])
        .returning(table.c.id, table.c.customer_id, table.c.dedupe_key)
    )
    for tid, cid, key in session.connection().execute(stmt, rows):
        made[(cid, key)] = tid
    return made


def plan_campaign(
    store: Store,
    clock: Clock,
    spec: CampaignSpec,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_customers: int = BATCH_CUSTOMERS,
    list_limit: int = LIST_LIMIT,
) -> PlanResult:
    """Plan `spec`: create the missing tasks (unless `dry_run`) and say what was decided and why."""
    began = clock.monotonic()
    wall = _time.perf_counter()
    now = ensure_utc(now or clock.now())
    occurrence = occurrence_for(spec, now)
    ctx = PlanContext(spec, now, occurrence)
    result = PlanResult(spec.slug, None, dry_run, now)
    load = PlanLoad()
    service = spec.trigger.type == "service_event"
    needs_history = spec.kind == "maintenance_reminder"

    with store.transaction() as session:
        if dry_run:
            cid = session.scalar(select(Campaign.id).where(Campaign.slug == spec.slug))
            campaign_id = int(cid) if cid is not None else None
        else:
            campaign_id = upsert_campaign(session, spec, now)
        dnc_customer, dnc_number = _dnc(session, spec.purpose)
        staff = [
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
    result.campaign_id = campaign_id

    since: date | None = None
    if service:
        days = (spec.deadline.days_after_service or 0) + ctx.merge_days + 1
        since = now.date() - timedelta(days=days)
        id_query: Select[Any] = select(ServiceEvent.customer_id).distinct()
        id_query = id_query.where(ServiceEvent.service_date >= since)
    else:
        id_query = select(Customer.id)  # everybody, so that dry runs can say who is left out

    with store.sessions() as reader:
        for ids in _id_batches(reader, id_query, batch_customers):
            _plan_batch(
                store, reader, ctx, ids, since, needs_history, campaign_id, dry_run,
                (dnc_customer, dnc_number), result, load, list_limit,
            )  # fmt: skip

    result.capacity = plan_capacity(spec, load, staff, max(now, occurrence or now))
    result.seconds = max(clock.monotonic() - began, _time.perf_counter() - wall)
    return result


_NONE: frozenset[str] = frozenset()


_IDS: BindParameter[list[int]] = bindparam(
    "ids", expanding=True
)  # the batch's customer ids, bound per execution


def _core_rows(conn: Connection, stmt: Select[*tuple[Any, ...]], ids: list[int]) -> Sequence[Any]:
    return conn.execute(stmt, {"ids": ids}).all()


def _raw_rows(conn: Connection, stmt: Select[*tuple[Any, ...]], ids: list[int]) -> Sequence[Any]:
    """SQLite: the statement through the driver, values as stored (converted by the caller).

    A million customers' rows through SQLAlchemy's per-row result processing (JSON, dates) cost
    more than the planning itself; the few distinct stored values are converted once, cached.
    The batch's ids travel as one JSON array (`json_each`), so the SQL text is compiled once
    per statement shape instead of once per batch with 2,000 placeholders.
    """
    compiled = _compiled(conn.dialect, stmt)
    params = compiled.construct_params({"ids": ids})
    values = tuple(
        json.dumps(v) if isinstance(v, list) else v.isoformat() if isinstance(v, date) else v
        for v in (params[k] for k in compiled.positiontup or ())
    )
    sql = _JSON_IN.sub("IN (SELECT value FROM json_each(?))", str(compiled))
    return conn.exec_driver_sql(sql, values).all()


_JSON_IN = re.compile(r"IN \(__\[POSTCOMPILE_[a-z0-9_]+\]\)")


def _compiled(dialect: Any, stmt: Select[*tuple[Any, ...]]) -> Any:
    return stmt.compile(dialect=dialect)


@lru_cache(maxsize=4096)
def _zones_text(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text) or ())


def _as_zones(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return _zones_text(value)
    return tuple(value or ())


@lru_cache(maxsize=4096)
def _date_text(text: str) -> date:
    return date.fromisoformat(text[:10])


def _as_date(value: Any) -> date:
    return _date_text(value) if isinstance(value, str) else value


@lru_cache(maxsize=1 << 16)
def _utc_text(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _utc_text(value)
    return ensure_utc(value)


def _plan_batch(
    store: Store,
    reader: Session,
    ctx: PlanContext,
    ids: list[int],
    since: date | None,
    needs_history: bool,
    campaign_id: int | None,
    dry_run: bool,
    dnc: tuple[dict[int, set[str]], dict[str, set[str]]],
    result: PlanResult,
    load: PlanLoad,
    list_limit: int,
) -> None:
    conn = reader.connection()
    fetch = _raw_rows if store.dialect == "sqlite" else _core_rows
    customers = fetch(
        conn,
        select(
            Customer.id,
            Customer.customer_key,
            Customer.name,
            Customer.member,
            Customer.marketing_consent,
            Customer.language,
            Customer.region,
            Customer.time_zones,
            Customer.quiet_hours,
        ).where(Customer.id.in_(_IDS)),
        ids,
    )
    phones: dict[int, list[PhoneFacts]] = defaultdict(list)
    blocked_numbers = dnc[1]
    for cid, e164, ptype, voice_ok, sms_ok, unusable in fetch(
        conn,
        select(
            CustomerPhone.customer_id,
            CustomerPhone.e164,
            CustomerPhone.phone_type,
            CustomerPhone.voice_ok,
            CustomerPhone.sms_ok,
            CustomerPhone.unusable_reason,
        )
        .where(CustomerPhone.customer_id.in_(_IDS))
        .order_by(CustomerPhone.customer_id, CustomerPhone.rank),
        ids,
    ):
        blocked = frozenset(blocked_numbers[e164]) if e164 in blocked_numbers else _NONE
        phones[cid].append(PhoneFacts(e164, ptype, bool(voice_ok), bool(sms_ok), unusable, blocked))
    events: dict[int, list[EventFacts]] = defaultdict(list)
    if since is not None or needs_history:
        q = select(
            ServiceEvent.id,
            ServiceEvent.customer_id,
            ServiceEvent.service_date,
            ServiceEvent.service_at,
            ServiceEvent.service_type,
            ServiceEvent.mileage_km,
        ).where(ServiceEvent.customer_id.in_(_IDS))
        if since is not None:
            q = q.where(ServiceEvent.service_date >= since)
        for eid, cid, day, at, stype, km in fetch(conn, q, ids):
            events[cid].append(EventFacts(eid, _as_date(day), _as_utc(at), stype, km))
    existing: dict[int, list[str]] = defaultdict(list)
    still_open: list[tuple[int, datetime, bool]] = []  # earlier tasks that still need a call
    if campaign_id is not None:
        for cid, key, state, nxt, action, deadline, member in fetch(
            conn,
            select(
                CallbackTask.customer_id,
                CallbackTask.dedupe_key,
                CallbackTask.state,
                CallbackTask.next_attempt_at,
                CallbackTask.plan_action,
                CallbackTask.deadline,
                CallbackTask.member,
            ).where(CallbackTask.campaign_id == campaign_id, CallbackTask.customer_id.in_(_IDS)),
            ids,
        ):
            existing[cid].append(key)
            if state == TaskState.PENDING and nxt is not None and action is None:
                still_open.append((cid, _as_utc(deadline) or ctx.now, bool(member)))
    reader.rollback()  # end the read snapshot; writes go through their own transaction

    tasks: list[PlannedTask] = []
    people: dict[int, tuple[str | None, Reachee]] = {}
    blocked_customers = dnc[0]
    for cid, key, name, member, consent, language, region, zones, quiet in customers:
        facts = CustomerFacts(
            cid,
            key,
            name,
            bool(member),
            None if consent is None else bool(consent),
            language,
            region,
            _as_zones(zones),
            quiet,
            tuple(phones.get(cid, ())),
            frozenset(blocked_customers[cid]) if cid in blocked_customers else _NONE,
        )
        people[cid] = (language, facts.reachee())

        for d in decide(ctx, facts, events.get(cid, ()), existing.get(cid, ())):
            if isinstance(d, Skip):
                result.skipped[d.reason] += d.count
                if d.reason == "already_covered":
                    result.existing += d.count
                if len(result.skips) < list_limit:
                    result.skips.append(d)
            else:
                tasks.append(d)

    if not dry_run and tasks:
        assert campaign_id is not None
        with store.transaction() as session:
            made = _insert(session, store.dialect, tasks, campaign_id, ctx.now)
        for t in tasks:
            t.task_id = made.get((t.customer_id, t.dedupe_key))
        tasks = [t for t in tasks if t.task_id is not None]  # others: planned concurrently
    result.created += len(tasks)
    for cid, deadline, member in still_open:
        if deadline > ctx.now and cid in people:
            load.add(*people[cid], deadline, member)
    for t in tasks:
        result.members += t.member
        if t.state == TaskState.PENDING and t.next_attempt_at is not None and not t.infeasible:
            load.add(*people[t.customer_id], t.deadline, t.member)
        if len(result.planned) < list_limit:
            result.planned.append(t)
        if t.not_contactable:
            result.not_contactable_count += 1
            if len(result.not_contactable) < list_limit:
                result.not_contactable.append(t)
        if t.infeasible:
            result.infeasible_count += 1
            if len(result.infeasible) < list_limit:
                result.infeasible.append(t)
