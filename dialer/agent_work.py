"""An agent's call: the call screen, starting a call, recording what the customer said.

One set of rules for the browser console and the terminal (`dialer assignments / call /
outcome`): an agent sees and changes only their own assignments — another agent's task (or its
customer, or its case) is "not found", exactly like one that does not exist — and a supervisor
sees all. Every view of a customer's record, every revealed number and every change is written
to the audit log in the same transaction. The number stays masked until the call starts, and a
call starts only through the gate (`dialer.gate`), like every automated call. An outcome is
recorded for a call that was started (so for a call the gate allowed), through
`outcomes.record_outcome`, the one writer of callback records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dialer import audit, controls, dnc
from dialer.appointments import appointment_slot, customer_reachee, customer_zone, phone_reachee
from dialer.attempts import CampaignBook, do_not_contact
from dialer.campaigns import CampaignSpec
from dialer.clock import Clock
from dialer.dispatch_config import DispatchConfig
from dialer.errors import NotFoundError, UsageError
from dialer.gate import Decision, GateInput, check
from dialer.models import (
    Agent,
    AgentRole,
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    Customer,
    CustomerPhone,
    FollowUpCase,
    Outcome,
    OutcomeName,
    ServiceEvent,
    TaskState,
)
from dialer.outcomes import record_outcome
from dialer.phones import mask_phone
from dialer.script_text import fill, script_values
from dialer.windows import closed_reason, is_open

OPEN_STATES: Final = (TaskState.PENDING, TaskState.IN_PROGRESS)
RECORDABLE: Final = (
    OutcomeName.SATISFIED,
    OutcomeName.AVERAGE,
    OutcomeName.UNSATISFIED,
    OutcomeName.CALLBACK_REQUESTED,
    OutcomeName.REFUSED,
    OutcomeName.OPTED_OUT,
    OutcomeName.WRONG_NUMBER,
)
NO_CONVERSATION: Final = ("no_answer", "busy", "voicemail")
# A started agent call still open after this was forgotten (a browser closed mid-call): closed.
OPEN_CALL_LIMIT: Final = timedelta(hours=2)
"""A started call that reached nobody: the attempt ends, the task stays in the queue."""
DNC_SOURCE: Final = "agent"
_GATE: Final = DispatchConfig(worker_id="console", public_base_url="")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is working: the agent signed in to the console, or named on the command line."""

    agent_id: int
    username: str
    supervisor: bool

    @classmethod
    def of(cls, agent: Agent) -> Actor:
        return cls(agent.id, agent.username, agent.role == AgentRole.SUPERVISOR)


def actor_named(session: Session, username: str) -> Actor:
    agent = session.scalars(select(Agent).where(Agent.username == username.strip())).first()
    if agent is None or not agent.active:
        raise NotFoundError(f"there is no active agent {username!r}")
    return Actor.of(agent)


def visible_task(session: Session, actor: Actor, task_id: int) -> CallbackTask:
    """The task if `actor` may see it; otherwise the same NotFoundError as a missing one."""
    task = session.get(CallbackTask, task_id)
    if task is None or not (actor.supervisor or task.agent_id == actor.agent_id):
        raise NotFoundError(f"there is no task {task_id}")
    return task


# ------------------------------------------------------------------------------ call screen


@dataclass(frozen=True, slots=True)
class PastOutcome:
    campaign: str
    at: datetime
    name: str
    reason: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class ScriptView:
    """The script in the customer's language with the placeholders filled in."""

    language: str
    opening: str
    convenience: str
    question: str
    branches: dict[str, tuple[str, str]]  # answer -> (follow-up question, closing)
    reasons: tuple[str, ...]
    closing: str


@dataclass(frozen=True, slots=True)
class CallScreen:
    task: CallbackTask
    customer: Customer
    spec: CampaignSpec
    events: list[ServiceEvent]
    history: list[PastOutcome]
    script: ScriptView
    phone_masked: str
    number: str | None  # the full number: only while the agent's call is going on (audited)
    in_call: bool
    zone: ZoneInfo
    local_now: datetime
    window_open: bool
    window_reason: str | None
    outcome: Outcome | None
    owner: str | None


def _phone(session: Session, customer_id: int) -> CustomerPhone | None:
    return session.scalars(
        select(CustomerPhone)
        .where(CustomerPhone.customer_id == customer_id, CustomerPhone.voice_ok.is_(True))
        .order_by(CustomerPhone.rank)
    ).first()


