"""Coverage of a campaign: which callback tasks were reached in time, which are at risk, and the
member coverage against the 100% goal (會員客戶100%回訪), now or at a past instant.

The states (one per task, a partition; as docs/definitions.md defines them, at an instant `at`):

- **in_time**: reached (`reached_at <= at`) with `reached_at <= deadline`.
- **late**: reached with `reached_at > deadline` (an `extend` campaign's late reach).
- **not_contactable**: not reached, and the task ended `not_contactable` (no valid number,
  opted out before, no consent) by `at`. Counted apart, never as breached, but a not-contactable
  member stays in the member-coverage denominator from the moment it is known (docs/definitions.md).
- **breached**: not reached, not contactable, and `deadline < at`, whatever the task's state
  (still open, ended `not_reached`, or cancelled by a stopped campaign: the member was not called
  back in time either way).
- **at_risk**: not reached and `deadline >= at`, and either
  - the task ended unreached (`not_reached`: attempts exhausted, or `cancelled`) before its
    deadline — nothing more will be tried, so it will breach unless someone acts; or
  - it is open and its **slack** (the open calling-window seconds left before the deadline, the
    planner's measure, `dialer.windows.open_seconds` with the campaign's window policy) is less
    than the window time the attempts still allowed need (`needed_seconds`): on the campaign's
    first channel, the spacing between the remaining tries (with backoff, as
    `attempt_status.follow_up` spaces them) plus one call's `min_open` (ring timeout + handle
    time). Spacing is counted as if it all fell inside open hours: a conservative rule (it flags
    a little early when spacing would pass overnight). Once the first channel is used up, an SMS
    fallback needs any open time at all (slack >= 1 s), a person one call's `min_open`; with no
    fallback nothing is allowed any more and the task is at risk.
  - it is open and the campaign's **capacity** cannot reach it before its deadline
    (`capacity_short`, stored by the slack refresh: `dialer.capacity_risk` runs the one capacity
    model of `dialer plan` over the campaign's open tasks — agents with the skill, or the
    dispatcher's calls per second — serving members first, then the earliest deadline, as the
    dispatcher and the assignment order work; the tasks at the end of that order which the
    shortfall covers are short). E.g. 2 agents and 500 member tasks due tomorrow: the ones the
    agents cannot reach by tomorrow are at risk now, however much window slack each one has.
- **pending**: open, `deadline >= at`, and not at risk (or its slack is unknown: NULL).

Beside them, **notified_only** counts tasks not reached by `at` but notified (`notified_at <= at`:
a delivered SMS, a voicemail left) — shown beside coverage, never counted as reached.

**Member coverage** = members in_time ÷ members decided (in_time + late + breached +
not_contactable); None when nothing is decided yet. It is not a headline on its own (3 of 13
members reached and the rest pending is 100%): `dialer.coverage_verdict` gives the headline and
the verdict every screen shows. `member_rows_rejected` is the number of distinct import rows
(by content, `rejected_rows.content_sha256`) flagged as members that imports started by `at`
rejected: imports are not tied to a campaign, so the same store-wide figure is shown beside
every campaign; a file imported twice counts its rows once, and a row rejected on Monday and
fixed on Tuesday still counts once.

**Now** (no `at` given) is one aggregate query per campaign over stored columns: state, deadline,
reached_at, notified_at, attempts_made, `slack_seconds` and `capacity_short`, which
`refresh_slack` keeps fresh (the runner calls it every few minutes; the planner sets slack at
creation, a new task is not short until the next refresh). Both are at most one refresh old
(slack only shrinks, so window at-risk may lag by one refresh interval; capacity at-risk follows
the agents and the open tasks as of the last refresh, both ways). Outcomes need no refresh: a
reached or ended task's slack and flag are not read, and attempts_made is read live.
`at_risk_by_capacity` counts, among the at-risk open tasks, those stored as short (whatever their
slack); `--list at-risk` gives each task's causes: `ended`, `window`, `capacity` (both of the
last two when both hold).

**History** (`at` in the past): a task counts only if `created_at <= at`; reached and notified by
their timestamps; an ended task (`not_reached`, `not_contactable`, `cancelled`) is taken to have
ended at its `updated_at` (the last change of an ended task; an approximation, since an ended
task is rarely touched again). For tasks open at `at`, the slack at `at` is recomputed from the
windows (cached per customer window and deadline) and the attempts made by `at` are counted from
the attempt rows created by then, so the window half of at-risk in the past is the same rule,
not an estimate. The **capacity** half is not reconstructed for a past instant: who was active,
their shifts and calls already made that day, and the dispatcher's rate then are not stored, and
the flag kept on a task is only the latest refresh's. So history applies the window rule alone
(and `at_risk_by_capacity` is 0): a past instant may show fewer tasks at risk than "now" showed
at the time, when capacity was short then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from dialer.attempts import CampaignBook
from dialer.campaigns import CampaignSpec
from dialer.capacity import AUTOMATED_CPS
from dialer.capacity_risk import CapacityLoad, active_staff, capacity_reason, short_tasks
from dialer.coverage_verdict import Headline, headline
from dialer.errors import NotFoundError
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    Customer,
    CustomerPhone,
    ImportRun,
    RejectedRow,
    TaskState,
)
from dialer.plan_model import REACHEE_COLUMNS, reachee_row
from dialer.windows import Reachee, WindowPolicy, open_seconds

State = Literal["in_time", "late", "pending", "at_risk", "breached", "not_contactable"]
STATES: tuple[State, ...] = (
    "in_time",
    "late",
    "pending",
    "at_risk",
    "breached",
    "not_contactable",
)
DECIDED: tuple[State, ...] = ("in_time", "late", "breached", "not_contactable")
OPEN_STATES = (TaskState.PENDING, TaskState.IN_PROGRESS)
ENDED_UNREACHED = (TaskState.NOT_REACHED, TaskState.CANCELLED)
_OPEN = "open"  # history mode: open at `at`, split into pending / at_risk in Python


# ------------------------------------------------------------------------- the at-risk rule


@dataclass(frozen=True, slots=True)
class RiskRule:
    """What the attempts still allowed need of the open window, per attempts already made."""

    needed: tuple[int, ...]  # needed[a]: seconds of open window after `a` tries, a < max_attempts
    fallback: int | None  # once the first channel is used up; None: nothing more is allowed

    def needed_seconds(self, attempts_made: int) -> int | None:
        """Open-window seconds the tries still allowed need; None when no try is allowed."""
        if 0 <= attempts_made < len(self.needed):
            return self.needed[attempts_made]
        return self.fallback


def risk_rule(spec: CampaignSpec) -> RiskRule:
    """The campaign's rule (module docstring): remaining spacing with backoff + one call."""
    first = spec.channels[0]
    policy = spec.attempt_policy(first)
    call = int(spec.min_open().total_seconds())
    m = policy.max_attempts
    needed = []
    for made in range(m):
        waits = sum(
            policy.spacing.total_seconds() * policy.backoff ** (n - 1) for n in range(made + 1, m)
        )
        needed.append(int(waits) + call)
    fallback: int | None = None
    if len(spec.channels) > 1:
        fallback = 1 if spec.channels[1] == "sms" else max(call, 1)
    return RiskRule(tuple(needed), fallback)


