"""What the planner works on and what it decides: customers' facts, planned tasks, skips, results.

Plain dataclasses shared by the pure core (`dialer.plan_decide`), the store shell
(`dialer.plan_store`) and `dialer.planner`, which re-exports them.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Final, Literal

from sqlalchemy import select

from dialer.area_codes import number_subdivisions
from dialer.campaigns import CampaignSpec
from dialer.capacity import (
    CapacityVerdict,
)
from dialer.models import (
    Customer,
    CustomerPhone,
    TaskState,
)
from dialer.windows import Reachee, WindowPolicy

BATCH_CUSTOMERS = 10_000
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
    window: Reachee | None = None  # the window of the number tried first (`reachee_of`)

    def reachee(self) -> Reachee:
        """The task's window: the stored one (first number), else the customer's zones."""
        if self.window is not None:
            return self.window
        return _reachee(self.time_zones, self.quiet_hours, self.region, self.marketing_consent)


@dataclass(frozen=True, slots=True)
class EventFacts:
    id: int
    service_date: date
    service_at: datetime | None = None
    service_type: str | None = None
    mileage_km: int | None = None
    service_time_local: str | None = None  # "HH:MM:SS" as written, without an offset


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
    zone_reason: str | None = (
        None  # `effective_zones`'s reason, when its zones did not simply apply
    )
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
            "zone_reason": self.zone_reason,
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
    windows: dict[tuple[Reachee, datetime, datetime], tuple[int, datetime | None]] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )  # (customer window, start, deadline) -> (slack seconds, first open time): plan_decide

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
    zone_count: int = 0  # tasks whose zones did not simply apply (`effective_zones` said why)
    zone_notes: list[PlannedTask] = field(default_factory=list)
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
            "time_zones": [
                {
                    "task_id": t.task_id,
                    "customer_id": t.customer_key,
                    "member": t.member,
                    "reason": t.zone_reason,
                }
                for t in self.zone_notes
            ],
            "time_zones_count": self.zone_count,
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
def reachee(
    zones: tuple[str, ...],
    quiet: str | None,
    region: str | None,
    consent: bool | None,
    subdivisions: tuple[str, ...] = (),
    address: str | None = None,
) -> Reachee:
    """What the calling window needs of a customer, from the stored columns (cached: shared)."""
    return Reachee(zones, _quiet_spans(quiet), region, consent, subdivisions, address)


def dialled_reachee(
    customer: Reachee,
    e164: str,
    phone_zones: Any,
    phone_region: str | None,
    zone_explicit: bool,
) -> Reachee:
    """The window of one call: the call rings at the dialled number, so that number's zones and
    its area code's state bind it. The customer's explicit zone column wins over the number's
    zones; a number with no zone of its own (toll-free) takes that explicit zone, else its
    country's safe window (`windows.effective_zones`), never the zones of the customer's other
    numbers, which ring elsewhere. The customer's address state (`Reachee.address`) goes with
    every call: its floor applies, and it gives a zone-less number its zones."""
    zones = customer.time_zones if zone_explicit else as_zones(phone_zones)
    return Reachee(
        zones,
        customer.quiet_hours,
        customer.region or phone_region,
        customer.marketing_consent,
        number_subdivisions(e164),
        customer.address,
    )


_reachee = reachee


def _first_phone(column: Any) -> Any:
    """A column of the customer's first number (rank 0, tried first), correlated to Customer."""
    return (
        select(column)
        .where(CustomerPhone.customer_id == Customer.id)
        .order_by(CustomerPhone.rank)
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )


REACHEE_COLUMNS: Final = (
    Customer.time_zones,
    Customer.quiet_hours,
    Customer.region,
    Customer.marketing_consent,
    Customer.time_zone_explicit,
    _first_phone(CustomerPhone.time_zones).label("first_phone_zones"),
    _first_phone(CustomerPhone.e164).label("first_phone"),
    Customer.subdivision,
)
"""The customer's columns the calling window needs, in `reachee_of`'s argument order: every query
that judges a customer's window selects `*REACHEE_COLUMNS` and reads them with `reachee_of` (or
`reachee_row`), so a column the window comes to need is added once, here. The window of a task
is that of the number tried first (its zones and its area code's state), unless the customer
file gave an explicit zone; the gate judges each call on the number it dials."""


@lru_cache(maxsize=4096)
def _zones_text(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text) or ())


def as_zones(value: Any) -> tuple[str, ...]:
    """Stored time zones as a tuple: a list from SQLAlchemy, JSON text from SQLite's own cursor."""
    if isinstance(value, str):
        return _zones_text(value)
    return tuple(value or ())


def reachee_of(
    zones: Any,
    quiet: str | None,
    region: str | None,
    consent: Any,
    explicit: Any = False,
    phone_zones: Any = None,
    phone: str | None = None,
    address: str | None = None,
) -> Reachee:
    """`reachee` from the values of `REACHEE_COLUMNS` as a driver returns them (zones as a list
    or JSON text, consent and flags as a bool or 0/1). With the first number (`phone`), its
    zones and state make the window unless the customer's zone is explicit; the address's state
    (`address`) adds its floor and gives a zone-less number its zones."""
    consent_ = None if consent is None else bool(consent)
    if phone is None:
        return reachee(as_zones(zones), quiet, region, consent_, (), address)
    own = as_zones(zones) if explicit else as_zones(phone_zones)
    return reachee(own, quiet, region, consent_, number_subdivisions(phone), address)


def reachee_row(r: Any) -> Reachee:
    """`reachee_of` from a result row that selected `*REACHEE_COLUMNS` (read by name)."""
    return reachee_of(
        r.time_zones,
        r.quiet_hours,
        r.region,
        r.marketing_consent,
        r.time_zone_explicit,
        r.first_phone_zones,
        r.first_phone,
        r.subdivision,
    )
