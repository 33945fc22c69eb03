"""`dialer dnc` as an operator runs it: idempotent adds, audited changes, masked listings, imports
that report bad lines and add nothing. Mounted on a small app (both engines, settable clock);
one real process checks the wiring and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from cli_context import audits, cli_app
from dialer_process import run_dialer
from seeding import seed
from sqlalchemy import select
from typer.testing import CliRunner, Result

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.dnc_cli import dnc_app
from dialer.errors import InputFileError, NotFoundError
from dialer.models import DoNotContact
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"


@pytest.fixture
def app(store: Store, clock: SettableClock) -> typer.Typer:
    return cli_app(store, clock, lambda a: a.add_typer(dnc_app, name="dnc"))


def dnc(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, ["dnc", *args])


def rows(store: Store) -> list[tuple[str | None, int | None, str, str, str | None, str | None]]:
    with store.sessions() as s:
        return [
            (e.e164, e.customer_id, e.channel, e.scope, e.reason, e.source)
            for e in s.scalars(select(DoNotContact).order_by(DoNotContact.id))
        ]


def test_add_twice_is_one_entry_and_says_already(
    app: typer.Typer, store: Store, clock: SettableClock
) -> None:
    first = dnc(app, "add", "0912 345 678", "--channel", "voice", "--reason", "complained")
    assert first.exit_code == 0, first.output
    assert "+886 9•••••678 (voice) added" in first.output
    again = dnc(app, "add", "+886912345678", "--channel", "voice")
    assert again.exit_code == 0 and "already on the do-not-contact list" in again.output
    assert rows(store) == [("+886912345678", None, "voice", "all", "complained", "operator")]
    entries = audits(store)
    assert [(e.action, e.actor, e.detail["created"]) for e in entries] == [
        ("dnc.add", "ops-tester", True),
        ("dnc.add", "ops-tester", False),
    ]
    assert entries[0].at == clock.now()
    assert "912345678" not in json.dumps(entries[0].detail)  # the audit log names it masked


def test_add_a_customer_marketing_only_and_a_korean_number(
    app: typer.Typer, store: Store, clock: SettableClock
) -> None:
    seed(store, clock, load_campaign(CAMPAIGNS / "after-service-satisfaction.toml"), n=1)
    result = dnc(app, "add", "C0", "--marketing-only", "--channel", "sms")
    assert result.exit_code == 0 and "customer C0 (sms, marketing only) added" in result.output
    korean = dnc(app, "add", "010-1234-5678", "--region", "kr")
    assert korean.exit_code == 0, korean.output
    assert [(r[0], r[2], r[3]) for r in rows(store)] == [
        (None, "sms", "marketing"),
        ("+821012345678", "all", "all"),
    ]
    bad_region = dnc(app, "add", "0912345678", "--region", "Korea")
    assert bad_region.exit_code != 0 and len(rows(store)) == 2


def test_unknown_reference_is_not_found(app: typer.Typer, store: Store) -> None:
    result = dnc(app, "add", "not a number")
    assert isinstance(result.exception, NotFoundError) and result.exception.exit_code == 5
    assert rows(store) == [] and audits(store) == []


def test_list_is_masked_and_reveal_is_audited(app: typer.Typer, store: Store) -> None:
    assert dnc(app, "add", "0912345678", "--reason", "=cmd|x").exit_code == 0
    masked = dnc(app, "list")
    assert masked.exit_code == 0, masked.output
    assert "+886 9•••••678" in masked.output and "912345678" not in masked.output
    assert "1 entry(ies) on the do-not-contact list" in masked.output
    assert [e.action for e in audits(store)] == ["dnc.add"]
    as_json = dnc(app, "list", "--json")
    [line] = [json.loads(x) for x in as_json.stdout.splitlines()]
    assert line["number"] == "+886 9•••••678" and line["source"] == "operator"
    revealed = dnc(app, "list", "--reveal", "--json")
    assert json.loads(revealed.stdout)["number"] == "+886912345678"
    last = audits(store)[-1]
    assert (last.action, last.actor, last.detail["rows"]) == ("dnc.reveal", "ops-tester", 1)


def test_remove_is_audited_and_keeps_the_customers_stop(
    app: typer.Typer, store: Store, clock: SettableClock
) -> None:
    assert dnc(app, "add", "0912345678", "--channel", "voice").exit_code == 0
    with store.transaction() as s:
        s.add(
            DoNotContact(
                e164="+886912345678",
                channel="all",
                scope="all",
                source="sms reply",
                created_at=clock.now(),
            )
        )
    result = dnc(app, "remove", "0912345678")
    assert result.exit_code == 0, result.output
    assert "1 entry(ies) removed" in result.output and "kept" in result.output
    assert [r[5] for r in rows(store)] == ["sms reply"]
    last = audits(store)[-1]
    assert last.action == "dnc.remove" and len(last.detail["removed"]) == 1
    nothing = dnc(app, "remove", "0922000000")
    assert "was not on the do-not-contact list" in nothing.output


def test_import_with_bad_rows_reports_lines_and_adds_nothing(
    app: typer.Typer, store: Store, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "number,channel,reason\n0912345678,voice,ok\n12,all,\n0922333444,fax,\n",
        encoding="utf-8",
    )
    result = dnc(app, "import", str(bad))
    assert isinstance(result.exception, InputFileError) and result.exception.exit_code == 3
    assert "line 3:" in result.output and "line 4:" in result.output and "fax" in result.output
    assert "line 2" not in result.output
    assert rows(store) == [] and audits(store) == []

    good = tmp_path / "good.csv"
    good.write_text(
        "number,channel,reason\n0912345678,voice,ok\n0922333444,,\n0912345678,voice,dup\n",
        encoding="utf-8",
    )
    done = dnc(app, "import", str(good))
    assert done.exit_code == 0, done.output
    assert "read 3  added 2  already on the list 1" in done.output
    assert [r[0] for r in rows(store)] == ["+886912345678", "+886922333444"]
    [entry] = audits(store)
    assert entry.action == "dnc.import" and (entry.detail["added"], entry.detail["already"]) == (
        2,
        1,
    )


def test_real_process_add_list_and_exit_codes(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    added = run_dialer(tmp_path, "dnc", "add", "0912345678", db=db)
    assert added.returncode == 0, added.stderr
    listed = run_dialer(tmp_path, "dnc", "list", db=db)
    assert listed.returncode == 0 and "•" in listed.stdout and "912345678" not in listed.stdout
    missing = run_dialer(tmp_path, "dnc", "add", "#42", db=db)
    assert missing.returncode == 5 and missing.stderr.startswith("error:")
    assert "Traceback" not in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("number\nnope\n", encoding="utf-8")
    imported = run_dialer(tmp_path, "dnc", "import", str(bad), db=db)
    assert imported.returncode == 3 and "line 2:" in imported.stderr