def is_at_risk(slack: int | None, attempts_made: int, rule: RiskRule) -> bool:
    """An open task is at risk when its slack cannot fit the tries still allowed."""
    if slack is None:
        return False
    needed = rule.needed_seconds(attempts_made)
    return needed is None or slack < needed


def classify(
    at: datetime,
    *,
    deadline: datetime,
    created_at: datetime,
    state: str,
    reached_at: datetime | None,
    ended_at: datetime | None,
    slack: int | None,
    attempts_made: int,
    rule: RiskRule,
    short: bool = False,
) -> State | None:
    """The task's coverage state at `at` (None: it did not exist yet). `ended_at` is when an
    ended task ended (its updated_at); `short` the stored capacity flag (now only); the SQL in
    `category_case` is this function, row by row."""
    if created_at > at:
        return None
    if reached_at is not None and reached_at <= at:
        return "in_time" if reached_at <= deadline else "late"
    ended = (
        state not in (*OPEN_STATES, TaskState.REACHED) and ended_at is not None and ended_at <= at
    )
    if ended and state == TaskState.NOT_CONTACTABLE:
        return "not_contactable"
    if deadline < at:
        return "breached"
    if ended:
        return "at_risk"
    return "at_risk" if short or is_at_risk(slack, attempts_made, rule) else "pending"


