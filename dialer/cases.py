"""Complaints close the loop (投訴處理): the follow-up case as a state machine, one step at a time.

    open ──judge(stands)──▶ judged ──investigate──▶ investigating ──resolve──▶ resolved
      └──judge(not)──▶ rejected ──▶ closed (answered politely)          │
                                                 ▲                      ▼ follow-up callback
                                                 └── unsatisfied ── answer ── satisfied/average
                                                                              ▼
                                                                   followed_up ──▶ closed

Every step is a `CaseStep` row (who, when, from, to, and the reason, department or solution), so
the history of a case is complete. Resolving schedules the follow-up callback task ("we handled
your complaint; are you satisfied now?") in the complaint's campaign, for the same customer, due
`complaints.follow_up_deadline` after the resolution (docs/definitions.md: default 3 days), planned
the way the planner plans any task (first open window in the customer's zone, slack, priority,
infeasibility), so the same gate and dispatcher place it. Its answer closes the case or reopens
it for another round; a follow-up that does not reach the customer by its deadline leaves the
case resolved and listed as follow-up missed.

Illegal transitions raise `UsageError` in one sentence; an unknown case is `NotFoundError`.
The functions work in the caller's transaction and never commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, aliased

from dialer.campaigns import CampaignSpec
from dialer.errors import ConfigError, NotFoundError, UsageError
from dialer.models import (
    Agent,
    CallbackTask,
    Campaign,
    CaseSource,
    CaseState,
    CaseStep,
    Customer,
    CustomerPhone,
    FollowUpCase,
    Outcome,
    OutcomeName,
    TaskState,
)
from dialer.plan_decide import _schedule, contact_problem
from dialer.plan_model import CustomerFacts, PhoneFacts, PlanContext, PlannedTask

SYSTEM = "system"  # the actor of steps taken by the callback itself (an answer, a follow-up)
OPEN_TASK_STATES = (TaskState.PENDING, TaskState.IN_PROGRESS)
# Answers of the follow-up call: these close the case, this one reopens it.
CLOSING_ANSWERS = frozenset({OutcomeName.SATISFIED, OutcomeName.AVERAGE})
CLOSED_WITHOUT_ANSWER = frozenset({OutcomeName.REFUSED, OutcomeName.OPTED_OUT})
REOPENING_ANSWER = OutcomeName.UNSATISFIED

_VERBS = {
    "judge": "judged",
    "investigate": "investigated",
    "resolve": "resolved",
    "assign": "assigned",
    "reject": "rejected",
}
_HINTS = {
    ("investigate", CaseState.OPEN): "judge whether it stands first",
    ("resolve", CaseState.OPEN): "judge it and name the responsible department first",
    ("resolve", CaseState.JUDGED): "name the responsible department first (investigate)",
    ("resolve", CaseState.RESOLVED): "its follow-up callback is already scheduled",
}


def polite_reply(reason: str) -> str:
    """The answer given to a complaint that does not stand (it is answered, never ignored)."""
    return (
        "Thank you for telling us. We looked into it carefully: "
        f"{reason.rstrip('. ')}. We are sorry for the trouble it caused; if anything else comes "
        "up, please contact us any time."
    )


# ----------------------------------------------------------------------------- reading


def get_case(session: Session, case_id: int) -> FollowUpCase:
    """The case, or NotFoundError."""
    case = session.get(FollowUpCase, case_id)
    if case is None:
        raise NotFoundError(f"there is no case {case_id}")
    return case


def case_for_follow_up(session: Session, task_id: int) -> FollowUpCase | None:
    """The case whose current follow-up callback is `task_id`, if any."""
    return session.scalar(
        select(FollowUpCase).where(FollowUpCase.follow_up_task_id == task_id).limit(1)
    )


def steps(session: Session, case_id: int) -> list[CaseStep]:
    """The case's history, oldest first."""
    return list(
        session.scalars(
            select(CaseStep).where(CaseStep.case_id == case_id).order_by(CaseStep.at, CaseStep.id)
        )
    )


def follow_up_missed(case: FollowUpCase, follow_up: CallbackTask | None, now: datetime) -> bool:
    """A resolved case whose follow-up callback ended without an answer or ran past its deadline."""
    if case.state != CaseState.RESOLVED or follow_up is None:
        return False
    return follow_up.state not in OPEN_TASK_STATES or follow_up.deadline <= now


