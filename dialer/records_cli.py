"""`dialer records --campaign SLUG`: the callback record (回訪記錄表) on screen or as a file.

On screen (a rich table or `--json` lines) the numbers are masked and the listing is limited;
`--export csv|xlsx` writes every row atomically. Every export, every `--reveal` and every `--json`
listing (it carries the agents' notes) is written to the audit log in the same transaction as the
read, and nothing is printed until that entry has committed: no entry, no data.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dialer import audit
from dialer.console import out, term_safe
from dialer.errors import UsageError
from dialer.records import (
    ExportFormat,
    RecordRow,
    Window,
    count_records,
    default_filename,
    find_campaign,
    iter_records,
    write_export,
)

SCREEN_COLUMNS = (
    ("task", "task"),
    ("attempt", "#"),
    ("customer_id", "customer"),
    ("customer_name", "name"),
    ("channel", "channel"),
    ("phone", "to"),
    ("status", "status"),
    ("provider_status", "provider"),
    ("local_time", "local time"),
    ("outcome", "outcome"),
    ("answer", "answer"),
    ("agent", "agent"),
)


def _root(ctx: typer.Context) -> Any:
    return ctx.find_root().obj


def _moment(text: str | None, option: str) -> datetime | None:
    """An ISO date or date-time; without an offset it is read as UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(
            f"{option} takes an ISO date or date-time such as 2026-11-23 or "
            f"2026-11-23T09:00+08:00, got {text!r}"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def records_command(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option("--campaign", help="Campaign slug.", show_default=False)],
    export: Annotated[
        ExportFormat | None,
        typer.Option("--export", help="Write every row to a csv or xlsx file.", show_default=False),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="The export file (default records-<slug>-<date>.<ext>; a folder puts it there).",
            show_default=False,
        ),
    ] = None,
    reveal: Annotated[bool, typer.Option(help="Show full phone numbers (audited).")] = False,
    since: Annotated[
        str | None,
        typer.Option(help="Only attempts placed (or created) at or after this ISO time (UTC)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only attempts placed (or created) before this ISO time.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=0, help="On screen: at most this many rows (0 = all).")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row.")] = False,
) -> None:
    """The callback record: one row per call or SMS attempt, with its outcome and local time."""
    c = _root(ctx)
    window = Window(_moment(since, "--since"), _moment(until, "--until"))
    if window.since and window.until and window.since >= window.until:
        raise UsageError("--since must be before --until")
    if output is not None and export is None:
        raise UsageError("--output needs --export csv or --export xlsx")
    store, clock, actor = c.store(), c.clock, c.settings.operator
    if export is not None:
        target = output or Path(default_filename(campaign, export, clock.now()))
        if target.is_dir():
            target = target / default_filename(campaign, export, clock.now())
        _export(store, clock, actor, campaign, export, target, reveal, window)
        return
    with store.transaction() as session:
        cid, zone = find_campaign(session, campaign)
        total = count_records(session, cid, window)
        rows = iter_records(session, cid, campaign, zone, reveal=reveal, window=window)
        shown: list[RecordRow] = list(islice(rows, limit) if limit else rows)
        if reveal or as_json:  # full numbers, or the JSON's notes and answers about a customer
            audit.record(
                session,
                clock,
                actor,
                "records.reveal" if reveal else "records.view",
                "campaign",
                campaign,
                rows=len(shown),
                json=as_json,
                since=since,
                until=until,
            )
    # Committed: nothing is shown unless its audit entry is in the log.
    if as_json:
        for row in shown:
            print(json.dumps(asdict(row), ensure_ascii=False))
        return
    table = Table(*(title for _, title in SCREEN_COLUMNS))
    for row in shown:
        data = asdict(row)
        table.add_row(*(term_safe(data[key]) for key, _ in SCREEN_COLUMNS))
    if shown:
        out.print(table)
    more = (
        f"; showing the first {len(shown)} (--limit, or --export for all)"
        if len(shown) < total
        else ""
    )
    out.print(f"{total} attempt(s) in the record of {campaign}{more}")


def _export(
    store: Any,
    clock: Any,
    actor: str,
    slug: str,
    fmt: ExportFormat,
    target: Path,
    reveal: bool,
    window: Window,
) -> None:
    """Rows streamed from one read transaction into the file; the audit entry commits with it."""
    written = False
    try:
        with store.transaction() as session:
            cid, zone = find_campaign(session, slug)
            rows = iter_records(session, cid, slug, zone, reveal=reveal, window=window)
            count = write_export(rows, fmt, target)
            written = True
            audit.record(
                session,
                clock,
                actor,
                "records.export",
                "campaign",
                slug,
                format=fmt.value,
                path=str(target.resolve()),
                rows=count,
                revealed=reveal,
                since=window.since.isoformat() if window.since else None,
                until=window.until.isoformat() if window.until else None,
            )
    except BaseException:
        if written:  # the audit entry did not commit: the file must not outlive it
            target.unlink(missing_ok=True)
        raise
    masked = "full numbers (audited)" if reveal else "numbers masked"
    out.print(f"{count} attempt(s) of {slug} written to {target} ({fmt.value}, {masked})")
