"""`dialer cases ...`: the follow-up cases (跟進個案) that complaints open, handled step by step.

`list | show | open | assign | judge | investigate | resolve | reject`. The state machine is
`dialer.cases`; these commands act as the operator (DIALER_OPERATOR), record every step in the
case's history and every change (and every `show`, which reveals customer data) in the audit log.
Phone numbers are masked.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from dialer import audit, cases
from dialer.console import out, sub_app, term_safe
from dialer.errors import NotFoundError, UsageError
from dialer.models import (
    Agent,
    CallbackTask,
    Campaign,
    CaseSource,
    CaseState,
    Customer,
    CustomerPhone,
    FollowUpCase,
)
from dialer.phones import mask_phone

cases_app = sub_app(
    "Follow-up cases (跟進個案): complaints and requests from the callbacks, from intake to the "
    "callback after handling."
)

CaseId = Annotated[int, typer.Argument(help="The case number (see `dialer cases list`).")]


def _root(ctx: typer.Context) -> Any:
    return ctx.find_root().obj


def _when(at: Any) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else ""


@cases_app.command("list")
def list_cmd(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help=f"Only cases in this state ({', '.join(CaseState)}).")
    ] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign (slug).")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only cases owned by the operator.")] = False,
    agent: Annotated[str | None, typer.Option(help="Only cases owned by this agent.")] = None,
    missed: Annotated[
        bool, typer.Option("--missed", help="Only resolved cases whose follow-up was missed.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Cases, newest first: state, reason, department, owner, follow-up deadline."""
    if state is not None and state not in set(CaseState):
        raise UsageError(f"there is no case state {state!r}; use one of {', '.join(CaseState)}")
    if mine and agent:
        raise UsageError("say --mine or --agent NAME, not both")
    c = _root(ctx)
    now = c.clock.now()
    owner = agent or (c.settings.operator if mine else None)
    follow = aliased(CallbackTask)
    query = (
        select(FollowUpCase, Campaign.slug, Customer.customer_key, Agent.username, follow)
        .join(CallbackTask, CallbackTask.id == FollowUpCase.task_id)
        .join(Campaign, Campaign.id == CallbackTask.campaign_id)
        .join(Customer, Customer.id == FollowUpCase.customer_id)
        .outerjoin(Agent, Agent.id == FollowUpCase.owner_agent_id)
        .outerjoin(follow, follow.id == FollowUpCase.follow_up_task_id)
        .order_by(FollowUpCase.id.desc())
        .limit(limit)
    )
    if state:
        query = query.where(FollowUpCase.state == state)
    if campaign:
        query = query.where(Campaign.slug == campaign)
    if owner:
        query = query.where(Agent.username == owner)
    if missed:
        query = query.where(cases.missed_clause(now))
    with c.store().sessions() as session:
        rows = session.execute(query).all()
    table = Table(
        "id", "campaign", "customer", "state", "reason", "department", "owner", "opened (UTC)",
        "follow-up by (UTC)", title=f"{len(rows)} case(s)",
    )  # fmt: skip
    for case, slug, key, username, fu in rows:
        is_missed = cases.follow_up_missed(case, fu, now)
        if as_json:
            print(
                json.dumps(
                    {
                        "id": case.id,
                        "campaign": slug,
                        "customer_id": key,
                        "state": case.state,
                        "source": case.source,
                        "reason": case.reason,
                        "department": case.department,
                        "owner": username,
                        "round": case.follow_up_round,
                        "opened_at": case.opened_at.isoformat(),
                        "follow_up_task_id": case.follow_up_task_id,
                        "follow_up_deadline": fu.deadline.isoformat() if fu else None,
                        "follow_up_missed": is_missed,
                    },
                    ensure_ascii=False,
                )
            )
            continue
        follow_up = _when(fu.deadline) if fu is not None and case.state == "resolved" else ""
        table.add_row(
            str(case.id),
            slug,
            term_safe(key),
            case.state + (f" (round {case.follow_up_round})" if case.follow_up_round > 1 else ""),
            term_safe(case.reason),
            term_safe(case.department),
            term_safe(username),
            _when(case.opened_at),
            follow_up + (" [red]missed[/]" if is_missed else ""),
        )
    if not as_json:
        out.print(table)