# ------------------------------------------------------------------------------ the report


@dataclass
class CampaignCoverage:
    slug: str
    name: str
    goal: float  # fraction, from planning.member_coverage_goal
    members: Counter[str] = field(default_factory=Counter)
    non_members: Counter[str] = field(default_factory=Counter)
    notified_only: Counter[str] = field(default_factory=Counter)  # "members" / "non_members"
    # of the at-risk ones, those the capacity cannot reach ("members" / "non_members"; now only)
    at_risk_capacity: Counter[str] = field(default_factory=Counter)
    member_rows_rejected: int = 0

    @property
    def member_coverage(self) -> float | None:
        decided = sum(self.members[s] for s in DECIDED)
        return self.members["in_time"] / decided if decided else None

    @property
    def headline(self) -> Headline:
        """What every screen shows first, and the verdict (`dialer.coverage_verdict`)."""
        return headline(self.members, self.goal)

    @property
    def failing(self) -> bool:
        """What `--check` fails on: a member breached or at risk, or the goal missed."""
        return bool(self.headline.failures())

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.slug,
            "name": self.name,
            "members": {s: self.members[s] for s in STATES},
            "non_members": {s: self.non_members[s] for s in STATES},
            "notified_only": {
                "members": self.notified_only["members"],
                "non_members": self.notified_only["non_members"],
            },
            "at_risk_by_capacity": {
                "members": self.at_risk_capacity["members"],
                "non_members": self.at_risk_capacity["non_members"],
            },
            "member_coverage": self.member_coverage,
            "member_coverage_goal": self.goal,
            "member_rows_rejected": self.member_rows_rejected,
            "headline": self.headline.as_json(),
        }


@dataclass
class CoverageReport:
    at: datetime
    history: bool
    campaigns: list[CampaignCoverage]

    @property
    def failing(self) -> bool:
        return any(c.failing for c in self.campaigns)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "history": self.history,
            "campaigns": [c.as_json() for c in self.campaigns],
        }


@dataclass(frozen=True, slots=True)
class RiskEntry:
    """One customer in `--list at-risk`: who, and why."""

    task_id: int
    campaign: str
    customer_key: str
    name: str
    member: bool
    phone: str | None  # E.164; the CLI masks it
    deadline: datetime
    slack_seconds: int | None
    attempts_made: int
    reason: str
    causes: tuple[str, ...] = ()  # "ended", "window" (slack), "capacity", "zones"


# ------------------------------------------------------------------------------- SQL


def category_case(at: datetime, rule: RiskRule, history: bool) -> ColumnElement[str]:
    """`classify` as one CASE over stored columns (history: open tasks come back as "open")."""
    t = CallbackTask
    reached = and_(t.reached_at.is_not(None), t.reached_at <= at)
    ended = and_(
        t.state.not_in((*OPEN_STATES, TaskState.REACHED)),
        t.updated_at <= at if history else literal(True),
    )
    whens: list[tuple[ColumnElement[bool], Any]] = [
        (and_(reached, t.reached_at <= t.deadline), literal("in_time")),
        (reached, literal("late")),
        (and_(ended, t.state == TaskState.NOT_CONTACTABLE), literal("not_contactable")),
        (t.deadline < at, literal("breached")),
        (ended, literal("at_risk")),
    ]
    if history:
        return case(*whens, else_=literal(_OPEN))
    needed = case(
        *((t.attempts_made == a, literal(n)) for a, n in enumerate(rule.needed)),
        else_=literal(rule.fallback if rule.fallback is not None else 1 << 62),
    )
    window_short = and_(t.slack_seconds.is_not(None), t.slack_seconds < needed)
    whens.append((or_(window_short, t.capacity_short.is_(True)), literal("at_risk")))
    return case(*whens, else_=literal("pending"))


def _notified(at: datetime) -> ColumnElement[int]:
    t = CallbackTask
    not_reached = or_(t.reached_at.is_(None), t.reached_at > at)
    return case((and_(not_reached, t.notified_at.is_not(None), t.notified_at <= at), 1), else_=0)


