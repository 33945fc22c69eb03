"""Who is behind a coverage figure, and why not now: `dialer coverage --list breached|at-risk|
pending|not-contactable`, the members `--check` fails on, and the demo's last lines.

Each task listed says what was tried (`tries`: "voice no-answer ×2, sms delivered") and what
holds it back now (`why`), with the next instant it may be contacted (`next_at`, shown in the
customer's own zone). The "why" is not a second copy of the rules: it asks the gate
(`dialer.gate.check`) about the task's next attempt, with the same inputs an agent's call gets
(`dialer.agent_work.gate_input`) and the dispatcher's window for that channel
(`dialer.dispatch_jobs.window_for`), and names a closed window's rule with
`dialer.windows.closed_reason`. An ended task says why it ended (the planner's or the gate's
recorded reason). At a past instant (`--at`) the tries are counted as they stood then and no
"why now" is given: the inputs the gate read then are not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agent_work import _GATE, gate_input
from dialer.appointments import customer_zone
from dialer.attempts import CampaignBook
from dialer.coverage import _campaigns, _open_at, at_risk, category_case, risk_rule
from dialer.dispatch_jobs import window_for
from dialer.gate import check
from dialer.models import (
    IN_FLIGHT_ATTEMPT_STATES,
    Agent,
    Attempt,
    AttemptState,
    CallbackTask,
    Customer,
    CustomerPhone,
    TaskState,
)
from dialer.windows import closed_reason, next_open

ListName = Literal["breached", "at-risk", "pending", "not-contactable"]
LISTS: tuple[ListName, ...] = ("breached", "at-risk", "pending", "not-contactable")
_STATE = {
    "breached": "breached",
    "at-risk": "at_risk",
    "pending": "pending",
    "not-contactable": "not_contactable",
}


@dataclass(frozen=True, slots=True)
class Listed:
    """One task behind a figure: who, what was tried, what holds it now, when it may go next."""

    task_id: int
    campaign: str
    customer_key: str
    name: str
    member: bool
    phone: str | None  # E.164; every listing masks it
    deadline: datetime
    zone: str  # the customer's zone, for local times
    state: str  # the coverage state (breached, at_risk, pending, not_contactable)
    tries: str
    why: str
    next_at: datetime | None = None  # next eligible instant (UTC); None: nothing more planned
    risk: str | None = None  # at-risk only: why it is at risk (ended, window, capacity)

    def local(self, at: datetime | None) -> str:
        if at is None:
            return ""
        return f"{at.astimezone(ZoneInfo(self.zone)):%Y-%m-%d %H:%M} {self.zone}"


def _result(a: Attempt) -> str:
    if a.state == AttemptState.CANCELLED:
        return "not placed"
    if a.state == AttemptState.SCHEDULED:
        return "scheduled"
    if a.state in IN_FLIGHT_ATTEMPT_STATES:
        return "in progress"
    if a.answered_by and a.answered_by.startswith("machine"):
        return "voicemail"
    return (a.provider_status or a.state).replace("_", "-")


def tries_text(attempts: Sequence[Attempt]) -> str:
    """What was tried, in order, repeats folded: "voice no-answer ×2, voice busy, sms delivered"."""
    parts: list[tuple[str, int]] = []
    for a in attempts:
        if a.state == AttemptState.SCHEDULED:
            continue
        what = f"{a.channel} {_result(a)}"
        if parts and parts[-1][0] == what:
            parts[-1] = (what, parts[-1][1] + 1)
        else:
            parts.append((what, 1))
    if not parts:
        return "no try placed"
    return ", ".join(w if n == 1 else f"{w} ×{n}" for w, n in parts)


def _ended_why(task: CallbackTask, attempts: Sequence[Attempt]) -> str:
    refused = [a.error_message for a in attempts if a.state == AttemptState.CANCELLED]
    said = task.plan_reason or next((m for m in reversed(refused) if m), None)
    if task.state == TaskState.NOT_CONTACTABLE:
        return f"not contactable: {said or task.outcome or 'no usable number'}"
    if task.state == TaskState.NOT_REACHED:
        return "attempts exhausted: nothing more will be tried"
    return f"task {task.state}" + (f": {said}" if said else "")


def why_not_now(
    session: Session,
    book: CampaignBook,
    task: CallbackTask,
    cust: Customer,
    attempts: Sequence[Attempt],
    now: datetime,
) -> tuple[str, datetime | None]:
    """(the rule holding an open task back now, the next instant it may be contacted)."""
    if any(a.state in IN_FLIGHT_ATTEMPT_STATES for a in attempts):
        return "a call or SMS is in progress", None
    nxt = next((a for a in attempts if a.state == AttemptState.SCHEDULED), None)
    spec = book.spec(task.campaign_id)
    channel = nxt.channel if nxt is not None else "agent" if task.agent_id else None
    if channel is None:
        if task.next_attempt_at is None:  # the planner's reason, when it gave one
            said = f": {task.plan_reason}" if task.plan_reason else ""
            return f"no next try planned{said}", None
        channel = "voice"
    due = max(now, nxt.due_at if nxt is not None else task.next_attempt_at or now)
    phones = select(CustomerPhone).where(CustomerPhone.customer_id == cust.id)
    if nxt is not None and nxt.phone_e164:
        phones = phones.where(CustomerPhone.e164 == nxt.phone_e164)
    phone = session.scalars(phones.order_by(CustomerPhone.rank)).first()
    gate = gate_input(session, book, task, cust, phone, now)
    if channel != "agent":
        number_ok = phone is not None and (phone.sms_ok if channel == "sms" else phone.voice_ok)
        gate = replace(
            gate, channel=channel, policy=window_for(spec, channel, _GATE), number_ok=number_ok
        )
    decision = check(gate, due)
    if decision.verdict == "defer":
        rule = closed_reason(gate.who, gate.policy, due) if "window" in decision.reason else None
        # A rule other than the window (a contact cap, the gap between contacts) ends at an instant
        # the window may not allow: the next eligible time is the window's next opening after it.
        until = decision.until
        if until is not None and gate.channel != "agent":
            until = next_open(gate.who, gate.policy, until)
        return rule or decision.reason, until
    if decision.verdict in ("hold", "cancel"):
        return decision.reason, decision.until
    if channel == "agent":
        owner = session.get(Agent, task.agent_id) if task.agent_id else None
        who = f"{owner.username}'s queue" if owner else "the agents' queue (not assigned yet)"
        return f"due now, in {who}", due
    if due > now:
        return f"next {channel} try scheduled (spacing between tries)", due
    return f"due now ({channel}): the dispatcher's next tick places it", due


def _rows(
    session: Session, where: Sequence[Any], limit: int
) -> list[tuple[CallbackTask, Customer]]:
    rows = session.execute(
        select(CallbackTask, Customer)
        .join(Customer, Customer.id == CallbackTask.customer_id)
        .where(*where)
        .order_by(CallbackTask.member.desc(), CallbackTask.deadline, CallbackTask.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


def _attempts(session: Session, ids: list[int], at: datetime) -> dict[int, list[Attempt]]:
    got: dict[int, list[Attempt]] = {i: [] for i in ids}
    for a in session.scalars(
        select(Attempt)
        .where(Attempt.task_id.in_(ids), Attempt.created_at <= at)
        .order_by(Attempt.task_id, Attempt.number)
    ):
        got[a.task_id].append(a)
    return got


def _phone(session: Session, customer_id: int) -> str | None:
    return session.scalar(
        select(CustomerPhone.e164)
        .where(CustomerPhone.customer_id == customer_id)
        .order_by(CustomerPhone.rank)
        .limit(1)
    )


def listed(
    session: Session,
    book: CampaignBook,
    now: datetime,
    which: ListName,
    *,
    campaign: str | None = None,
    at: datetime | None = None,
    members_only: bool = False,
    limit: int = 100,
) -> list[Listed]:
    """The tasks in coverage state `which` (members first, then the earliest deadline), each
    with its tries and why not now; at most `limit`."""
    history = at is not None and at < now
    when = at if at is not None and history else now
    book.refresh(session)
    state = _STATE[which]
    risks: dict[int, str] = {}
    if which == "at-risk":
        risks = {
            e.task_id: e.reason
            for e in at_risk(session, book, now, campaign=campaign, at=when, limit=limit)
        }
    found: list[Listed] = []
    for cid, slug, _ in _campaigns(session, campaign):
        rule = risk_rule(book.spec(cid))
        base = [CallbackTask.campaign_id == cid, CallbackTask.created_at <= when]
        if members_only:
            base.append(CallbackTask.member.is_(True))
        if which == "at-risk":
            ids = list(risks)
            where = [*base, CallbackTask.id.in_(ids)]
        elif history and which == "pending":
            spec = book.spec(cid)
            ids = [e.task_id for e, risky in _open_at(session, cid, slug, spec, rule, when)
                   if not risky][: limit * 4]  # fmt: skip
            where = [*base, CallbackTask.id.in_(ids)]
        else:
            where = [*base, category_case(when, rule, history) == state]
        rows = _rows(session, where, limit)
        tries = _attempts(session, [t.id for t, _ in rows], when)
        for task, cust in rows:
            made = tries[task.id]
            if history:
                why, nxt = "(at a past instant: no 'why now')", None
            elif task.state in (TaskState.PENDING, TaskState.IN_PROGRESS):
                why, nxt = why_not_now(session, book, task, cust, made, now)
            else:
                why, nxt = _ended_why(task, made), None
            if state == "breached" and not history:
                why = f"deadline passed unreached; {why}"
            spec = book.spec(task.campaign_id)
            found.append(
                Listed(
                    task_id=task.id,
                    campaign=slug,
                    customer_key=cust.customer_key,
                    name=cust.name,
                    member=bool(task.member),
                    phone=_phone(session, cust.id),
                    deadline=task.deadline,
                    zone=customer_zone(spec, cust).key,
                    state=state,
                    tries=tries_text(made),
                    why=why,
                    next_at=nxt,
                    risk=risks.get(task.id),
                )
            )
    found.sort(key=lambda e: (not e.member, e.deadline, e.task_id))
    return found[:limit]


__all__ = ["LISTS", "ListName", "Listed", "listed", "tries_text", "why_not_now"]
