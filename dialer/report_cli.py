"""`dialer report CAMPAIGN --format html|xlsx|csv`: the summary report (回訪總結報告) as a file.

- **html**: one self-contained file (inline CSS and SVG charts, no script, no external URL).
- **csv**: long format, one row per figure: `section,metric,key,value` (UTF-8 with BOM so Excel
  reads Chinese text); sections in order: campaign, target, list_use, outcomes, complaints,
  agents, refusals, coverage_over_time. `key` is the state, channel, outcome, reason, agent name
  or instant a figure is about (empty when none); shares and rates are fractions (0.5 = 50%).
- **xlsx**: the same rows, one sheet per section (columns `metric,key,value`).

Every text cell of csv and xlsx goes through `safe_cell` (no formula injection). Files are written
atomically (a hidden temporary renamed over the target) and every report written is audited in
the same transaction as the read (`report.export`). Aggregates only: no phone number, no
customer name.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from dialer import audit
from dialer.atomic_file import write_atomically
from dialer.attempts import CampaignBook
from dialer.console import out
from dialer.coverage_cli import parse_at
from dialer.report import Report, build_report
from dialer.report_html import render_html
from dialer.spreadsheet import safe_cell

CSV_HEADER = ("section", "metric", "key", "value")


class ReportFormat(StrEnum):
    HTML = "html"
    XLSX = "xlsx"
    CSV = "csv"


def local_date(report: Report) -> str:
    try:
        zone = ZoneInfo(report.time_zone)
    except (ValueError, KeyError, OSError):
        zone = ZoneInfo("UTC")
    return f"{report.at.astimezone(zone):%Y-%m-%d}"


def default_filename(report: Report, fmt: ReportFormat) -> str:
    return f"report-{report.slug}-{local_date(report)}.{fmt.value}"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if value is True or value is False:
        return "yes" if value else "no"
    return safe_cell(value)


def _write_csv(report: Report, path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        for row in report.rows():
            writer.writerow([_cell(v) for v in row])


def _write_xlsx(report: Report, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook(write_only=True)
    sheets: dict[str, Any] = {}
    for section, metric, key, value in report.rows():
        ws = sheets.get(section)
        if ws is None:
            ws = sheets[section] = wb.create_sheet(section[:31])
            ws.append(["metric", "key", "value"])
        cells = [_cell(v) for v in (metric, key, value)]
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in cells])
    wb.save(str(path))


def _write_html(report: Report, path: Path) -> None:
    path.write_text(render_html(report), encoding="utf-8")


WRITERS: dict[ReportFormat, Callable[[Report, Path], None]] = {
    ReportFormat.HTML: _write_html,
    ReportFormat.CSV: _write_csv,
    ReportFormat.XLSX: _write_xlsx,
}


def write_report(report: Report, fmt: ReportFormat, target: Path) -> None:
    """Write the report atomically: a hidden temporary next to `target`, renamed when complete."""
    write_atomically(target, lambda tmp: WRITERS[fmt](report, tmp))


def export_report(
    store: Any,
    clock: Any,
    actor: str,
    slug: str,
    fmt: ReportFormat,
    output: Path | None,
    *,
    at: datetime | None = None,
    book: CampaignBook | None = None,
) -> Path:
    """Build, write and audit the report in one transaction; the path written. A file whose audit
    entry did not commit is removed."""
    written: Path | None = None
    try:
        with store.transaction() as session:
            report = build_report(session, book or CampaignBook(), clock.now(), slug, at=at)
            target = output or Path(default_filename(report, fmt))
            if target.is_dir():
                target = target / default_filename(report, fmt)
            write_report(report, fmt, target)
            written = target
            audit.record(
                session,
                clock,
                actor,
                "report.export",
                "campaign",
                slug,
                format=fmt.value,
                path=str(target.resolve()),
                at=report.at.isoformat(),
            )
    except BaseException:
        if written is not None:
            written.unlink(missing_ok=True)
        raise
    return target


def report_command(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign slug.", show_default=False)],
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="html, xlsx or csv.", show_default=True)
    ] = ReportFormat.HTML,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="The file (default report-<slug>-<local date>.<ext>; a folder puts it there).",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="The report as it stood at a past instant: ISO with offset, or "
            "'YYYY-MM-DD HH:MM Zone/Name'.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The summary report: target achievement, list use, outcomes, complaints, agents, refusals,
    coverage over time."""
    c: Any = ctx.find_root().obj
    when = parse_at(at) if at else None
    target = export_report(c.store(), c.clock, c.settings.operator, campaign, fmt, output, at=when)
    out.print(f"summary report of {campaign} written to {target} ({fmt.value})")


__all__ = [
    "ReportFormat",
    "default_filename",
    "export_report",
    "report_command",
    "write_report",
]