def missed_clause(now: datetime) -> ColumnElement[bool]:
    """The SQL condition of `follow_up_missed` at `now`, for `.where(...)` on a case query."""
    fu = aliased(CallbackTask)  # the outer query may join the complaint's own task
    ended_or_late = (
        select(fu.id)
        .where(
            fu.id == FollowUpCase.follow_up_task_id,
            fu.state.not_in(OPEN_TASK_STATES) | (fu.deadline <= now),
        )
        .correlate_except(fu)
    )
    return and_(FollowUpCase.state == CaseState.RESOLVED, ended_or_late.exists())


# ----------------------------------------------------------------------------- steps


def _step(
    session: Session,
    case: FollowUpCase,
    to_state: CaseState,
    actor: str,
    now: datetime,
    *,
    note: str | None = None,
    department: str | None = None,
    resolution: str | None = None,
    from_state: str | None = "",
) -> CaseStep:
    step = CaseStep(
        case_id=case.id,
        from_state=case.state if from_state == "" else from_state,
        to_state=to_state,
        actor=actor,
        at=now,
        note=note,
        department=department,
        resolution=resolution,
    )
    session.add(step)
    case.state = to_state
    return step


def _require(case: FollowUpCase, action: str, *allowed: CaseState) -> None:
    if case.state in allowed:
        return
    hint = _HINTS.get((action, CaseState(case.state)))
    raise UsageError(
        f"case {case.id} is {case.state}; it cannot be {_VERBS[action]}"
        + (f" ({hint})" if hint else "")
    )


def _text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise UsageError(f"give the {what}; it is part of the case record")
    return text


# ----------------------------------------------------------------------------- the loop


def open_case(
    session: Session,
    task: CallbackTask,
    outcome: Outcome | None,
    now: datetime,
    reason: str | None = None,
    words: str | None = None,
    source: str = CaseSource.ANSWER,
    *,
    actor: str = SYSTEM,
) -> FollowUpCase:
    """Open a case for `task`: a complaint answer (`outcome`) or a new request raised in the call."""
    if source not in set(CaseSource):
        raise UsageError(f"a case is opened by an answer or a request, not by {source!r}")
    case = FollowUpCase(
        task_id=task.id,
        customer_id=task.customer_id,
        outcome_id=outcome.id if outcome is not None else None,
        state=CaseState.OPEN,
        source=source,
        reason=reason,
        description=words,
        follow_up_round=1,
        opened_by=actor,
        opened_at=now,
    )
    session.add(case)
    session.flush()
    what = f"opened by {'a new request' if source == CaseSource.REQUEST else 'the answer'}"
    if outcome is not None:
        what += f" {outcome.name}"
    if reason:
        what += f"; reason: {reason}"
    _step(session, case, CaseState.OPEN, actor, now, note=what, from_state=None)
    return case


def add_to_case(
    session: Session, outcome_id: int, *, reason: str | None = None, words: str | None = None
) -> FollowUpCase | None:
    """Words or a reason given after the answer (a reasons menu, a second SMS) join the case the
    answer opened: the words are appended, a reason fills an empty one."""
    case = session.scalar(select(FollowUpCase).where(FollowUpCase.outcome_id == outcome_id))
    if case is None:
        return None
    if words:
        case.description = f"{case.description}\n{words}" if case.description else words
    if reason and not case.reason:
        case.reason = reason
    return case


def judge(
    session: Session,
    case_id: int,
    stands: bool,
    reason: str,
    actor: str,
    now: datetime,
    *,
    reply: str | None = None,
) -> FollowUpCase:
    """Judge whether the complaint stands (判斷). Not standing: rejected, answered politely
    (`reply`, by default `polite_reply(reason)`), closed."""
    case = get_case(session, case_id)
    _require(case, "judge" if stands else "reject", CaseState.OPEN)
    reason = _text(reason, "reason for the judgement")
    case.stands, case.judgement, case.judged_at = stands, reason, now
    if stands:
        _step(session, case, CaseState.JUDGED, actor, now, note=f"stands: {reason}")
        return case
    case.reply = (reply or "").strip() or polite_reply(reason)
    _step(session, case, CaseState.REJECTED, actor, now, note=f"does not stand: {reason}")
    _step(session, case, CaseState.CLOSED, actor, now, note=f"answered: {case.reply}")
    case.closed_at = now
    return case


def reject(
    session: Session,
    case_id: int,
    reason: str,
    actor: str,
    now: datetime,
    *,
    reply: str | None = None,
) -> FollowUpCase:
    """The complaint does not stand: `judge(..., stands=False, ...)`."""
    return judge(session, case_id, False, reason, actor, now, reply=reply)


