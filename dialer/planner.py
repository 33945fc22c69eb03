"""The planner: turns customers and service events into callback tasks with deadline and priority.

Pure core, thin shell. `decide(...)` is a pure function of one customer's facts, their candidate
triggers and the dedupe keys already planned for them; `plan_campaign(...)` is the shell that reads
customers in keyset-paginated batches (a few queries per batch of customers, never one per row),
calls `decide` and writes each batch with multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING`
(`dialer.plan_store`), committing batch by batch (re-running after a crash only adds what is
missing). An infeasible task carries the decision on its row (`plan_action` sms / extend / flag,
`plan_reason`, `earliest_possible_at`); the capacity verdict comes from `dialer.capacity` over
every open task of the campaign.

The concepts live in their own modules, all re-exported here: `plan_model` (facts, planned tasks,
results), `plan_decide` (the pure core) and `plan_store` (reads and writes).

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

import time as _time
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from dialer.campaigns import CampaignSpec
from dialer.capacity import (
    ANSWER_RATE,
    AUTOMATED_CPS,
    CapacityVerdict,
    PlanLoad,
    expected_attempts,
    plan_capacity,
)
from dialer.capacity_risk import active_staff
from dialer.clock import Clock, ensure_utc
from dialer.models import (
    CallbackTask,
    Campaign,
    Customer,
    CustomerPhone,
    ServiceEvent,
    TaskState,
)
from dialer.plan_decide import (
    contact_problem,
    decide,
    maintenance_due,
    occurrence_for,
)
from dialer.plan_model import (  # noqa: F401
    BATCH_CUSTOMERS,
    LIST_LIMIT,
    NEXT_OPEN_HORIZON,
    PRIORITY_SPAN,
    REACHEE_COLUMNS,
    CustomerFacts,
    EventFacts,
    Infeasible,
    PhoneFacts,
    PlanAction,
    PlanContext,
    PlannedTask,
    PlanResult,
    Skip,
    SkipReason,
    _quiet_spans,
    _reachee,
    as_zones,
    reachee_of,
)
from dialer.plan_store import (
    BATCH_IDS,
    NO_BLOCKS,
    as_date,
    as_utc,
    core_rows,
    do_not_contact,
    id_batches,
    insert_tasks,
    raw_rows,
    upsert_campaign,
)
from dialer.store import Store
from dialer.windows import Reachee

__all__ = [
    "ANSWER_RATE",
    "AUTOMATED_CPS",
    "BATCH_CUSTOMERS",
    "LIST_LIMIT",
    "NEXT_OPEN_HORIZON",
    "PRIORITY_SPAN",
    "CapacityVerdict",
    "CustomerFacts",
    "EventFacts",
    "Infeasible",
    "PhoneFacts",
    "PlanAction",
    "PlanContext",
    "PlanResult",
    "PlannedTask",
    "Skip",
    "SkipReason",
    "contact_problem",
    "decide",
    "expected_attempts",
    "maintenance_due",
    "occurrence_for",
    "plan_campaign",
    "upsert_campaign",
]


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
        dnc_customer, dnc_number = do_not_contact(session, spec.purpose)
        staff = active_staff(session)
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
        for ids in id_batches(reader, id_query, batch_customers):
            _plan_batch(
                store, reader, ctx, ids, since, needs_history, campaign_id, dry_run,
                (dnc_customer, dnc_number), result, load, list_limit,
            )  # fmt: skip

    result.capacity = plan_capacity(spec, load, staff, max(now, occurrence or now))
    result.seconds = max(clock.monotonic() - began, _time.perf_counter() - wall)
    return result


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
    fetch = raw_rows if store.dialect == "sqlite" else core_rows
    customers = fetch(
        conn,
        select(
            Customer.id,
            Customer.customer_key,
            Customer.name,
            Customer.member,
            Customer.language,
            *REACHEE_COLUMNS,
        ).where(Customer.id.in_(BATCH_IDS)),
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
        .where(CustomerPhone.customer_id.in_(BATCH_IDS))
        .order_by(CustomerPhone.customer_id, CustomerPhone.rank),
        ids,
    ):
        blocked = frozenset(blocked_numbers[e164]) if e164 in blocked_numbers else NO_BLOCKS
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
            ServiceEvent.service_time_local,
        ).where(ServiceEvent.customer_id.in_(BATCH_IDS))
        if since is not None:
            q = q.where(ServiceEvent.service_date >= since)
        for eid, cid, day, at, stype, km, local in fetch(conn, q, ids, 1):
            events[cid].append(EventFacts(eid, as_date(day), as_utc(at), stype, km, local))
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
            ).where(
                CallbackTask.campaign_id == campaign_id, CallbackTask.customer_id.in_(BATCH_IDS)
            ),
            ids,
        ):
            existing[cid].append(key)
            if state == TaskState.PENDING and nxt is not None and action is None:
                still_open.append((cid, as_utc(deadline) or ctx.now, bool(member)))
    reader.rollback()  # end the read snapshot; writes go through their own transaction

    tasks: list[PlannedTask] = []
    people: dict[int, tuple[str | None, Reachee]] = {}
    blocked_customers = dnc[0]
    for cid, key, name, member, language, zones, quiet, region, consent, *first in customers:
        who = reachee_of(zones, quiet, region, consent, *first)
        facts = CustomerFacts(
            cid,
            key,
            name,
            bool(member),
            who.marketing_consent,
            language,
            region,
            as_zones(zones),
            quiet,
            tuple(phones.get(cid, ())),
            frozenset(blocked_customers[cid]) if cid in blocked_customers else NO_BLOCKS,
            who,
        )
        people[cid] = (language, who)

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
            made = insert_tasks(session, store.dialect, tasks, campaign_id, ctx.now)
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
        if t.zone_reason:
            result.zone_count += 1
            if len(result.zone_notes) < list_limit:
                result.zone_notes.append(t)
