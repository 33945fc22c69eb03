"""`dialer coverage [CAMPAIGN]`: who was reached in time, who is at risk, and member coverage.

Now (stored state, slack and capacity flag: a couple of aggregate queries) or `--at` a past
instant (history: the window rule only, see `dialer.coverage`).
`--check` exits 1 when any member is breached or at risk (cron, monitoring); `--json` prints one
object for machines; `--list at-risk` names the customers at risk and why — ended, window slack
or capacity (`causes`) — with numbers masked.
The definitions are `dialer.coverage`'s docstring.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from dialer.attempts import CampaignBook
from dialer.console import out, term_safe
from dialer.coverage import STATES, CoverageReport, RiskEntry, at_risk, coverage
from dialer.errors import UsageError
from dialer.phones import mask_phone

LABELS = {
    "in_time": "reached in time",
    "late": "reached late",
    "pending": "pending",
    "at_risk": "at risk",
    "breached": "breached",
    "not_contactable": "not contactable",
}
LISTS = ("at-risk",)


def parse_at(text: str) -> datetime:
    """An ISO instant with its offset ("2026-11-23T10:00:00+08:00", "...Z"), or a local date-time
    followed by a zone name ("2026-11-23 10:00 Asia/Taipei"); a time without a zone is refused."""
    raw = text.strip()
    head, _, zone = raw.rpartition(" ")
    if head and ("/" in zone or zone == "UTC"):
        try:
            tz = ZoneInfo(zone)
        except (ValueError, KeyError, OSError):
            raise UsageError(f"--at: {zone!r} is not a known time zone") from None
        raw_local = head
    else:
        tz, raw_local = None, raw
    try:
        at = datetime.fromisoformat(raw_local.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--at takes an ISO instant (2026-11-23T10:00+08:00) or a local time and a zone "
            f"(2026-11-23 10:00 Asia/Taipei), got {text!r}"
        ) from None
    if at.tzinfo is None:
        if tz is None:
            raise UsageError(f"--at {text!r} has no time zone; add an offset or a zone name")
        at = at.replace(tzinfo=tz)
    elif tz is not None:
        raise UsageError(f"--at {text!r} has both an offset and a zone name; give one")
    return at


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def render_coverage_table(report: CoverageReport) -> None:
    when = "now" if not report.history else f"at {report.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    for c in report.campaigns:
        out.print(f"[bold]{c.name}[/] ({c.slug}) — coverage {when}")
        table = Table("", "members", "non-members")
        for s in STATES:
            table.add_row(LABELS[s], str(c.members[s]), str(c.non_members[s]))
            if s == "at_risk" and not report.history:
                table.add_row(
                    "  of which capacity short",
                    str(c.at_risk_capacity["members"]),
                    str(c.at_risk_capacity["non_members"]),
                )
        table.add_row(
            "notified only (not reached)",
            str(c.notified_only["members"]),
            str(c.notified_only["non_members"]),
        )
        out.print(table)
        flag = "" if c.member_coverage is None or c.member_coverage >= c.goal else " [red]below[/]"
        out.print(
            f"member coverage {_pct(c.member_coverage)} (goal {_pct(c.goal)}){flag}; "
            f"member rows rejected at import: {c.member_rows_rejected}"
        )


def _list(entries: list[RiskEntry], as_json: bool) -> None:
    if as_json:
        for e in entries:
            print(
                json.dumps(
                    {
                        "task_id": e.task_id,
                        "campaign": e.campaign,
                        "customer_id": e.customer_key,
                        "name": e.name,
                        "member": e.member,
                        "phone": mask_phone(e.phone) if e.phone else None,
                        "deadline": e.deadline.isoformat(),
                        "slack_seconds": e.slack_seconds,
                        "attempts_made": e.attempts_made,
                        "reason": e.reason,
                        "causes": list(e.causes),
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table("campaign", "customer", "name", "member", "phone", "deadline (UTC)", "why")
    for e in entries:
        table.add_row(
            e.campaign,
            term_safe(e.customer_key),
            term_safe(e.name),
            "yes" if e.member else "no",
            mask_phone(e.phone) if e.phone else "",
            f"{e.deadline:%Y-%m-%d %H:%M}",
            term_safe(e.reason),
        )
    out.print(table)
    if not entries:
        out.print("no task is at risk")


def coverage_command(
    ctx: typer.Context,
    campaign: Annotated[
        str | None, typer.Argument(help="Campaign slug (default: every campaign).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="A past instant: ISO with offset, or 'YYYY-MM-DD HH:MM Zone/Name'.",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when any member is breached or at risk.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    list_: Annotated[
        str | None,
        typer.Option("--list", help="Name the customers in a state: at-risk.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many listed.")] = 100,
) -> None:
    """Coverage of a campaign (or all): reached in time or late, pending, at risk, breached."""
    if list_ is not None and list_ not in LISTS:
        raise UsageError(f"--list takes one of {', '.join(LISTS)}, got {list_!r}")
    c: Any = ctx.find_root().obj
    when = parse_at(at) if at else None
    store, now, book = c.store(), c.clock.now(), CampaignBook()
    with store.sessions() as session:
        report = coverage(session, book, now, campaign=campaign, at=when)
        entries = (
            at_risk(session, book, now, campaign=campaign, at=when, limit=limit)
            if list_ is not None
            else None
        )
    if entries is not None:
        _list(entries, as_json)
    elif as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        render_coverage_table(report)
    if check and report.failing:
        raise typer.Exit(1)


__all__ = ["coverage_command", "parse_at"]