def member_rows_rejected(session: Session, at: datetime) -> int:
    """Distinct member rows rejected by imports started by `at` (store-wide: imports have no
    campaign): the same row rejected by two imports (a file imported twice) counts once."""
    r = RejectedRow
    got = session.scalar(
        select(func.count(func.distinct(r.content_sha256)))
        .join(ImportRun, ImportRun.id == r.import_run_id)
        .where(r.member.is_(True), ImportRun.started_at <= at)
    )
    return int(got or 0)


def _campaigns(session: Session, slug: str | None) -> list[tuple[int, str, str]]:
    query = select(Campaign.id, Campaign.slug, Campaign.name).order_by(Campaign.slug)
    if slug is not None:
        query = query.where(Campaign.slug == slug)
    rows = [(r.id, r.slug, r.name) for r in session.execute(query)]
    if slug is not None and not rows:
        raise NotFoundError(f"no planned campaign named {slug!r}; run `dialer plan {slug}` first")
    return rows


def coverage(
    session: Session,
    book: CampaignBook,
    now: datetime,
    *,
    campaign: str | None = None,
    at: datetime | None = None,
) -> CoverageReport:
    """Coverage of one campaign (or all) now, or at a past instant `at` (history mode)."""
    history = at is not None and at < now
    when = at if at is not None else now
    book.refresh(session)
    rejected = member_rows_rejected(session, when)
    report = CoverageReport(when, history, [])
    for cid, slug, name in _campaigns(session, campaign):
        spec = book.spec(cid)
        rule = risk_rule(spec)
        cov = CampaignCoverage(slug, name, spec.planning.member_coverage_goal / 100.0)
        cov.member_rows_rejected = rejected
        if history:
            _history_counts(session, cov, cid, slug, spec, rule, when)
        else:
            _now_counts(session, cov, cid, rule, when)
        report.campaigns.append(cov)
    return report


def _one(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((cond, 1), else_=0))


def _now_counts(
    session: Session, cov: CampaignCoverage, cid: int, rule: RiskRule, at: datetime
) -> None:
    """`classify` for every task as one pass grouped by (state, member): the order of the
    covering index `ix_callback_tasks_coverage`, so no sort and no table read. What depends only
    on the state (not contactable, ended) is applied per group in Python; the rest is summed."""
    t = CallbackTask
    reached = and_(t.reached_at.is_not(None), t.reached_at <= at)
    unreached = or_(t.reached_at.is_(None), t.reached_at > at)
    needed = case(
        *((t.attempts_made == a, literal(n)) for a, n in enumerate(rule.needed)),
        else_=literal(rule.fallback if rule.fallback is not None else 1 << 62),
    )
    short = t.capacity_short.is_(True)
    rows = session.execute(
        select(
            t.state,
            t.member,
            _one(and_(reached, t.reached_at <= t.deadline)),
            _one(and_(reached, t.reached_at > t.deadline)),
            _one(and_(unreached, t.deadline < at)),
            _one(
                and_(
                    unreached,
                    t.deadline >= at,
                    or_(and_(t.slack_seconds.is_not(None), t.slack_seconds < needed), short),
                )
            ),
            _one(and_(unreached, t.deadline >= at, short)),
            _one(and_(unreached, t.notified_at.is_not(None), t.notified_at <= at)),
            func.count(),
        )
        .where(t.campaign_id == cid, t.created_at <= at)
        .group_by(t.state, t.member)
    )
    for state, member, in_time, late, past, risky, by_capacity, notified, n in rows:
        counter = cov.members if member else cov.non_members
        counter["in_time"] += int(in_time or 0)
        counter["late"] += int(late or 0)
        cov.notified_only["members" if member else "non_members"] += int(notified or 0)
        rest = int(n) - int(in_time or 0) - int(late or 0)
        if state == TaskState.NOT_CONTACTABLE:
            counter["not_contactable"] += rest
        elif state in (*OPEN_STATES, TaskState.REACHED):
            counter["breached"] += int(past or 0)
            counter["at_risk"] += int(risky or 0)
            counter["pending"] += rest - int(past or 0) - int(risky or 0)
            cov.at_risk_capacity["members" if member else "non_members"] += int(by_capacity or 0)
        else:  # ended unreached before `at`: breached past the deadline, else at risk
            counter["breached"] += int(past or 0)
            counter["at_risk"] += rest - int(past or 0)
    for counter in (cov.members, cov.non_members, cov.notified_only, cov.at_risk_capacity):
        for key in [k for k, v in counter.items() if not v]:
            del counter[key]


