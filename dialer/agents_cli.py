"""`dialer agents add | import | list | activate | deactivate | assign | rebalance`.

Mounted by `dialer.cli` with `app.add_typer(agents_app, name="agents")`. Every change is written
to the audit log as the operator (DIALER_OPERATOR); phone numbers are masked in listings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from dialer.agents import (
    DAY_NAMES,
    AgentProfile,
    AgentSpec,
    add_agent,
    import_agents,
    list_agents,
    load_agents_file,
    parse_days,
    parse_hours,
    parse_languages,
    parse_phone_e164,
    parse_skills,
    parse_time_zone,
    pending_columns,
    profile_of,
    set_active,
)
from dialer.console import err, out, sub_app, term_safe
from dialer.errors import NotFoundError
from dialer.models import Agent, AgentRole, Campaign
from dialer.phones import mask_phone

if TYPE_CHECKING:
    from dialer.assign import AssignResult
    from dialer.cli import Context

agents_app = sub_app("Agents (客服專員): add or import them, list them, assign tasks to them.")


JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _c(ctx: typer.Context) -> Context:
    from dialer.cli import Context  # lazy: dialer.cli mounts this module

    obj = ctx.find_root().obj
    assert isinstance(obj, Context)
    return obj


def _warn_pending() -> None:
    missing = pending_columns()
    if missing:
        err.print(
            f"note: the agents table has no {', '.join(missing)} column(s) yet; skills, hours, "
            "days and time zone are checked and audited but assignment uses the defaults "
            "(all kinds, Mon-Fri 09:00-18:00 Asia/Taipei)"
        )


def agent_json(agent: Agent) -> dict[str, Any]:
    p = profile_of(agent)
    return {
        "username": agent.username,
        "name": agent.display_name,
        "role": agent.role,
        "phone": mask_phone(agent.phone_e164) if agent.phone_e164 else None,
        "languages": list(agent.languages or ()),
        "skills": sorted(p.skills) if p.skills is not None else "all",
        "daily_capacity": agent.daily_capacity,
        "skill": agent.skill,
        "hours": f"{p.hours[0]:%H:%M}-{p.hours[1]:%H:%M}",
        "days": [DAY_NAMES[d] for d in sorted(p.days)],
        "time_zone": p.time_zone,
        "active": agent.active,
    }


@agents_app.command("add")
def agents_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name, unique.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    phone: Annotated[str | None, typer.Option(help="Agent's phone number.")] = None,
    languages: Annotated[
        str, typer.Option(help="Languages spoken, e.g. zh-TW,en (comma-separated).")
    ] = "zh-TW",
    skills: Annotated[
        str, typer.Option(help="Campaign kinds handled, e.g. after_service,promotion; or all.")
    ] = "all",
    capacity: Annotated[int, typer.Option(help="Tasks per day.", min=1)] = 60,
    skill: Annotated[int, typer.Option(help="Skill level 1-10 (weights capacity).", min=1)] = 1,
    hours: Annotated[str, typer.Option(help="Working hours, e.g. 09:00-18:00.")] = "09:00-18:00",
    days: Annotated[str, typer.Option(help="Working days, e.g. mon-fri.")] = "mon-fri",
    time_zone: Annotated[str, typer.Option(help="IANA time zone.")] = "Asia/Taipei",
    inactive: Annotated[bool, typer.Option("--inactive", help="Add as inactive.")] = False,
    supervisor: Annotated[
        bool, typer.Option("--supervisor", help="A supervisor: sees every agent's work.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add one agent (`dialer agents passwd NAME` gives them a console password)."""
    c = _c(ctx)
    spec = AgentSpec(
        username=username.strip(),
        display_name=name.strip(),
        phone_e164=parse_phone_e164(phone, c.settings.default_region),
        languages=tuple(parse_languages(languages)),
        daily_capacity=capacity,
        skill=skill,
        profile=AgentProfile(
            skills=parse_skills(skills),
            hours=parse_hours(hours),
            days=parse_days(days),
            time_zone=parse_time_zone(time_zone),
        ),
        active=not inactive,
        role=AgentRole.SUPERVISOR if supervisor else AgentRole.AGENT,
    )
    with c.store().transaction() as session:
        agent = add_agent(session, c.clock, spec, actor=c.settings.operator)
        data = agent_json(agent)
    _warn_pending()
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        out.print(f"agent {data['username']} added")


@agents_app.command("import")
def agents_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Agents file: .csv or .toml.")],
    as_json: JsonOption = False,
) -> None:
    """Add or update agents from a file; a file with any bad row changes nothing."""
    c = _c(ctx)
    specs = load_agents_file(file, default_region=c.settings.default_region)
    with c.store().transaction() as session:
        result = import_agents(session, c.clock, specs, actor=c.settings.operator)
    _warn_pending()
    if as_json:
        print(json.dumps({"added": result.added, "updated": result.updated}, ensure_ascii=False))
    else:
        out.print(f"{len(result.added)} agent(s) added, {len(result.updated)} updated")