def _in_call(session: Session, task_id: int) -> Attempt | None:
    return session.scalars(
        select(Attempt).where(
            Attempt.task_id == task_id,
            Attempt.channel == "agent",
            Attempt.state == AttemptState.PLACED,
        )
    ).first()


def script_view(spec: CampaignSpec, values: dict[str, str], language: str | None) -> ScriptView:
    key, script = spec.script_for(language)
    branches: dict[str, tuple[str, str]] = {}
    if script.branches is not None:
        for answer in ("satisfied", "average", "unsatisfied"):
            b = script.branches.for_answer(answer)
            branches[answer] = (fill(b.follow_up, values), fill(b.closing, values))
    return ScriptView(
        language=key,
        opening=fill(script.opening, values),
        convenience=fill(script.convenience or "", values),
        question=fill(script.question or script.message or "", values),
        branches=branches,
        reasons=tuple(script.reasons.options) if script.reasons else (),
        closing=fill(script.closing or "", values),
    )


def call_screen(
    session: Session,
    book: CampaignBook,
    clock: Clock,
    actor: Actor,
    task_id: int,
    company: str,
) -> CallScreen:
    """Everything the call screen shows; the view of the customer's record is audited (and so is
    the number, shown only while the agent's call is going on)."""
    task = visible_task(session, actor, task_id)
    book.refresh(session)
    spec = book.spec(task.campaign_id)
    cust = session.get(Customer, task.customer_id)
    assert cust is not None
    now = clock.now()
    events = list(
        session.scalars(
            select(ServiceEvent)
            .where(ServiceEvent.customer_id == cust.id)
            .order_by(ServiceEvent.service_date.desc())
            .limit(20)
        )
    )
    event = session.get(ServiceEvent, task.service_event_id) if task.service_event_id else None
    history = [
        PastOutcome(name_, o.recorded_at, o.name, o.reason, o.note)
        for o, name_ in session.execute(
            select(Outcome, Campaign.name)
            .join(CallbackTask, CallbackTask.id == Outcome.task_id)
            .join(Campaign, Campaign.id == CallbackTask.campaign_id)
            .where(CallbackTask.customer_id == cust.id, CallbackTask.id != task.id)
            .order_by(Outcome.recorded_at.desc())
            .limit(20)
        )
    ]
    phone = _phone(session, cust.id)
    attempt = _in_call(session, task.id)
    number = attempt.phone_e164 if attempt is not None else None
    masked = mask_phone(phone.e164) if phone else ""
    audit.record(session, clock, actor.username, "customer_view", "task", task.id,
                 customer=cust.customer_key)  # fmt: skip
    if number:
        audit.record(session, clock, actor.username, "phone_reveal", "task", task.id,
                     number=mask_phone(number), why="call in progress")  # fmt: skip
    who = customer_reachee(cust)
    zone = customer_zone(spec, cust)
    policy = spec.window_policy()
    values = script_values(company, cust, event)
    owner = session.get(Agent, task.agent_id) if task.agent_id else None
    return CallScreen(
        task=task,
        customer=cust,
        spec=spec,
        events=events,
        history=history,
        script=script_view(spec, values, cust.language),
        phone_masked=masked,
        number=number,
        in_call=attempt is not None,
        zone=zone,
        local_now=now.astimezone(zone),
        window_open=is_open(who, policy, now),
        window_reason=closed_reason(who, policy, now),
        outcome=session.scalar(select(Outcome).where(Outcome.task_id == task.id)),
        owner=owner.username if owner else None,
    )


def task_zone(session: Session, book: CampaignBook, task: CallbackTask) -> str:
    """The zone the task's customer speaks of times in."""
    book.refresh(session)
    cust = session.get(Customer, task.customer_id)
    assert cust is not None
    return customer_zone(book.spec(task.campaign_id), cust).key


# ------------------------------------------------------------------------------- the call


@dataclass(frozen=True, slots=True)
class CallStart:
    """The gate's verdict; with `go`, the attempt and the number to dial (the reveal audited)."""

    decision: Decision
    attempt_id: int | None = None
    number: str | None = None
    agent_phone: str | None = None


