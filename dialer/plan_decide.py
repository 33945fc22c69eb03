"""The planner's pure core: for one customer, which tasks to create (deadline, slack, priority,
first open time), which to skip and why, and what to do about a task that cannot be met.

No database and no clock: `now` comes in the `PlanContext`. The window maths is cached per
(window, start, deadline), since a million tasks share a few thousand of those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from dialer.campaigns import CampaignSpec
from dialer.models import (
    OutcomeName,
    PhoneType,
    TaskState,
)
from dialer.plan_model import (
    NEXT_OPEN_HORIZON,
    PRIORITY_SPAN,
    CustomerFacts,
    EventFacts,
    Infeasible,
    PhoneFacts,
    PlanAction,
    PlanContext,
    PlannedTask,
    Skip,
    SkipReason,
)
from dialer.windows import (
    Reachee,
    WindowPolicy,
    closed_reason,
    effective_zones,
    next_open,
    open_seconds,
)


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


WINDOW_CACHE = 1 << 17  # (window, start, deadline) keys remembered per plan run


def _slack_and_next(
    ctx: PlanContext, who: Reachee, start: datetime, deadline: datetime
) -> tuple[int, datetime | None]:
    """Open-window seconds in [start, deadline) and the first open time from start.

    Remembered per run (the policy is the run's): a million tasks share a few thousand
    (window, start minute, deadline) keys, since service times cluster and deadlines are
    end-of-day; the window maths is pure.
    """
    key = (who, start, deadline)
    found = ctx.windows.get(key)
    if found is None:
        slack = int(open_seconds(who, ctx.policy, start, deadline)) if deadline > start else 0
        found = (slack, next_open(who, ctx.policy, start, horizon=NEXT_OPEN_HORIZON))
        if len(ctx.windows) < WINDOW_CACHE:
            ctx.windows[key] = found
    return found


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
    choice = effective_zones(who, ctx.policy)
    task.zone_reason = choice.reason
    slack, nxt = _slack_and_next(ctx, who, start, deadline)
    task.slack_seconds = slack
    task.priority = (0 if task.member else 1) * PRIORITY_SPAN + min(slack, PRIORITY_SPAN - 1)
    if slack > 0 and nxt is not None and nxt < deadline:
        task.next_attempt_at = nxt
        return
    zone = _zones(cust, ctx.spec)[0]
    if deadline <= ctx.now:
        reason = f"the deadline {_local(deadline, zone)} has already passed"
    elif not choice.callable:
        reason = f"not callable by voice or SMS: {choice.reason}"
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
    if not choice.callable:
        action = "flagged for a supervisor: an agent decides whether and when to call"
    elif on == "sms" and "sms" in ctx.spec.channels:
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


def service_start(spec: CampaignSpec, event: EventFacts, customer_zone: str) -> datetime:
    """When the service took place, as the import and the campaign file say (issue 17, item 3).

    A time written with an offset is stored as that instant and wins. A time written without
    one is read in the trigger's time_zone when the campaign says `service_time_zone =
    "trigger"`, else in the customer's zone (as the import stored it). Without a time, the
    start of the service day in the customer's zone.
    """
    local = event.service_time_local
    if local is not None and (
        spec.trigger.service_time_zone == "trigger" or event.service_at is None
    ):
        zone = (
            spec.trigger.time_zone if spec.trigger.service_time_zone == "trigger" else customer_zone
        )
        return datetime.combine(event.service_date, time.fromisoformat(local), ZoneInfo(zone))
    if event.service_at is not None:
        return event.service_at
    return datetime.combine(event.service_date, time(0), ZoneInfo(customer_zone))


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
            start = service_start(spec, first, zones[0])
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