@agents_app.command("list")
def agents_list(
    ctx: typer.Context,
    active_only: Annotated[bool, typer.Option("--active", help="Only active agents.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per agent.")] = False,
) -> None:
    """Agents with languages, skills, capacity and hours (phone numbers masked)."""
    c = _c(ctx)
    with c.store().sessions() as session:
        rows = [agent_json(a) for a in list_agents(session, include_inactive=not active_only)]
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    table = Table("username", "name", "phone", "languages", "skills", "cap/day", "skill", "hours",
                  "zone", "active")  # fmt: skip
    for r in rows:
        table.add_row(
            term_safe(r["username"]),
            term_safe(r["name"]),
            r["phone"] or "",
            ",".join(r["languages"]),
            r["skills"] if isinstance(r["skills"], str) else ",".join(r["skills"]),
            str(r["daily_capacity"]),
            str(r["skill"]),
            f"{r['hours']} {r['days'][0]}-{r['days'][-1]}" if r["days"] else r["hours"],
            r["time_zone"],
            "yes" if r["active"] else "no",
        )
    out.print(table)


def _toggle(ctx: typer.Context, username: str, active: bool) -> None:
    c = _c(ctx)
    with c.store().transaction() as session:
        set_active(session, c.clock, username, active, actor=c.settings.operator)
    hint = "" if active else "; run `dialer agents rebalance` to move their tasks"
    out.print(f"agent {username} {'activated' if active else 'deactivated'}{hint}")


@agents_app.command("activate")
def agents_activate(
    ctx: typer.Context, username: Annotated[str, typer.Argument(help="Agent username.")]
) -> None:
    """Make an agent available for assignment again."""
    _toggle(ctx, username, True)


@agents_app.command("deactivate")
def agents_deactivate(
    ctx: typer.Context, username: Annotated[str, typer.Argument(help="Agent username.")]
) -> None:
    """Mark an agent away: their tasks (appointments too) move on the next assign/rebalance."""
    _toggle(ctx, username, False)


def _campaign_id(c: Context, slug: str | None) -> int | None:
    if slug is None:
        return None
    with c.store().sessions() as session:
        cid = session.scalars(select(Campaign.id).where(Campaign.slug == slug)).first()
    if cid is None:
        raise NotFoundError(f"there is no campaign {slug!r} in the database")
    return cid


def _report(result: AssignResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
        return
    out.print(
        f"considered {result.considered}  assigned {result.assigned}  moved {result.moved}  "
        f"kept {result.kept}  unassigned {result.unassigned}"
    )
    table = Table("agent", "active", "backlog", "capacity/day", "skill", "days of work")
    for a in result.loads:
        table.add_row(
            a.username,
            "yes" if a.active else "no",
            str(a.backlog),
            str(a.daily_capacity),
            str(a.skill),
            f"{a.load_ratio:.2f}",
        )
    out.print(table)
    for reason, n in result.reasons.items():
        out.print(f"[yellow]{n} task(s) unassigned[/]: {reason}")
    if result.out_of_hours_tasks:
        shown = ", ".join(str(t) for t in result.out_of_hours_tasks[:20])
        more = f" and {result.out_of_hours - 20} more" if result.out_of_hours > 20 else ""
        out.print(f"out-of-hours task(s), most urgent first: {shown}{more}")


CampaignOption = Annotated[
    str | None, typer.Option("--campaign", help="Only this campaign (slug).", show_default=False)
]


@agents_app.command("assign")
def agents_assign(
    ctx: typer.Context, campaign: CampaignOption = None, as_json: JsonOption = False
) -> None:
    """Assign open tasks that need a person, balancing backlog against capacity."""
    from dialer.assign import assign_open_tasks

    c = _c(ctx)
    result = assign_open_tasks(
        c.store(), c.clock, _campaign_id(c, campaign), actor=c.settings.operator
    )
    _report(result, as_json)


@agents_app.command("rebalance")
def agents_rebalance(
    ctx: typer.Context,
    campaign: CampaignOption = None,
    behind_days: Annotated[
        float, typer.Option(help="An agent holding more than this many days of work sheds tasks.")
    ] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Move tasks off inactive agents and agents who fell behind (appointments stay)."""
    from dialer.assign import rebalance

    c = _c(ctx)
    result = rebalance(
        c.store(),
        c.clock,
        _campaign_id(c, campaign),
        behind_days=behind_days,
        actor=c.settings.operator,
    )
    _report(result, as_json)
