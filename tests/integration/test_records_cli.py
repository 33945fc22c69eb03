"""`dialer records` as an operator runs it: masked table, audited reveal and exports, safe files.

The command is mounted on a small app whose root object stands in for dialer.cli's Context, so
it runs on both engines with a settable clock; one real process checks the wiring and exit code.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from cli_context import audits, cli_app, refuse_audit_entries
from dialer_process import run_dialer
from openpyxl import load_workbook
from seeding import seed
from sqlalchemy import update
from typer.testing import CliRunner, Result

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.errors import NotFoundError, UsageError
from dialer.models import Attempt, CallbackTask, Customer
from dialer.records_cli import records_command
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SLUG = "after-service-satisfaction"
EVIL = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def app(store: Store, clock: SettableClock) -> typer.Typer:
    return cli_app(store, clock, lambda a: a.command("records")(records_command))


@pytest.fixture
def seeded(store: Store, clock: SettableClock) -> Iterator[list[int]]:
    """Two customers (one named like a formula), three placed attempts, one in Seoul."""
    spec = load_campaign(CAMPAIGNS / f"{SLUG}.toml")
    tasks = seed(store, clock, spec, n=2)
    now = clock.now()
    with store.transaction() as s:
        s.execute(update(Customer).where(Customer.customer_key == "C0").values(name=EVIL))
        s.execute(
            update(Customer).where(Customer.customer_key == "C1").values(time_zones=["Asia/Seoul"])
        )
        for n, (tid, minutes) in enumerate([(tasks[0], 0), (tasks[0], 130), (tasks[1], 5)]):
            task = s.get(CallbackTask, tid)
            assert task is not None
            s.add(
                Attempt(
                    task_id=tid,
                    customer_id=task.customer_id,
                    number=n + 1,
                    channel="voice",
                    phone_e164=f"+88691234567{tasks.index(tid)}",
                    state="completed",
                    provider_status="no-answer",
                    due_at=now,
                    created_at=now,
                    placed_at=now + timedelta(minutes=minutes),
                )
            )
    yield tasks


def invoke(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, ["records", "--campaign", SLUG, *args])


def test_table_is_masked_limited_and_counted(
    app: typer.Typer, store: Store, seeded: list[int]
) -> None:
    result = invoke(app, "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "+886 9•••••670" in result.output and "912345670" not in result.output
    assert "3 attempt(s) in the record of after-service-satisfaction" in result.output
    assert "showing the first 2" in result.output
    assert audits(store) == []  # a masked look is not a reveal


def test_reveal_shows_numbers_and_is_audited(
    app: typer.Typer, store: Store, clock: SettableClock, seeded: list[int]
) -> None:
    result = invoke(app, "--reveal")
    assert result.exit_code == 0, result.output
    assert "+886912345670" in result.output
    [entry] = audits(store)
    assert (entry.actor, entry.action, entry.subject_id) == ("ops-tester", "records.reveal", SLUG)
    assert entry.at == clock.now() and entry.detail["rows"] == 3


def test_reveal_prints_no_number_when_its_audit_entry_cannot_commit(
    app: typer.Typer, store: Store, seeded: list[int]
) -> None:
    refuse_audit_entries(store)
    for args in (("--reveal",), ("--reveal", "--json"), ("--json",)):
        result = invoke(app, *args)
        assert result.exit_code != 0
        assert "912345670" not in result.output and "9•••••670" not in result.output
    assert audits(store) == []


def test_json_listing_with_the_notes_is_audited(
    app: typer.Typer, store: Store, clock: SettableClock, seeded: list[int]
) -> None:
    result = invoke(app, "--json")
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 3 and '"note"' in result.output
    [entry] = audits(store)
    assert (entry.actor, entry.action, entry.subject_id) == ("ops-tester", "records.view", SLUG)
    assert entry.detail["rows"] == 3 and entry.detail["json"] is True


def test_json_lines_carry_local_time_in_the_customers_zone(
    app: typer.Typer, seeded: list[int]
) -> None:
    result = invoke(app, "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["task"], r["attempt"]) for r in rows] == [
        (seeded[0], 1),
        (seeded[0], 2),
        (seeded[1], 1),
    ]
    seoul = rows[2]
    assert seoul["time_zone"] == "Asia/Seoul"
    assert (seoul["placed_at"], seoul["local_time"]) == (
        "2026-11-23T02:05:00+00:00",
        "2026-11-23T11:05:00+09:00",
    )
    assert rows[1]["local_time"] == "2026-11-23T12:10:00+08:00"
    assert all("•" in r["phone"] for r in rows)


def test_csv_export_default_name_masked_safe_and_audited(
    app: typer.Typer,
    store: Store,
    clock: SettableClock,
    seeded: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "exports"
    out.mkdir()
    monkeypatch.chdir(out)
    result = invoke(app, "--export", "csv")
    assert result.exit_code == 0, result.output
    target = out / f"records-{SLUG}-2026-11-23.csv"
    assert list(out.iterdir()) == [target]  # no temporary file left behind
    with target.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and rows[0]["customer_name"] == "'" + EVIL
    assert all("•" in r["phone"] for r in rows)
    [entry] = audits(store)
    assert (entry.action, entry.actor, entry.at) == ("records.export", "ops-tester", clock.now())
    assert entry.detail["rows"] == 3 and entry.detail["format"] == "csv"
    assert entry.detail["revealed"] is False and entry.detail["path"] == str(target)


def test_xlsx_export_with_reveal_to_a_chosen_path(
    app: typer.Typer, store: Store, seeded: list[int], tmp_path: Path
) -> None:
    target = tmp_path / "callbacks.xlsx"
    result = invoke(app, "--export", "xlsx", "--output", str(target), "--reveal")
    assert result.exit_code == 0, result.output
    assert "3 attempt(s)" in result.output and "full numbers" in result.output
    ws = load_workbook(target).active
    assert ws is not None
    header = [c.value for c in next(ws.iter_rows())]
    first = dict(zip(header, [c.value for c in list(ws.iter_rows())[1]], strict=True))
    assert first["customer_name"] == "'" + EVIL and first["phone"] == "+886912345670"
    assert all(c.data_type != "f" for line in ws.iter_rows() for c in line)
    [entry] = audits(store)
    assert entry.action == "records.export" and entry.detail["revealed"] is True


def test_unknown_campaign_writes_nothing_and_is_not_found(
    app: typer.Typer, store: Store, tmp_path: Path
) -> None:
    target = tmp_path / "x.csv"
    result = CliRunner().invoke(
        app, ["records", "--campaign", "no-such", "--export", "csv", "--output", str(target)]
    )
    assert isinstance(result.exception, NotFoundError) and result.exception.exit_code == 5
    assert not target.exists() and audits(store) == []


def test_bad_options_are_usage_errors(app: typer.Typer, seeded: list[int]) -> None:
    for args in (["--output", "x.csv"], ["--since", "yesterday"], ["--since", "2026-11-24", "--until", "2026-11-23"]):  # fmt: skip
        result = invoke(app, *args)
        assert isinstance(result.exception, UsageError), args
    bad_format = invoke(app, "--export", "pdf")
    assert bad_format.exit_code == 2


def test_real_process_unknown_campaign_is_one_sentence_exit_5(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    result = run_dialer(tmp_path, "records", "--campaign", "no-such-campaign", db=db)
    assert result.returncode == 5
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error:") and "no-such-campaign" in result.stderr
    listed = run_dialer(tmp_path, "records", "--help", db=db)
    assert listed.returncode == 0 and "--export" in listed.stdout
