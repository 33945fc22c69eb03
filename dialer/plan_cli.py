"""`dialer plan CAMPAIGN`: build the campaign's callback tasks, say what could not be planned and why.

Mounted by `dialer.cli` with `app.command("plan")(plan_command)`; it then uses the root command's
settings, clock and store (`--db`). Also runnable on its own as `python -m dialer.plan_cli`, where
`--db` (or DIALER_DATABASE_URL) names the database. Phone numbers never appear in the output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from dialer.campaign_cli import DirOption
from dialer.campaign_files import campaign_path, existing_campaign_folder, names_a_file
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import Clock, SystemClock
from dialer.console import err, out, term_safe
from dialer.errors import ConfigError, DialerError
from dialer.planner import PlanResult, plan_campaign
from dialer.store import Store

REASONS = {
    "not_in_audience": "not in the audience",
    "no_consent": "no marketing consent",
    "no_valid_number": "no valid number",
    "opted_out": "opted out (do-not-contact)",
    "already_covered": "already covered by a task",
}


def resolve_campaign(target: str, folder: Path) -> CampaignSpec:
    """A campaign named by slug (in `folder`) or by the path of its .toml file."""
    if not names_a_file(target):
        existing_campaign_folder(folder)  # a slug: a missing folder is said as such
    path = campaign_path(target, folder)
    if not path.is_file():
        raise ConfigError(f"there is no campaign file {str(path)!r}")
    return load_campaign(path)


def _local(at: datetime | None, zone: str) -> str:
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}" if at else "—"


def _store_and_clock(ctx: typer.Context, db: str | None) -> tuple[Store, Clock, Callable[[], None]]:
    """The root `dialer` context's store and clock when mounted there, else our own."""
    obj = ctx.find_root().obj
    if db is None and obj is not None and hasattr(obj, "store") and hasattr(obj, "clock"):
        return obj.store(), obj.clock, lambda: None
    from dialer.config import Settings

    url = db or Settings().database_url
    store = Store.open(url)
    return store, SystemClock(), store.close


def plan_command(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign slug, or the path of its .toml file.")],
    folder: DirOption = Path("campaigns"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Explain the plan without writing anything.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Rows listed per section (people output).")
    ] = 20,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (standalone use; default DIALER_DATABASE_URL)."),
    ] = None,
) -> None:
    """Plan a campaign's callback tasks: deadlines, priorities, and what cannot be met in time."""
    spec = resolve_campaign(campaign, folder)
    store, clock, close = _store_and_clock(ctx, db)
    try:
        result = plan_campaign(store, clock, spec, dry_run=dry_run)
    finally:
        close()
    if as_json:
        print(json.dumps(result.as_json(), ensure_ascii=False, default=str))
    else:
        report(result, spec, limit)


