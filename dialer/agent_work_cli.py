"""`dialer assignments / call / outcome` for agents who prefer a terminal, and `dialer agents
passwd` for the console's passwords.

The same rules as the console (`dialer.agent_work`): `--agent NAME` works as that agent, who sees
only their own tasks (a supervisor sees all); a call starts through the gate and reveals the
number (audited); an outcome is recorded for a started call.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from dialer import agent_queue
from dialer import agent_work as work
from dialer.attempts import CampaignBook
from dialer.console import out, term_safe
from dialer.console_web.auth import set_password
from dialer.errors import UsageError
from dialer.models import AgentRole

AgentOption = Annotated[
    str | None,
    typer.Option("--agent", help="The agent (username) working; default: DIALER_OPERATOR."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _root(ctx: typer.Context) -> Any:
    return ctx.find_root().obj


def _who(c: Any, agent: str | None) -> str:
    """The agent named with --agent, else the operator the CLI acts as (DIALER_OPERATOR)."""
    return agent if agent is not None else str(c.settings.operator)


def _span(td: timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    return f"{days}d {rest // 60}h" if days else f"{rest // 60}h {rest % 60:02d}m"


def _left(td: timedelta) -> str:
    """'2d 5h' left, or 'overdue 1d 3h': a late call still counts (as reached late)."""
    if td <= timedelta(0):
        return f"overdue {_span(-td)}"
    return _span(td)


def assignments_command(
    ctx: typer.Context, agent: AgentOption = None, as_json: JsonOption = False
) -> None:
    """The agent's queue: open tasks in order of urgency, appointments at their time."""
    c = _root(ctx)
    agent = _who(c, agent)
    with c.store().transaction() as session:
        actor = work.actor_named(session, agent)
        items = agent_queue.queue(session, CampaignBook(), actor, c.clock.now())
    if as_json:
        for i in items:
            print(json.dumps({
                "task": i.task_id, "customer": i.customer_name, "member": i.member,
                "campaign": i.campaign, "deadline": i.deadline.isoformat(),
                "seconds_left": int(i.time_left.total_seconds()), "overdue": i.overdue,
                "appointment": i.appointment_at.isoformat() if i.appointment_at else None,
                "due": i.due, "appointment_overdue": i.appointment_overdue,
                "appointment_overdue_seconds": int(i.appointment_overdue_by.total_seconds()),
                "window_open": i.window_open, "time_zone": i.zone,
                "local_time": i.local_now.isoformat(timespec="minutes"),
            }, ensure_ascii=False))  # fmt: skip
        return
    if not items:
        out.print(f"no open tasks for {agent}")
        return
    missed = sum(1 for i in items if i.appointment_overdue)
    late = sum(1 for i in items if i.overdue)
    title = f"{agent}: {len(items)} open task(s)"
    if missed:
        title += f", {missed} appointment(s) overdue (the customer waits: call first)"
    if late:
        title += f", {late} past the deadline (still worth a call: reached late)"
    table = Table(title=title)
    for col in ("task", "customer", "member", "time left", "appointment", "window", "local time"):
        table.add_column(col)
    for i in items:
        table.add_row(
            str(i.task_id), term_safe(i.customer_name), "yes" if i.member else "", _left(i.time_left),
            _appointment(i), "open" if i.window_open else "closed",
            f"{i.local_now:%H:%M} {i.zone}",
        )  # fmt: skip
    out.print(table)


def _appointment(i: agent_queue.QueueItem) -> str:
    """'11-23 14:00', '11-24 09:00 (later)' or '11-23 08:00 overdue 2h 00m' (local time)."""
    if i.appointment_at is None:
        return ""
    at = f"{i.appointment_at.astimezone(i.local_now.tzinfo):%m-%d %H:%M}"
    if i.appointment_overdue:
        return f"{at} overdue {_span(i.appointment_overdue_by)}"
    return at if i.due else f"{at} (later)"


def call_command(
    ctx: typer.Context,
    task: Annotated[int, typer.Argument(help="The task to call.")],
    agent: AgentOption = None,
    ended: Annotated[
        str | None,
        typer.Option("--ended", help="The call reached nobody: no_answer, busy or voicemail."),
    ] = None,
) -> None:
    """Start a call (through the gate; shows the number, audited), or end one that reached
    nobody with --ended."""
    c = _root(ctx)
    book = CampaignBook()
    with c.store().transaction() as session:
        actor = work.actor_named(session, _who(c, agent))
        if ended is not None:
            work.end_call(session, book, c.clock, actor, task, ended)
            out.print(f"task {task}: call ended ({ended}); the task stays in the queue")
            return
        started = work.start_call(session, book, c.clock, actor, task)
    if started.decision.verdict != "go" or started.number is None:
        raise UsageError(f"task {task} cannot be called now: {started.decision.reason}")
    out.print(f"task {task}: call {started.number} now (attempt {started.attempt_id})")


def outcome_command(
    ctx: typer.Context,
    task: Annotated[int, typer.Argument(help="The task called.")],
    name: Annotated[str, typer.Argument(help=f"One of {', '.join(work.RECORDABLE)}.")],
    agent: AgentOption = None,
    reason: Annotated[str | None, typer.Option(help="The reason (e.g. from the menu).")] = None,
    note: Annotated[str | None, typer.Option(help="The customer's words.")] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="callback_requested: when, in the customer's local time."),
    ] = None,
) -> None:
    """Record what the customer said in the call the agent started."""
    c = _root(ctx)
    with c.store().transaction() as session:
        actor = work.actor_named(session, _who(c, agent))
        done = work.record(
            session, CampaignBook(), c.clock, actor, task, name, reason=reason, note=note,
            callback_at=at,
        )  # fmt: skip
    said = f"task {task}: {name} recorded"
    if done.appointment_at is not None:
        said += f"; call back at {done.appointment_at.isoformat(timespec='minutes')}"
    if done.case_id is not None:
        said += f"; follow-up case {done.case_id} opened"
    out.print(said)


def passwd_command(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The agent.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    supervisor: Annotated[
        bool | None,
        typer.Option("--supervisor/--agent-role", help="Make the agent a supervisor (or not)."),
    ] = None,
) -> None:
    """Set the password an agent signs in to the console with (asked twice unless piped)."""
    c = _root(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    role = None if supervisor is None else (AgentRole.SUPERVISOR if supervisor else AgentRole.AGENT)
    with c.store().transaction() as session:
        agent = set_password(session, c.clock, username, password, actor=c.settings.operator,
                             role=role)  # fmt: skip
        shown = agent.role
    out.print(f"password set for {username} ({shown}); their open sessions ended")