def _history_counts(
    session: Session,
    cov: CampaignCoverage,
    cid: int,
    slug: str,
    spec: CampaignSpec,
    rule: RiskRule,
    at: datetime,
) -> None:
    """At a past instant: the state CASE over stored timestamps, then the tasks open then split
    into pending / at risk with the slack and tries recomputed for that instant."""
    inner = (
        select(
            CallbackTask.member.label("member"),
            category_case(at, rule, history=True).label("cat"),
            _notified(at).label("notified"),
        )
        .where(CallbackTask.campaign_id == cid, CallbackTask.created_at <= at)
        .subquery()
    )
    rows = session.execute(
        select(inner.c.member, inner.c.cat, inner.c.notified, func.count()).group_by(
            inner.c.member, inner.c.cat, inner.c.notified
        )
    )
    for member, cat, notified, n in rows:
        if notified:
            cov.notified_only["members" if member else "non_members"] += n
        if cat != _OPEN:
            (cov.members if member else cov.non_members)[cat] += n
    for entry, risky in _open_at(session, cid, slug, spec, rule, at):
        counter = cov.members if entry.member else cov.non_members
        counter["at_risk" if risky else "pending"] += 1


# ------------------------------------------------------------------------- history and lists


_OPEN_BATCH = 5000


def _slack_at(
    cache: dict[tuple[Reachee, datetime], int],
    who: Reachee,
    policy: WindowPolicy,
    at: datetime,
    deadline: datetime,
) -> int:
    """Open-window seconds in [at, deadline): the planner's slack, cached per (window, deadline)."""
    key = (who, deadline)
    got = cache.get(key)
    if got is None:
        got = cache[key] = int(open_seconds(who, policy, at, deadline)) if deadline > at else 0
        if len(cache) > 1 << 17:
            cache.clear()
    return got


def _task_rows(session: Session, where: Sequence[ColumnElement[bool]], after: int) -> list[Any]:
    t, c = CallbackTask, Customer
    phone = (
        select(CustomerPhone.e164)
        .where(CustomerPhone.customer_id == t.customer_id)
        .order_by(CustomerPhone.rank)
        .limit(1)
        .scalar_subquery()
    )
    return list(
        session.execute(
            select(
                t.id,
                t.member,
                t.deadline,
                t.slack_seconds,
                t.attempts_made,
                t.state,
                t.capacity_short,
                t.zone_reason,
                c.customer_key,
                c.name,
                *REACHEE_COLUMNS,
                phone.label("phone"),
            )
            .join(c, c.id == t.customer_id)
            .where(*where, t.id > after)
            .order_by(t.id)
            .limit(_OPEN_BATCH)
        )
    )


def _attempts_by(session: Session, ids: list[int], at: datetime) -> dict[int, int]:
    rows = session.execute(
        select(Attempt.task_id, func.count())
        .where(
            Attempt.task_id.in_(ids),
            Attempt.created_at <= at,
            Attempt.state != AttemptState.CANCELLED,
        )
        .group_by(Attempt.task_id)
    )
    return {tid: int(n) for tid, n in rows}


def _open_at(
    session: Session, cid: int, slug: str, spec: CampaignSpec, rule: RiskRule, at: datetime
) -> Iterable[tuple[RiskEntry, bool]]:
    """Tasks open at a past `at`, each with whether it was at risk then (recomputed, see above)."""
    policy = spec.window_policy()
    cache: dict[tuple[Reachee, datetime], int] = {}
    where = [
        CallbackTask.campaign_id == cid,
        CallbackTask.created_at <= at,
        category_case(at, rule, history=True) == _OPEN,
    ]
    after = 0
    while True:
        rows = _task_rows(session, where, after)
        if not rows:
            return
        after = rows[-1].id
        made = _attempts_by(session, [r.id for r in rows], at)
        for r in rows:
            who = reachee_row(r)
            slack = _slack_at(cache, who, policy, at, r.deadline)
            tries = made.get(r.id, 0)
            entry = _entry(r, slug, rule, slack, tries, ended=False)
            yield entry, is_at_risk(slack, tries, rule)