def gate_input(session: Session, book: CampaignBook, task: CallbackTask, cust: Customer,
               phone: CustomerPhone | None, now: datetime) -> GateInput:  # fmt: skip
    """What the gate looks at for a call an agent is about to make (as for any attempt)."""
    spec = book.spec(task.campaign_id)
    numbers = [phone.e164] if phone else []
    dnc_map = do_not_contact(session, spec.purpose, [cust.id], numbers)
    blocked = set(dnc_map.get((cust.id, ""), set()))
    if phone:
        blocked |= dnc_map.get((None, phone.e164), set())
    since = now - timedelta(hours=24)
    count, last = session.execute(
        select(func.count(), func.max(Attempt.placed_at)).where(
            Attempt.customer_id == cust.id,
            Attempt.placed_at >= since,
            Attempt.state != AttemptState.CANCELLED,
        )
    ).one()
    return GateInput(
        channel="voice",
        purpose=spec.purpose,
        who=phone_reachee(cust, phone),
        policy=spec.window_policy(),
        campaign_status=book.status.get(task.campaign_id, "active"),
        halted=controls.halted(session),
        blocked_channels=frozenset(blocked),
        number_ok=phone is not None and phone.voice_ok,
        contacts_last_day=int(count or 0),
        last_contact_at=last,
        contact_cap=_GATE.contact_cap,
        min_gap=_GATE.min_gap,
        appointment_at=task.appointment_at,
    )


def start_call(
    session: Session, book: CampaignBook, clock: Clock, actor: Actor, task_id: int
) -> CallStart:
    """Pass the gate and open the agent's attempt; the number is revealed (audited). Starting a
    call that is already going on returns it again."""
    task = visible_task(session, actor, task_id)
    if task.state not in OPEN_STATES:
        raise UsageError(f"task {task_id} is finished ({task.outcome or task.state})")
    book.refresh(session)
    now = clock.now()
    agent = session.get(Agent, actor.agent_id)
    agent_phone = agent.phone_e164 if agent else None
    current = _in_call(session, task.id)
    if current is not None:
        audit.record(session, clock, actor.username, "phone_reveal", "task", task.id,
                     number=mask_phone(current.phone_e164 or ""), why="call in progress")  # fmt: skip
        return CallStart(Decision("go"), current.id, current.phone_e164, agent_phone)
    cust = session.get(Customer, task.customer_id)
    assert cust is not None
    phone = _phone(session, cust.id)
    decision = check(gate_input(session, book, task, cust, phone, now), now)
    if decision.verdict != "go" or phone is None:
        audit.record(session, clock, actor.username, "call_refused", "task", task.id,
                     reason=decision.reason or "no usable number")  # fmt: skip
        if phone is None and decision.verdict == "go":
            decision = Decision("cancel", "the customer has no number that takes calls")
        return CallStart(decision)
    number = (session.scalar(select(func.max(Attempt.number)).where(Attempt.task_id == task.id))
              or 0) + 1  # fmt: skip
    attempt = Attempt(
        task_id=task.id,
        customer_id=cust.id,
        number=number,
        channel="agent",
        phone_e164=phone.e164,
        state=AttemptState.PLACED,
        due_at=now,
        claimed_by=f"agent:{actor.username}",
        claimed_at=now,
        placed_at=now,
        agent_id=actor.agent_id,
        created_at=now,
    )
    session.add(attempt)
    task.attempts_made += 1
    task.state = TaskState.IN_PROGRESS
    task.updated_at = now
    session.flush()
    audit.record(session, clock, actor.username, "call_start", "task", task.id,
                 attempt=attempt.id, number=mask_phone(phone.e164))  # fmt: skip
    return CallStart(decision, attempt.id, phone.e164, agent_phone)


def parse_local_time(text: str, zone: ZoneInfo) -> datetime:
    """'2026-11-23T19:00' (a time picker's value) or '2026-11-23 19:00' in `zone`, as aware UTC."""
    raw = text.strip().replace(" ", "T")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"{text!r} is not a date and time such as 2026-11-23 19:00") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    return at.astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True, slots=True)
class Recorded:
    outcome: Outcome
    appointment_at: datetime | None
    case_id: int | None


