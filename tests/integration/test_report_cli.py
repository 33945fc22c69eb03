"""`dialer report` as an operator runs it: html, xlsx and csv written atomically, cells safe from
formula injection when read back, every report audited, unknown campaigns exit 5."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from cli_context import audits, cli_app
from dialer_process import run_dialer
from openpyxl import load_workbook
from report_seeding import EVIL_REASON, SLUG, seed_report
from typer.testing import CliRunner, Result

from dialer.clock import SettableClock
from dialer.errors import NotFoundError, UsageError
from dialer.report import Report
from dialer.report_cli import ReportFormat, report_command, write_report
from dialer.store import Store


@pytest.fixture
def app(store: Store, clock: SettableClock) -> typer.Typer:
    return cli_app(store, clock, lambda a: a.command("report")(report_command))


@pytest.fixture
def seeded(store: Store, clock: SettableClock) -> list[int]:
    return seed_report(store, clock, evil=True)


def invoke(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, ["report", SLUG, *args])


def _no_leftovers(folder: Path) -> None:
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_csv_is_long_format_safe_and_audited(
    app: typer.Typer, store: Store, seeded: list[int], tmp_path: Path
) -> None:
    target = tmp_path / "r.csv"
    result = invoke(app, "--format", "csv", "--output", str(target))
    assert result.exit_code == 0, result.output
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["section", "metric", "key", "value"]
    got = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert got[("list_use", "reached", "")] == "4"
    assert got[("list_use", "attempts_per_reach", "")] == "2.25"
    assert got[("target", "member_coverage", "")] == "0.8"
    assert got[("agents", "tasks", "王小明")] == "2"
    assert got[("refusals", "reason:refused", "'" + EVIL_REASON)] == "1"
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r)
    assert "+8869" not in raw.decode("utf-8-sig")
    sections = [r[0] for r in rows[1:]]
    assert sections[0] == "campaign" and sections[-1] == "coverage_over_time"
    [entry] = audits(store)
    assert entry.action == "report.export" and entry.subject_id == SLUG
    assert entry.detail["format"] == "csv" and entry.detail["path"] == str(target.resolve())
    _no_leftovers(tmp_path)


def test_xlsx_has_one_sheet_per_section_and_no_formula(
    app: typer.Typer, store: Store, seeded: list[int], tmp_path: Path
) -> None:
    result = invoke(app, "--format", "xlsx", "--output", str(tmp_path))
    assert result.exit_code == 0, result.output
    [target] = [p for p in tmp_path.iterdir() if p.suffix == ".xlsx"]
    assert target.name == f"report-{SLUG}-2026-11-24.xlsx"  # local date in Asia/Taipei
    wb = load_workbook(target)
    assert wb.sheetnames == [
        "campaign",
        "target",
        "list_use",
        "outcomes",
        "complaints",
        "agents",
        "refusals",
        "coverage_over_time",
    ]
    for ws in wb.worksheets:
        assert [c.value for c in next(ws.iter_rows())] == ["metric", "key", "value"]
        assert all(c.data_type != "f" for line in ws.iter_rows() for c in line)
    keys = [c.value for c in wb["refusals"]["B"]]
    assert "'" + EVIL_REASON in keys
    assert audits(store)[0].detail["format"] == "xlsx"
    _no_leftovers(tmp_path)


def test_html_default_format(
    app: typer.Typer, store: Store, seeded: list[int], tmp_path: Path
) -> None:
    target = tmp_path / "r.html"
    result = invoke(app, "--output", str(target))
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and 'id="coverage-curve"' in html
    assert audits(store)[0].detail["format"] == "html"


def test_at_gives_the_report_as_it_stood(
    app: typer.Typer, store: Store, seeded: list[int], tmp_path: Path
) -> None:
    target = tmp_path / "r.csv"
    result = invoke(
        app, "--format", "csv", "--output", str(target), "--at", "2026-11-23 11:30 Asia/Taipei"
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))
    got = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert got[("list_use", "reached", "")] == "1"
    assert audits(store)[0].detail["at"] == "2026-11-23T03:30:00+00:00"


def test_unknown_campaign_writes_nothing_and_is_not_found(
    app: typer.Typer, store: Store, tmp_path: Path
) -> None:
    target = tmp_path / "x.html"
    result = CliRunner().invoke(app, ["report", "no-such", "--output", str(target)])
    assert isinstance(result.exception, NotFoundError) and result.exception.exit_code == 5
    assert not target.exists() and audits(store) == []


def test_a_failed_write_leaves_nothing_behind(
    store: Store, clock: SettableClock, seeded: list[int], tmp_path: Path
) -> None:
    from dialer.attempts import CampaignBook
    from dialer.report import build_report

    with store.sessions() as s:
        report: Report = build_report(s, CampaignBook(), clock.now(), SLUG)
    with pytest.raises(UsageError):
        write_report(report, ReportFormat.CSV, tmp_path / "missing" / "r.csv")
    target = tmp_path / "r.html"
    target.write_text("old")
    write_report(report, ReportFormat.HTML, target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    _no_leftovers(tmp_path)


def test_real_process_unknown_campaign_is_one_sentence_exit_5(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    result = run_dialer(tmp_path, "report", "no-such-campaign", "--format", "csv", db=db)
    assert result.returncode == 5
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")
    listed = run_dialer(tmp_path, "report", "--help", db=db)
    assert listed.returncode == 0 and "--format" in listed.stdout