def report(result: PlanResult, spec: CampaignSpec, limit: int) -> None:
    zone = spec.default_time_zone
    verb = "would create" if result.dry_run else "created"
    head = Text(f"{spec.name} ({result.campaign})", style="bold")
    out.print(head)
    out.print(
        f"{verb} {result.created} task(s), {result.members} for members; "
        f"{result.existing} trigger(s) already planned; "
        f"{result.not_contactable_count} not contactable; "
        f"{result.infeasible_count} cannot be met in time ({result.seconds:.1f} s)"
    )
    if result.skipped:
        parts = [f"{REASONS.get(k, k)}: {v}" for k, v in sorted(result.skipped.items())]
        out.print("skipped: " + ", ".join(parts))
    if result.dry_run and result.planned and limit:
        table = Table(title=f"who would be contacted when (times {zone})", title_justify="left")
        for col in ("customer", "name", "member", "first try", "deadline", "slack h", "note"):
            table.add_column(col)
        for t in result.planned[:limit]:
            note = t.not_contactable or (t.infeasible.action if t.infeasible else "")
            table.add_row(
                term_safe(t.customer_key),
                term_safe(t.name),
                "yes" if t.member else "",
                _local(t.next_attempt_at, zone),
                _local(t.deadline, zone),
                f"{(t.slack_seconds or 0) / 3600:.1f}",
                term_safe(note),
            )
        out.print(table)
    if result.dry_run and result.skips and limit:
        table = Table(title="skipped customers", title_justify="left")
        for col in ("customer", "name", "member", "reason", "why"):
            table.add_column(col)
        for s in result.skips[:limit]:
            table.add_row(
                term_safe(s.customer_key),
                term_safe(s.name),
                "yes" if s.member else "",
                REASONS[s.reason],
                term_safe(s.detail),
            )
        out.print(table)
    if result.not_contactable and limit:
        out.print(
            Text("not contactable (kept as tasks: members stay in coverage):", style="yellow")
        )
        for t in result.not_contactable[:limit]:
            out.print(term_safe(f"  {t.customer_key} {t.name}{' (member)' if t.member else ''}: "
                                f"{t.not_contactable}"))  # fmt: skip
    if result.infeasible and limit:
        out.print(Text("cannot be met before the deadline:", style="red"))
        for t in result.infeasible[:limit]:
            assert t.infeasible is not None
            out.print(
                term_safe(
                    f"  {t.customer_key} {t.name}{' (member)' if t.member else ''}: "
                    f"{t.infeasible.reason}; earliest possible "
                    f"{_local(t.infeasible.earliest_possible, zone)} {zone}; {t.infeasible.action}"
                ),
                soft_wrap=True,
            )
    if result.zone_notes and limit:
        out.print(
            Text(f"time zones that did not simply apply ({result.zone_count}):", style="yellow")
        )
        for t in result.zone_notes[:limit]:
            out.print(
                f"  {t.customer_key} {t.name}{' (member)' if t.member else ''}: {t.zone_reason}",
                soft_wrap=True,
                markup=False,
            )
    if result.capacity is not None:
        c = result.capacity
        style = "green" if c.verdict == "sufficient" else "red"
        out.print(Text(f"capacity: {c.verdict}", style=style), Text(f" — {c.basis}"))
        if c.dispatch is not None:
            d = c.dispatch
            out.print(
                f"  dispatch hours: {d['required_hours']:.2f} needed, "
                f"{d['available_hours']:.1f} open before the deadlines"
            )
            if c.fallback is not None:
                f = c.fallback
                out.print(
                    f"  agent fallback: {f['share']:.2%} of tasks (about {f['tasks']:g}) expected "
                    f"to reach the agents; {f['required_agent_hours']:.2f} agent-hours needed, "
                    f"{f['available_agent_hours']:.1f} available on {f['agents']} agent(s) in "
                    f"the customers' windows before the deadlines; "
                    f"{f['shortfall_agent_hours']:.2f} more needed",
                    soft_wrap=True,
                )
                for lang, hours in sorted(f["shortfall_by_language"].items()):
                    out.print(f"  {lang}: {hours:.2f} more agent-hours of agents speaking {lang}")
        else:
            out.print(
                f"  agent-hours: {c.required_agent_hours:.1f} needed, "
                f"{c.available_agent_hours:.1f} available in the customers' windows before the "
                f"deadlines; {c.shortfall_agent_hours:.1f} more needed"
                + (
                    f" (members {c.members_shortfall_agent_hours:.1f})"
                    if c.shortfall_agent_hours
                    else ""
                )
            )
            for lang, hours in sorted(c.shortfall_by_language.items()):
                out.print(f"  {lang}: {hours:.1f} more agent-hours of agents speaking {lang}")


plan_app = typer.Typer(
    help="Plan a campaign's callback tasks.",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
plan_app.command("plan")(plan_command)


def main(argv: list[str] | None = None) -> None:
    """`python -m dialer.plan_cli CAMPAIGN ...`: the same command and error handling as `dialer plan`."""
    try:
        plan_app(args=argv)
    except DialerError as exc:
        err.print(Text("error:", style="red"), Text(str(exc)), soft_wrap=True)
        sys.exit(exc.exit_code)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        err.print(Text("error:", style="red"), Text(f"the database refused the operation: {first}"))
        sys.exit(4)


if __name__ == "__main__":
    main()
