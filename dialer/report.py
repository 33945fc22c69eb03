"""The summary report of a campaign (回訪總結報告): the figures, gathered by aggregate queries.

What it analyses (docs/coverage-and-reports.md, the summary report), all at one instant `at` (now,
or a past instant for a report as it stood then):

- **target achievement**: `dialer.coverage` at `at`: the headline and verdict of
  `dialer.coverage_verdict` (reached in time X of N members; goal met only once every member
  is decided), member coverage (reached in time ÷ decided) against the goal, the coverage
  states of members and non-members;
- **list use** (清單利用): tasks in the list, tried (at least one attempt, not cancelled),
  reached (`reached_at <= at`), notified only (notified, not reached), exhausted (ended
  `not_reached`), not contactable; attempts per reach (attempts ÷ reached tasks); the channel
  mix (attempts per channel, and reaches per channel from the outcome's channel);
- **outcomes**: every outcome recorded by `at`; satisfied / average / unsatisfied shares
  (of the three) and the reasons given for average and unsatisfied answers;
- **complaints** by reason and by state: now, as stored (`dialer.cases.complaint_counts`); at a
  past instant, as they stood then, from the case steps (`dialer.case_history`);
- **agent performance** (員工績效): per agent, tasks handled, attempts, reached, reach rate,
  handle time and the satisfaction of the outcomes they recorded (`dialer.report_agents`);
- **refusals and opt-outs** (拒絕客戶分析): refused, opted out and wrong-number outcomes, with
  their reasons;
- **coverage over time**: at every step (6 h, or a day when the campaign spans more than 14
  days; at most MAX_POINTS points) from the first task's creation to `at`, and at `at` itself,
  the share of member tasks (created by then) reached in time by then (`progress`: it ends at
  member coverage once every member is decided), beside member coverage proper; drawn against
  the goal and the last deadline.

Only counts leave the database: no phone number, no customer name (agent names are shown).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from dialer.attempts import CampaignBook
from dialer.case_history import complaint_counts_at
from dialer.cases import ComplaintCounts, complaint_counts
from dialer.coverage import DECIDED, STATES, CampaignCoverage, coverage, risk_rule
from dialer.coverage import category_case as coverage_category
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    Outcome,
    OutcomeName,
    TaskState,
)
from dialer.records import find_campaign
from dialer.report_agents import AgentRow, agent_rows

MAX_POINTS = 120
SATISFACTION = (OutcomeName.SATISFIED, OutcomeName.AVERAGE, OutcomeName.UNSATISFIED)
REFUSALS = (OutcomeName.REFUSED, OutcomeName.OPTED_OUT, OutcomeName.WRONG_NUMBER)
REASONED = (OutcomeName.AVERAGE, OutcomeName.UNSATISFIED, *REFUSALS)
NO_REASON = "(no reason given)"


@dataclass(frozen=True, slots=True)
class ListUse:
    tasks: int = 0
    tried: int = 0
    reached: int = 0
    notified_only: int = 0
    exhausted: int = 0
    not_contactable: int = 0
    attempts: int = 0

    @property
    def attempts_per_reach(self) -> float | None:
        return self.attempts / self.reached if self.reached else None

    @property
    def reach_rate(self) -> float | None:
        """Reached ÷ tried."""
        return self.reached / self.tried if self.tried else None


@dataclass(frozen=True, slots=True)
class CurvePoint:
    at: datetime
    members: int  # member tasks created by `at`
    in_time: int  # of those, reached in time by `at`
    decided: int  # of those, decided by `at`

    @property
    def progress(self) -> float:
        """Members reached in time ÷ members: the plotted value."""
        return self.in_time / self.members if self.members else 0.0

    @property
    def coverage(self) -> float | None:
        return self.in_time / self.decided if self.decided else None


@dataclass
class Report:
    slug: str
    name: str
    time_zone: str
    at: datetime
    history: bool
    target: CampaignCoverage
    list_use: ListUse
    attempts_by_channel: Counter[str] = field(default_factory=Counter)
    reached_by_channel: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, Counter[str]] = field(default_factory=dict)  # outcome -> reason -> n
    complaints: ComplaintCounts = field(default_factory=ComplaintCounts)
    agents: list[AgentRow] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)
    first_task_at: datetime | None = None
    last_deadline: datetime | None = None

    @property
    def goal(self) -> float:
        return self.target.goal

    @property
    def rated(self) -> int:
        return sum(self.outcomes[n] for n in SATISFACTION)

    def share(self, outcome: str) -> float | None:
        """An outcome's share of the satisfied / average / unsatisfied answers."""
        return self.outcomes[outcome] / self.rated if self.rated else None

    def rows(self) -> list[tuple[str, str, str, Any]]:
        """The report in long format: (section, metric, key, value); what csv and xlsx hold."""
        rows: list[tuple[str, str, str, Any]] = []

        def add(section: str, metric: str, key: str, value: Any) -> None:
            rows.append((section, metric, key, value))

        add("campaign", "slug", "", self.slug)
        add("campaign", "name", "", self.name)
        add("campaign", "at", "", self.at.isoformat())
        add("campaign", "time_zone", "", self.time_zone)
        add("campaign", "first_task_at", "", _iso(self.first_task_at))
        add("campaign", "last_deadline", "", _iso(self.last_deadline))
        t = self.target
        h = t.headline
        add("target", "verdict", "", h.verdict)
        add("target", "members", "total", h.members)
        add("target", "reached_in_time_share", "", h.share)
        add("target", "members_decided", "", h.decided)
        add("target", "member_coverage", "", t.member_coverage)
        add("target", "member_coverage_goal", "", t.goal)
        add("target", "goal_met", "", h.verdict == "goal_met")
        for s in STATES:
            add("target", "members", s, t.members[s])
        for s in STATES:
            add("target", "non_members", s, t.non_members[s])
        add("target", "notified_only", "members", t.notified_only["members"])
        add("target", "notified_only", "non_members", t.notified_only["non_members"])
        add("target", "member_rows_rejected", "", t.member_rows_rejected)
        u = self.list_use
        for metric in ("tasks", "tried", "reached", "notified_only", "exhausted"):
            add("list_use", metric, "", getattr(u, metric))
        add("list_use", "not_contactable", "", u.not_contactable)
        add("list_use", "attempts", "", u.attempts)
        add("list_use", "attempts_per_reach", "", u.attempts_per_reach)
        for ch, n in sorted(self.attempts_by_channel.items()):
            add("list_use", "attempts_by_channel", ch, n)
        for ch, n in sorted(self.reached_by_channel.items()):
            add("list_use", "reached_by_channel", ch, n)
        for name, n in sorted(self.outcomes.items()):
            add("outcomes", "count", name, n)
        for name in SATISFACTION:
            add("outcomes", "share", name, self.share(name))
        for name in (OutcomeName.AVERAGE, OutcomeName.UNSATISFIED):
            for reason, n in sorted(self.reasons.get(name, Counter()).items()):
                add("outcomes", f"reason:{name}", reason, n)
        for reason, n in sorted(self.complaints.by_reason.items()):
            add("complaints", "by_reason", reason, n)
        for state, n in sorted(self.complaints.by_state.items()):
            add("complaints", "by_state", state, n)
        add("complaints", "total", "", self.complaints.total)
        for a in self.agents:
            add("agents", "tasks", a.name, a.tasks)
            add("agents", "attempts", a.name, a.attempts)
            add("agents", "reached", a.name, a.reached)
            add("agents", "reach_rate", a.name, a.reach_rate)
            add("agents", "handle_seconds", a.name, a.handle_seconds)
            add("agents", "satisfied", a.name, a.satisfied)
            add("agents", "average", a.name, a.average)
            add("agents", "unsatisfied", a.name, a.unsatisfied)
            add("agents", "satisfaction", a.name, a.satisfaction)
            add("agents", "average_share", a.name, a.average_share)
            add("agents", "unsatisfied_share", a.name, a.unsatisfied_share)
        for name in REFUSALS:
            add("refusals", "count", name, self.outcomes[name])
            for reason, n in sorted(self.reasons.get(name, Counter()).items()):
                add("refusals", f"reason:{name}", reason, n)
        for p in self.curve:
            key = p.at.isoformat()
            add("coverage_over_time", "progress", key, p.progress)
            add("coverage_over_time", "member_coverage", key, p.coverage)
            add("coverage_over_time", "in_time", key, p.in_time)
            add("coverage_over_time", "decided", key, p.decided)
            add("coverage_over_time", "members", key, p.members)
        return rows


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _one(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


# ---------------------------------------------------------------------------- gathering


def build_report(
    session: Session,
    book: CampaignBook,
    now: datetime,
    slug: str,
    *,
    at: datetime | None = None,
) -> Report:
    """The summary report of campaign `slug` now (or at a past instant); NotFoundError (exit 5)
    for an unknown campaign."""
    cid, zone = find_campaign(session, slug)
    name = session.scalar(select(Campaign.name).where(Campaign.id == cid)) or slug
    when = (at if at is not None and at < now else now).astimezone(UTC)
    target = coverage(session, book, now, campaign=slug, at=when).campaigns[0]
    report = Report(
        slug=slug,
        name=name,
        time_zone=zone,
        at=when,
        history=when < now,
        target=target,
        list_use=_list_use(session, cid, when),
    )
    _channels(session, report, cid, when)
    _outcomes(session, report, cid, when)
    report.complaints = (
        complaint_counts_at(session, slug, when)
        if report.history
        else complaint_counts(session, slug)
    )
    report.agents = agent_rows(session, cid, when)
    first, last = session.execute(
        select(func.min(CallbackTask.created_at), func.max(CallbackTask.deadline)).where(
            CallbackTask.campaign_id == cid
        )
    ).one()
    report.first_task_at, report.last_deadline = first, last
    if first is not None and first <= when:
        rule = risk_rule(book.spec(cid))
        report.curve = [_curve_point(session, cid, rule, t) for t in curve_instants(first, when)]
    return report


def curve_instants(start: datetime, end: datetime) -> list[datetime]:
    """Every 6 h (a day past 14 days; coarser past MAX_POINTS) from `start`, then `end`."""
    span = end - start
    step = timedelta(hours=6) if span <= timedelta(days=14) else timedelta(days=1)
    while span / step > MAX_POINTS - 1:
        step *= 2
    points = []
    t = start
    while t < end:
        points.append(t)
        t += step
    points.append(end)
    return points


def _list_use(session: Session, cid: int, at: datetime) -> ListUse:
    t = CallbackTask
    reached = and_(t.reached_at.is_not(None), t.reached_at <= at)
    ended = and_(t.updated_at <= at, t.reached_at.is_(None))
    tried = (
        select(Attempt.task_id)
        .where(
            Attempt.task_id == t.id,
            Attempt.created_at <= at,
            Attempt.state != AttemptState.CANCELLED,
        )
        .exists()
    )
    row = session.execute(
        select(
            func.count(),
            _one(tried),
            _one(reached),
            _one(and_(~reached, t.notified_at.is_not(None), t.notified_at <= at)),
            _one(and_(ended, t.state == TaskState.NOT_REACHED)),
            _one(and_(ended, t.state == TaskState.NOT_CONTACTABLE)),
        ).where(t.campaign_id == cid, t.created_at <= at)
    ).one()
    attempts = session.scalar(
        select(func.count())
        .select_from(Attempt)
        .join(CallbackTask, CallbackTask.id == Attempt.task_id)
        .where(
            CallbackTask.campaign_id == cid,
            Attempt.created_at <= at,
            Attempt.state != AttemptState.CANCELLED,
        )
    )
    return ListUse(
        tasks=int(row[0]),
        tried=int(row[1]),
        reached=int(row[2]),
        notified_only=int(row[3]),
        exhausted=int(row[4]),
        not_contactable=int(row[5]),
        attempts=int(attempts or 0),
    )


def _channels(session: Session, report: Report, cid: int, at: datetime) -> None:
    for channel, n in session.execute(
        select(Attempt.channel, func.count())
        .join(CallbackTask, CallbackTask.id == Attempt.task_id)
        .where(
            CallbackTask.campaign_id == cid,
            Attempt.created_at <= at,
            Attempt.state != AttemptState.CANCELLED,
        )
        .group_by(Attempt.channel)
    ):
        report.attempts_by_channel[channel] += int(n)
    for via, n in session.execute(
        select(Outcome.channel, func.count())
        .join(CallbackTask, CallbackTask.id == Outcome.task_id)
        .where(
            CallbackTask.campaign_id == cid,
            CallbackTask.reached_at.is_not(None),
            CallbackTask.reached_at <= at,
            Outcome.recorded_at <= at,
        )
        .group_by(Outcome.channel)
    ):
        report.reached_by_channel[via or "unknown"] += int(n)


def _outcomes(session: Session, report: Report, cid: int, at: datetime) -> None:
    for name, reason, n in session.execute(
        select(Outcome.name, Outcome.reason, func.count())
        .join(CallbackTask, CallbackTask.id == Outcome.task_id)
        .where(CallbackTask.campaign_id == cid, Outcome.recorded_at <= at)
        .group_by(Outcome.name, Outcome.reason)
    ):
        report.outcomes[name] += int(n)
        if name in REASONED:
            report.reasons.setdefault(name, Counter())[reason or NO_REASON] += int(n)


def _curve_point(session: Session, cid: int, rule: Any, at: datetime) -> CurvePoint:
    """Member tasks at `at` by coverage state (coverage's history CASE; no slack needed)."""
    cat = coverage_category(at, rule, history=True)
    inner = (
        select(cat.label("cat"))
        .where(
            CallbackTask.campaign_id == cid,
            CallbackTask.member.is_(True),
            CallbackTask.created_at <= at,
        )
        .subquery()
    )
    counts = {
        c: int(n)
        for c, n in session.execute(select(inner.c.cat, func.count()).group_by(inner.c.cat))
    }
    return CurvePoint(
        at=at,
        members=sum(counts.values()),
        in_time=counts.get("in_time", 0),
        decided=sum(counts.get(s, 0) for s in DECIDED),
    )


__all__ = [
    "AgentRow",
    "CurvePoint",
    "ListUse",
    "Report",
    "build_report",
    "curve_instants",
]