def investigate(
    session: Session, case_id: int, department: str, actor: str, now: datetime
) -> FollowUpCase:
    """Investigate the cause in the responsible department (調查); again to hand it to another."""
    case = get_case(session, case_id)
    _require(case, "investigate", CaseState.JUDGED, CaseState.INVESTIGATING)
    department = _text(department, "responsible department")
    before = case.department
    case.department = department
    note = f"handed from {before} to {department}" if before and before != department else None
    _step(session, case, CaseState.INVESTIGATING, actor, now, note=note, department=department)
    return case


def resolve(
    session: Session,
    case_id: int,
    solution: str,
    actor: str,
    now: datetime,
    *,
    spec: CampaignSpec | None = None,
) -> CallbackTask:
    """Record the solution (方案, 實施) and schedule the follow-up callback; that task is returned.

    The task belongs to the complaint's campaign and customer, copies the member flag, is due
    `spec.complaints.follow_up_deadline` after `now`, and is planned like any other task (first
    open window in the customer's zone, slack and priority; the campaign's on_infeasible when no
    window is left), so the same gate and dispatcher place it. `spec` defaults to the campaign's
    stored definition.
    """
    case = get_case(session, case_id)
    _require(case, "resolve", CaseState.INVESTIGATING)
    solution = _text(solution, "solution")
    origin = session.get(CallbackTask, case.task_id)
    assert origin is not None  # a case cascades with its task
    campaign = session.get(Campaign, origin.campaign_id)
    assert campaign is not None
    if spec is None:
        try:
            spec = CampaignSpec.from_definition(campaign.definition or {}, slug=campaign.slug)
        except ValidationError as exc:
            raise ConfigError(
                f"campaign {campaign.slug!r} has no valid stored definition, so its follow-up "
                f"callback cannot be planned; run `dialer plan {campaign.slug}` again"
            ) from exc
    task = _follow_up_task(session, case, origin, campaign.id, spec, now)
    case.resolution, case.resolved_at, case.follow_up_task_id = solution, now, task.id
    note = f"follow-up callback task {task.id} due by {task.deadline:%Y-%m-%d %H:%M} UTC"
    if task.plan_reason:
        note += f"; {task.plan_reason}"
    _step(session, case, CaseState.RESOLVED, actor, now, note=note, resolution=solution)
    return task


def _follow_up_task(
    session: Session,
    case: FollowUpCase,
    origin: CallbackTask,
    campaign_id: int,
    spec: CampaignSpec,
    now: datetime,
) -> CallbackTask:
    customer = session.get(Customer, case.customer_id)
    assert customer is not None
    phones = tuple(
        PhoneFacts(p.e164, p.phone_type, p.voice_ok, p.sms_ok, p.unusable_reason)
        for p in session.scalars(
            select(CustomerPhone)
            .where(CustomerPhone.customer_id == customer.id)
            .order_by(CustomerPhone.rank)
        )
    )
    facts = CustomerFacts(
        id=customer.id,
        key=customer.customer_key,
        name=customer.name,
        member=origin.member,
        marketing_consent=customer.marketing_consent,
        language=customer.language,
        region=customer.region,
        time_zones=tuple(customer.time_zones or ()),
        quiet_hours=customer.quiet_hours,
        phones=phones,
    )
    planned = PlannedTask(
        customer_id=customer.id,
        customer_key=customer.customer_key,
        name=customer.name,
        member=origin.member,
        dedupe_key=f"case:{case.id}:{case.follow_up_round}",
        service_event_id=origin.service_event_id,
        deadline=now + spec.complaints.follow_up_deadline,
        earliest_start=now,
    )
    problem = contact_problem(facts, spec.channels)
    if problem is not None:
        planned.state = TaskState.NOT_CONTACTABLE
        planned.outcome = OutcomeName.NOT_CONTACTABLE
    else:
        _schedule(PlanContext(spec, now), facts, planned)
    task = CallbackTask(**planned.row(campaign_id, now))
    if spec.handled_by == "agents":  # the case owner calls back, else the complaint's agent
        task.agent_id = case.owner_agent_id or origin.agent_id
    if problem is not None:
        task.plan_reason = problem[1]
    session.add(task)
    session.flush()
    return task