def _detail(session: Session, case: FollowUpCase) -> dict[str, Any]:
    task = session.get(CallbackTask, case.task_id)
    assert task is not None
    customer = session.get(Customer, case.customer_id)
    assert customer is not None
    slug = session.scalar(select(Campaign.slug).where(Campaign.id == task.campaign_id))
    phone = session.scalar(
        select(CustomerPhone.e164)
        .where(CustomerPhone.customer_id == customer.id)
        .order_by(CustomerPhone.rank)
        .limit(1)
    )
    owner = (
        session.scalar(select(Agent.username).where(Agent.id == case.owner_agent_id))
        if case.owner_agent_id
        else None
    )
    return {
        "campaign": slug,
        "customer": f"{customer.name} ({customer.customer_key})",
        "member": task.member,
        "phone": mask_phone(phone) if phone else "",
        "owner": owner,
    }


@cases_app.command("show")
def show_cmd(
    ctx: typer.Context,
    case_id: CaseId,
    as_json: Annotated[
        bool, typer.Option("--json", help="The case and its steps as JSON.")
    ] = False,
) -> None:
    """One case with its whole history: who did what, when (phone numbers masked)."""
    c = _root(ctx)
    now = c.clock.now()
    with c.store().transaction() as session:
        case = cases.get_case(session, case_id)
        info = _detail(session, case)
        fu = session.get(CallbackTask, case.follow_up_task_id) if case.follow_up_task_id else None
        history = cases.steps(session, case_id)
        audit.record(session, c.clock, c.settings.operator, "case.show", "case", case_id)
        missed = cases.follow_up_missed(case, fu, now)
        fields: list[tuple[str, Any]] = [
            ("state", case.state),
            ("campaign", info["campaign"]),
            ("customer", info["customer"] + (" — member" if info["member"] else "")),
            ("phone", info["phone"]),
            ("opened", f"{_when(case.opened_at)} UTC by {case.opened_by or 'system'}"),
            ("source", "a new request" if case.source == CaseSource.REQUEST else "an answer"),
            ("reason", case.reason),
            ("customer's words", case.description),
            ("stands", None if case.stands is None else ("yes" if case.stands else "no")),
            ("judgement", case.judgement),
            ("reply", case.reply),
            ("department", case.department),
            ("solution", case.resolution),
            ("owner", info["owner"]),
            ("round", case.follow_up_round),
            (
                "follow-up",
                f"task {fu.id}, {fu.state}, by {_when(fu.deadline)} UTC"
                + (" — missed" if missed else "")
                if fu
                else None,
            ),
        ]
        steps = [
            {
                "from": st.from_state,
                "to": st.to_state,
                "actor": st.actor,
                "at": st.at.isoformat(),
                "note": st.note,
                "department": st.department,
                "resolution": st.resolution,
            }
            for st in history
        ]
    if as_json:
        body = {k: v for k, v in fields}
        print(json.dumps({"id": case_id, **body, "steps": steps}, ensure_ascii=False))
        return
    out.print(f"[bold]case {case_id}[/]")
    for label, value in fields:
        if value not in (None, ""):
            out.print(f"  {label:<17} {term_safe(value)}")
    table = Table("at (UTC)", "step", "by", "detail", title="history")
    for st in steps:
        detail = "; ".join(
            x
            for x in (
                st["note"],
                f"department: {st['department']}" if st["department"] else None,
                f"solution: {st['resolution']}" if st["resolution"] else None,
            )
            if x
        )
        step = f"{st['from']} → {st['to']}" if st["from"] else f"→ {st['to']}"
        at = str(st["at"])[:16].replace("T", " ")
        table.add_row(at, step, term_safe(st["actor"]), term_safe(detail))
    out.print(table)


@cases_app.command("open")
def open_cmd(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(help="The callback task the request was raised in.")],
    words: Annotated[str, typer.Option(help="What the customer asked for, in their words.")],
    reason: Annotated[str | None, typer.Option(help="A short reason or category.")] = None,
) -> None:
    """Open a case for a new request the customer raised during a callback."""
    c = _root(ctx)
    actor = c.settings.operator
    with c.store().transaction() as session:
        task = session.get(CallbackTask, task_id)
        if task is None:
            raise NotFoundError(f"there is no callback task {task_id}")
        case = cases.open_case(
            session,
            task,
            None,
            c.clock.now(),
            reason=reason,
            words=words,
            source=CaseSource.REQUEST,
            actor=actor,
        )
        audit.record(session, c.clock, actor, "case.open", "case", case.id, task_id=task_id)
        case_id = case.id
    out.print(f"case {case_id} opened for task {task_id}")