def _fmt(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m"


def _window_reason(rule: RiskRule, slack: int | None, tries: int) -> str:
    needed = rule.needed_seconds(tries)
    left = _fmt(slack or 0)
    if needed is None:
        return f"{tries} tries made, none allowed any more; {left} of open window left"
    return f"{left} of open window left before the deadline, the tries still allowed need {_fmt(needed)}"


def _why(
    rule: RiskRule, slack: int | None, tries: int, ended: str | None, short: str | None
) -> tuple[tuple[str, ...], str]:
    """(causes, reason): ended unreached, or window slack short, or capacity short (`short` is
    the capacity reason when the task is stored as short), or both of the last two."""
    if ended == TaskState.NOT_REACHED:
        return ("ended",), "attempts exhausted before the deadline: nothing more will be tried"
    if ended is not None:
        return ("ended",), f"task {ended} before the deadline: nothing more will be tried"
    causes, parts = [], []
    if is_at_risk(slack, tries, rule):
        causes.append("window")
        parts.append(_window_reason(rule, slack, tries))
    if short is not None:
        causes.append("capacity")
        parts.append(short)
    return tuple(causes), "; ".join(parts) or _window_reason(rule, slack, tries)


def _entry(
    r: Any,
    slug: str,
    rule: RiskRule,
    slack: int | None,
    tries: int,
    ended: bool,
    short: str | None = None,
) -> RiskEntry:
    causes, reason = _why(rule, slack, tries, r.state if ended else None, short)
    if r.zone_reason:  # the zones did not simply apply: say so by name (`effective_zones`)
        causes += ("zones",)
        reason += f"; time zones: {r.zone_reason}"
    return RiskEntry(
        task_id=r.id,
        campaign=slug,
        customer_key=r.customer_key,
        name=r.name,
        member=bool(r.member),
        phone=r.phone,
        deadline=r.deadline,
        slack_seconds=slack,
        attempts_made=tries,
        reason=reason,
        causes=causes,
    )


def at_risk(
    session: Session,
    book: CampaignBook,
    now: datetime,
    *,
    campaign: str | None = None,
    at: datetime | None = None,
    limit: int = 100,
) -> list[RiskEntry]:
    """The customers at risk (members first, then least slack), each with why; at most `limit`."""
    history = at is not None and at < now
    when = at if at is not None else now
    book.refresh(session)
    found: list[RiskEntry] = []
    for cid, slug, _ in _campaigns(session, campaign):
        spec = book.spec(cid)
        rule = risk_rule(spec)
        why_short = capacity_reason(spec)
        base = [CallbackTask.campaign_id == cid, CallbackTask.created_at <= when]
        ended_where = [*base, category_case(when, rule, history) == "at_risk"]
        if history:
            ended_where.append(CallbackTask.state.in_(ENDED_UNREACHED))
            found += [
                entry for entry, risky in _open_at(session, cid, slug, spec, rule, when) if risky
            ]
        after = 0
        while True:
            rows = _task_rows(session, ended_where, after)
            if not rows:
                break
            after = rows[-1].id
            for r in rows:
                ended = r.state in ENDED_UNREACHED
                short = why_short if r.capacity_short and not history else None
                found.append(_entry(r, slug, rule, r.slack_seconds, r.attempts_made, ended, short))
    found.sort(key=lambda e: (not e.member, e.slack_seconds or 0, e.deadline, e.task_id))
    return found[:limit]


# ------------------------------------------------------------------------------ slack refresh


REFRESH_BATCH = 5000


def refresh_slack(
    session: Session,
    book: CampaignBook,
    now: datetime,
    limit: int = 0,
    *,
    cps: float = AUTOMATED_CPS,
    capacity: bool = True,
) -> int:
    """Recompute `slack_seconds` of open tasks as the open-window seconds in [now, deadline), and
    `capacity_short` (the campaign's capacity cannot reach the task before its deadline).

    Run by the runner every few minutes, so `coverage` at "now" reads both from the rows.
    Batches of REFRESH_BATCH by task id (bounded memory for the slack); window maths cached per
    (customer window, deadline), as the planner does: `now` is the same for the whole pass. The
    same pass gathers each campaign's open tasks into the capacity model's classes (a few ints
    per task), then `dialer.capacity_risk.short_tasks` says which of them are short, with the
    active agents and the dispatcher's `cps`. `limit` > 0 stops after that many tasks (the rest
    wait for the next pass) and then leaves the capacity flags alone, since the model needs every
    open task of a campaign (as does `capacity=False`: the slack alone, the benchmark's
    baseline). Returns the tasks updated (only changed values are written).
    """
    book.refresh(session)
    t, c = CallbackTask, Customer
    policies: dict[int, WindowPolicy] = {}
    caches: dict[int, dict[tuple[Reachee, datetime], int]] = {}
    loads: dict[int, CapacityLoad] = {}
    flagged: set[int] = set()  # open tasks stored as short now
    after, seen, changed = 0, 0, 0
    complete = False
    while True:
        size = REFRESH_BATCH if limit <= 0 else min(REFRESH_BATCH, limit - seen)
        if size <= 0:
            break
        rows = session.execute(
            select(
                t.id,
                t.campaign_id,
                t.deadline,
                t.slack_seconds,
                t.member,
                t.priority,
                t.attempts_made,
                t.capacity_short,
                c.language,
                *REACHEE_COLUMNS,
            )
            .join(c, c.id == t.customer_id)
            .where(t.state.in_(OPEN_STATES), t.id > after)
            .order_by(t.id)
            .limit(size)
        ).all()
        if not rows:
            complete = True
            break
        after = rows[-1].id
        seen += len(rows)
        updates = []
        for r in rows:
            load = loads.get(r.campaign_id)
            if load is None:
                spec = book.spec(r.campaign_id)
                policies[r.campaign_id] = spec.window_policy()
                load = loads[r.campaign_id] = CapacityLoad(spec)
            who = reachee_row(r)
            cache = caches.setdefault(r.campaign_id, {})
            slack = _slack_at(cache, who, policies[r.campaign_id], now, r.deadline)
            if slack != r.slack_seconds:
                updates.append({"b_id": r.id, "b_slack": slack})
            if r.capacity_short:
                flagged.add(r.id)
            if capacity and r.deadline > now:
                load.add(
                    r.id,
                    language=r.language,
                    who=who,
                    deadline=r.deadline,
                    member=r.member,
                    priority=r.priority or 0,
                    attempts_made=r.attempts_made or 0,
                )
        if updates:
            session.execute(_SET_SLACK, updates, execution_options={"synchronize_session": False})
            changed += len(updates)
    if not complete or not capacity:
        return changed
    staff = (
        active_staff(session) if any(x.spec.handled_by == "agents" for x in loads.values()) else []
    )
    short: set[int] = set()
    for load in loads.values():
        short |= short_tasks(load, staff, now, cps=cps)
    flips = [{"b_id": i, "b_short": True} for i in sorted(short - flagged)]
    flips += [{"b_id": i, "b_short": False} for i in sorted(flagged - short)]
    if flips:
        session.execute(_SET_SHORT, flips, execution_options={"synchronize_session": False})
    return changed + len(flips)


def _task_update(**values: Any) -> Any:
    """An executemany UPDATE of one task row by `b_id` (no ORM: the tick writes thousands)."""
    table = CallbackTask.__table__
    return update(table).where(table.c.id == bindparam("b_id")).values(**values)  # type: ignore[arg-type]


_SET_SLACK = _task_update(slack_seconds=bindparam("b_slack"))
_SET_SHORT = _task_update(capacity_short=bindparam("b_short"))

__all__ = [
    "STATES",
    "CampaignCoverage",
    "CoverageReport",
    "RiskEntry",
    "RiskRule",
    "at_risk",
    "classify",
    "coverage",
    "is_at_risk",
    "member_rows_rejected",
    "refresh_slack",
    "risk_rule",
]