def assign(session: Session, case_id: int, agent: str, actor: str, now: datetime) -> FollowUpCase:
    """Make `agent` (a username) the owner of the case; any state but closed."""
    case = get_case(session, case_id)
    _require(
        case,
        "assign",
        *(s for s in CaseState if s not in (CaseState.CLOSED, CaseState.REJECTED)),
    )
    row = session.scalar(select(Agent).where(Agent.username == agent))
    if row is None:
        raise NotFoundError(f"there is no agent named {agent!r}")
    if not row.active:
        raise UsageError(f"agent {agent!r} is not active; assign the case to an active agent")
    case.owner_agent_id = row.id
    _step(session, case, CaseState(case.state), actor, now, note=f"assigned to {agent}")
    return case


def on_follow_up_answer(
    session: Session,
    task: CallbackTask,
    outcome_name: str,
    now: datetime,
    *,
    words: str | None = None,
    actor: str = SYSTEM,
) -> FollowUpCase | None:
    """Act on the outcome of a follow-up callback; the case it belongs to, or None.

    satisfied / average: followed up, then closed. unsatisfied: back to investigating for another
    round (the same case). refused / opted out: followed up and closed without an answer. Other
    outcomes (callback requested, wrong number, not reached) leave the case resolved: it is
    listed as follow-up missed once the task ends or its deadline passes.
    """
    case = case_for_follow_up(session, task.id)
    if case is None:
        return None
    if case.state != CaseState.RESOLVED:
        return case  # answered twice (a retried webhook, an SMS after the call): nothing more
    said = f"follow-up answer: {outcome_name}" + (f"; the customer said: {words}" if words else "")
    if outcome_name in CLOSING_ANSWERS or outcome_name in CLOSED_WITHOUT_ANSWER:
        case.followed_up_at = case.closed_at = now
        _step(session, case, CaseState.FOLLOWED_UP, actor, now, note=said)
        done = "the customer is satisfied" if outcome_name in CLOSING_ANSWERS else "no answer"
        _step(session, case, CaseState.CLOSED, actor, now, note=f"closed: {done}")
    elif outcome_name == REOPENING_ANSWER:
        case.follow_up_round += 1
        case.resolved_at = None
        _step(
            session,
            case,
            CaseState.INVESTIGATING,
            actor,
            now,
            note=f"{said}; reopened for round {case.follow_up_round}",
            department=case.department,
        )
    return case


# ----------------------------------------------------------------------------- counts


@dataclass
class ComplaintCounts:
    """Complaints by reason and by state (顧客投訴分類統計表), for the summary report."""

    total: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_state: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    rejected: int = 0  # judged not to stand (their state is closed)
    reopened: int = 0  # cases in a second or later round
    follow_up_missed: int = 0  # resolved, follow-up ended unanswered or past its deadline

    def as_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_reason": dict(self.by_reason),
            "by_state": dict(self.by_state),
            "by_source": dict(self.by_source),
            "rejected": self.rejected,
            "reopened": self.reopened,
            "follow_up_missed": self.follow_up_missed,
        }


NO_REASON = "unspecified"


def complaint_counts(
    session: Session, campaign: str | None = None, now: datetime | None = None
) -> ComplaintCounts:
    """Counts of cases (of one campaign, by slug, or all) by reason, state and source; with
    `now`, also the follow-ups missed at that time."""
    base = select(FollowUpCase.id)
    if campaign is not None:
        base = base.join(CallbackTask, CallbackTask.id == FollowUpCase.task_id).join(
            Campaign, Campaign.id == CallbackTask.campaign_id
        )
        base = base.where(Campaign.slug == campaign)
    ids = base.subquery()
    counts = ComplaintCounts()
    rows = session.execute(
        select(
            FollowUpCase.reason,
            FollowUpCase.state,
            FollowUpCase.source,
            FollowUpCase.stands,
            FollowUpCase.follow_up_round,
            func.count(),
        )
        .where(FollowUpCase.id.in_(select(ids.c.id)))
        .group_by(
            FollowUpCase.reason,
            FollowUpCase.state,
            FollowUpCase.source,
            FollowUpCase.stands,
            FollowUpCase.follow_up_round,
        )
    ).all()
    for reason, state, source, stands, round_, n in rows:
        counts.total += n
        counts.by_reason[reason or NO_REASON] += n
        counts.by_state[state] += n
        counts.by_source[source] += n
        counts.rejected += n if stands is False else 0
        counts.reopened += n if round_ > 1 else 0
    if now is not None:
        counts.follow_up_missed = (
            session.scalar(
                select(func.count())
                .select_from(FollowUpCase)
                .where(FollowUpCase.id.in_(select(ids.c.id)), missed_clause(now))
            )
            or 0
        )
    return counts