@cases_app.command("assign")
def assign_cmd(
    ctx: typer.Context,
    case_id: CaseId,
    agent: Annotated[str, typer.Argument(help="The agent's username.")],
) -> None:
    """Make an agent the owner of a case."""
    c = _root(ctx)
    actor = c.settings.operator
    with c.store().transaction() as session:
        case = cases.assign(session, case_id, agent, actor, c.clock.now())
        audit.record(session, c.clock, actor, "case.assign", "case", case_id, agent=agent)
        state = case.state
    out.print(f"case {case_id} ({state}) assigned to {agent}")


@cases_app.command("judge")
def judge_cmd(
    ctx: typer.Context,
    case_id: CaseId,
    stands: Annotated[
        bool,
        typer.Option("--stands/--not-stands", help="Whether the complaint stands (判斷)."),
    ],
    reason: Annotated[str, typer.Option(help="Why it stands or not.")],
    reply: Annotated[
        str | None, typer.Option(help="The polite answer when it does not stand.")
    ] = None,
) -> None:
    """Judge whether a complaint stands; one that does not is answered politely and closed."""
    c = _root(ctx)
    actor = c.settings.operator
    with c.store().transaction() as session:
        case = cases.judge(session, case_id, stands, reason, actor, c.clock.now(), reply=reply)
        audit.record(
            session, c.clock, actor, "case.judge", "case", case_id, stands=stands, reason=reason
        )
        state, answer = case.state, case.reply
    if stands:
        out.print(f"case {case_id} stands: {state}; next `dialer cases investigate {case_id}`")
    else:
        out.print(
            f"case {case_id} does not stand: rejected and closed; answered: {term_safe(answer)}"
        )


@cases_app.command("reject")
def reject_cmd(
    ctx: typer.Context,
    case_id: CaseId,
    reason: Annotated[str, typer.Option(help="Why the complaint does not stand.")],
    reply: Annotated[str | None, typer.Option(help="The polite answer to the customer.")] = None,
) -> None:
    """The complaint does not stand: rejected, answered politely, closed."""
    c = _root(ctx)
    actor = c.settings.operator
    with c.store().transaction() as session:
        case = cases.reject(session, case_id, reason, actor, c.clock.now(), reply=reply)
        audit.record(session, c.clock, actor, "case.reject", "case", case_id, reason=reason)
        answer = case.reply
    out.print(f"case {case_id} does not stand: rejected and closed; answered: {term_safe(answer)}")


@cases_app.command("investigate")
def investigate_cmd(
    ctx: typer.Context,
    case_id: CaseId,
    department: Annotated[str, typer.Option(help="The responsible department.")],
) -> None:
    """Investigate the cause in the responsible department (again to hand it to another)."""
    c = _root(ctx)
    actor = c.settings.operator
    with c.store().transaction() as session:
        cases.investigate(session, case_id, department, actor, c.clock.now())
        audit.record(
            session, c.clock, actor, "case.investigate", "case", case_id, department=department
        )
    out.print(f"case {case_id} investigating in {department}")


@cases_app.command("resolve")
def resolve_cmd(
    ctx: typer.Context,
    case_id: CaseId,
    solution: Annotated[str, typer.Option(help="What was done about the complaint.")],
) -> None:
    """Record the solution and schedule the follow-up callback ("are you satisfied now?")."""
    c = _root(ctx)
    actor = c.settings.operator
    with c.store().transaction() as session:
        task = cases.resolve(session, case_id, solution, actor, c.clock.now())
        audit.record(
            session, c.clock, actor, "case.resolve", "case", case_id, follow_up_task_id=task.id
        )
        task_id, deadline, first, state = task.id, task.deadline, task.next_attempt_at, task.state
        why = task.plan_reason
    when = f"first try {_when(first)} UTC" if first else f"{state}" + (f": {why}" if why else "")
    out.print(
        f"case {case_id} resolved; follow-up callback task {task_id} due by "
        f"{_when(deadline)} UTC ({when})"
    )
