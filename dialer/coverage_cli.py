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
from rich.console import Console
from rich.table import Table

from dialer.attempts import CampaignBook
from dialer.console import err, out, term_safe
from dialer.coverage import STATES, CampaignCoverage, CoverageReport, RiskEntry, at_risk, coverage
from dialer.coverage_lists import LISTS, Listed, ListName, listed
from dialer.coverage_verdict import headline_text, ratio_text
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


STYLE = {"good": "green", "ok": "blue", "warn": "yellow", "bad": "red", "muted": "dim"}
NO_TASKS = "no campaign has tasks yet"


def has_tasks(report: CoverageReport) -> bool:
    return any(sum(c.members.values()) + sum(c.non_members.values()) for c in report.campaigns)


def headline_markup(c: CampaignCoverage) -> str:
    """The headline with its verdict in the verdict's colour."""
    h = c.headline
    text = headline_text(h)
    head, sep, words = text.rpartition(" — ")
    style = STYLE[h.tone]
    return f"{head}{sep}[bold {style}]{words}[/]" if sep else f"[{style}]{text}[/]"


def no_tasks(report: CoverageReport) -> str:
    if report.history:
        return f"no campaign had tasks at {report.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return NO_TASKS


def render_coverage_table(report: CoverageReport) -> None:
    if not has_tasks(report):
        out.print(no_tasks(report))
        return
    when = "now" if not report.history else f"at {report.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    for c in report.campaigns:
        out.print(f"[bold]{c.name}[/] ({c.slug}) — coverage {when}")
        out.print(headline_markup(c), soft_wrap=True)
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
        out.print(
            f"{ratio_text(c.headline)}; member rows rejected at import: {c.member_rows_rejected}",
            soft_wrap=True,
        )


def render_listed(entries: list[Listed], *, empty: str, to: Console = out) -> None:
    """The tasks behind a figure, as a person reads them (numbers masked)."""
    if not entries:
        to.print(empty)
        return
    several = len({e.campaign for e in entries}) > 1
    heads = ["customer", "name", "member", "phone", "deadline (local)", "tried", "why not now",
             "next eligible (local)"]  # fmt: skip
    table = Table(*(["campaign", *heads] if several else heads))
    for e in entries:
        why = f"{e.risk}; {e.why}" if e.risk else e.why
        cells = [
            e.customer_key, e.name, "yes" if e.member else "no",
            mask_phone(e.phone) if e.phone else "", e.local(e.deadline), e.tries, why,
            e.local(e.next_at) or "–",
        ]  # fmt: skip
        table.add_row(*(term_safe(x) for x in ([e.campaign, *cells] if several else cells)))
    to.print(table)


def _whom_json(e: Listed | RiskEntry) -> dict[str, Any]:
    """The keys every listed task carries in JSON, whichever list it is on (number masked)."""
    return {
        "task_id": e.task_id,
        "campaign": e.campaign,
        "customer_id": e.customer_key,
        "name": e.name,
        "member": e.member,
        "phone": mask_phone(e.phone) if e.phone else None,
        "deadline": e.deadline.isoformat(),
    }


def _listed_json(e: Listed) -> dict[str, Any]:
    return {
        **_whom_json(e),
        "time_zone": e.zone,
        "state": e.state,
        "tries": e.tries,
        "why": e.why,
        "next_eligible_at": e.next_at.isoformat() if e.next_at else None,
        "next_eligible_local": e.local(e.next_at) or None,
    }


def _list(entries: list[RiskEntry], listed_: dict[int, Listed], as_json: bool) -> None:
    """`--list at-risk`: the risk entries (with their slack and causes) and why not now."""
    if as_json:
        for e in entries:
            row = {
                **_whom_json(e),
                "slack_seconds": e.slack_seconds,
                "attempts_made": e.attempts_made,
                "reason": e.reason,
                "causes": list(e.causes),
            }
            more = listed_.get(e.task_id)
            if more is not None:
                row.update({k: v for k, v in _listed_json(more).items() if k not in row})
            print(json.dumps(row, ensure_ascii=False))
        return
    render_listed([listed_[e.task_id] for e in entries if e.task_id in listed_],
                  empty="no task is at risk")  # fmt: skip