def record(
    session: Session,
    book: CampaignBook,
    clock: Clock,
    actor: Actor,
    task_id: int,
    name: str,
    *,
    reason: str | None = None,
    note: str | None = None,
    callback_at: str | None = None,
) -> Recorded:
    """Record what the customer said in the call the agent started. `callback_requested` keeps
    `callback_at` (the customer's local time) when the legal floor allows it, else the next open
    slot; `opted_out` also puts the customer on the do-not-contact list (every channel)."""
    if name not in RECORDABLE:
        raise UsageError(f"outcome must be one of {', '.join(RECORDABLE)}, got {name!r}")
    task = visible_task(session, actor, task_id)
    attempt = _in_call(session, task.id)
    if attempt is None:
        raise UsageError(
            f"start the call to task {task_id} first: an outcome is recorded for a call the gate "
            "allowed"
        )
    book.refresh(session)
    spec = book.spec(task.campaign_id)
    cust = session.get(Customer, task.customer_id)
    assert cust is not None
    now = clock.now()
    reason = (reason or "").strip()[:200] or None
    note = (note or "").strip()[:4000] or None
    appointment: datetime | None = None
    if name == OutcomeName.CALLBACK_REQUESTED:
        wanted = parse_local_time(callback_at, customer_zone(spec, cust)) if callback_at else None
        if wanted is not None and wanted <= now:
            raise UsageError("the callback time has already passed; pick a later time")
        appointment = appointment_slot(spec, customer_reachee(cust), wanted, now)
    elif callback_at:
        raise UsageError("a callback time goes with the outcome callback_requested")
    if name == OutcomeName.OPTED_OUT:
        dnc.add(session, now, dnc.Target(customer_id=cust.id, customer_key=cust.customer_key),
                reason=reason or "opted out in a call with an agent", source=DNC_SOURCE)  # fmt: skip
    outcome = record_outcome(
        session, spec, task, name, now, channel="agent", attempt_id=attempt.id, note=note,
        appointment_at=appointment, agent_id=actor.agent_id, reason=reason,
    )  # fmt: skip
    attempt.state = AttemptState.COMPLETED
    attempt.provider_status = "completed"
    attempt.ended_at = now
    attempt.duration_seconds = int((now - (attempt.placed_at or now)).total_seconds())
    session.flush()
    case_id = session.scalar(select(FollowUpCase.id).where(FollowUpCase.outcome_id == outcome.id))
    audit.record(session, clock, actor.username, "outcome_record", "task", task.id,
                 outcome=name, reason=reason, appointment=appointment and appointment.isoformat(),
                 case=case_id)  # fmt: skip
    return Recorded(outcome, appointment, case_id)


def end_call(
    session: Session, book: CampaignBook, clock: Clock, actor: Actor, task_id: int, result: str
) -> CallbackTask:
    """A started call that reached nobody (no answer, busy, voicemail): the attempt ends, the
    task stays in the queue for the next try (not reached, docs/definitions.md)."""
    if result not in NO_CONVERSATION:
        raise UsageError(f"a call without conversation ends {', '.join(NO_CONVERSATION)}")
    task = visible_task(session, actor, task_id)
    attempt = _in_call(session, task.id)
    if attempt is None:
        raise UsageError(f"there is no call going on for task {task_id}")
    now = clock.now()
    attempt.state = AttemptState.COMPLETED
    attempt.provider_status = result.replace("_", "-")
    attempt.answered_by = "machine" if result == "voicemail" else None
    attempt.ended_at = now
    if result == "voicemail":
        task.notified_at = task.notified_at or now
    task.updated_at = now
    audit.record(session, clock, actor.username, "call_end", "task", task.id, result=result)
    return task


def close_forgotten_calls(
    session: Session, clock: Clock, limit: timedelta = OPEN_CALL_LIMIT
) -> int:
    """Agent calls started more than `limit` ago and never ended (the console closed mid-call,
    a laptop lost) end without an outcome, audited: the task is not reached and goes back to
    its queue, instead of staying "in a call" for good. The number of calls closed."""
    now = clock.now()
    forgotten = session.scalars(
        select(Attempt).where(
            Attempt.channel == "agent",
            Attempt.state == AttemptState.PLACED,
            Attempt.placed_at < now - limit,
        )
    ).all()
    for attempt in forgotten:
        attempt.state = AttemptState.FAILED
        attempt.ended_at = now
        attempt.error_message = (
            f"closed without an outcome: still open {limit.total_seconds() / 3600:g} h after it "
            "started"
        )
        audit.record(session, clock, "runner", "call_close_forgotten", "task", attempt.task_id,
                     attempt=attempt.id, agent=attempt.agent_id)  # fmt: skip
    if forgotten:
        session.execute(
            update(CallbackTask)
            .where(CallbackTask.id.in_({a.task_id for a in forgotten}))
            .values(updated_at=now)
        )
    return len(forgotten)