def check_failures(report: CoverageReport) -> list[tuple[CampaignCoverage, list[str]]]:
    return [(c, c.headline.failures()) for c in report.campaigns if c.headline.failures()]


def render_check(report: CoverageReport, behind: list[Listed], to: Console, *, limit: int) -> None:
    """What `--check` found: each failing campaign's conditions, then the members behind them."""
    failures = check_failures(report)
    if not failures:
        to.print(
            "check passed: no member breached or at risk, and the goal can still be met",
            soft_wrap=True,
        )
        return
    for c, found in failures:
        to.print(f"check failed: {c.slug}: " + "; ".join(found), soft_wrap=True)
    to.print(f"the members behind it (at most {limit}):")
    render_listed(behind, empty="(none listed)", to=to)


def _behind(
    session: Any, book: CampaignBook, now: datetime, report: CoverageReport,
    campaign: str | None, when: datetime | None, limit: int,
) -> list[Listed]:  # fmt: skip
    """The members `--check` fails on: breached, at risk, and when the goal is missed the late
    and not-contactable ones too (not listed: late members, whose reach is recorded)."""
    found: list[Listed] = []
    for c, _ in check_failures(report):
        wanted: list[ListName] = ["breached", "at-risk"]
        if c.headline.verdict == "missed":
            wanted.append("not-contactable")
        for which in wanted:
            if len(found) < limit:
                found += listed(session, book, now, which, campaign=c.slug, at=when,
                                members_only=True, limit=limit - len(found))  # fmt: skip
    return found


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
        bool,
        typer.Option(
            "--check",
            help="Exit 1 when a member is breached or at risk, or the goal can no longer be "
            "met; says which condition failed and names the members behind it.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    list_: Annotated[
        str | None,
        typer.Option(
            "--list",
            help="Name the customers in a state, with what was tried, why not now and when "
            "next: breached, at-risk, pending or not-contactable.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many listed.")] = 100,
) -> None:
    """Coverage of a campaign (or all): reached in time X of N members, pending, at risk,
    breached, and the verdict (goal met, on track, at risk, goal missed)."""
    if list_ is not None and list_ not in LISTS:
        raise UsageError(f"--list takes one of {', '.join(LISTS)}, got {list_!r}")
    c: Any = ctx.find_root().obj
    when = parse_at(at) if at else None
    store, now, book = c.store(), c.clock.now(), CampaignBook()
    behind: list[Listed] = []
    with store.sessions() as session:
        report = coverage(session, book, now, campaign=campaign, at=when)
        empty = not has_tasks(report)
        if list_ is not None and not empty:
            which: ListName = list_
            named = listed(session, book, now, which, campaign=campaign, at=when, limit=limit)
            risks = (
                at_risk(session, book, now, campaign=campaign, at=when, limit=limit)
                if which == "at-risk" and as_json
                else None
            )
        if check and not empty:
            behind = _behind(session, book, now, report, campaign, when, limit)
    if empty and not as_json:
        out.print(no_tasks(report))
        return
    if list_ is not None and not empty:
        if risks is not None:
            _list(risks, {e.task_id: e for e in named}, as_json=True)
        elif as_json:
            for e in named:
                print(json.dumps(_listed_json(e), ensure_ascii=False))
        else:
            render_listed(named, empty=f"no task is {list_.replace('-', ' ')}")
    elif as_json:
        data = report.as_json()
        if empty:
            data["message"] = no_tasks(report)
        print(json.dumps(data, ensure_ascii=False))
    else:
        render_coverage_table(report)
    if check and not empty:
        render_check(report, behind, err if as_json else out, limit=limit)
        if report.failing:
            raise typer.Exit(1)


__all__ = ["coverage_command", "parse_at"]
