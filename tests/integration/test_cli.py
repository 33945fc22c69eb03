"""The `dialer` command as a user runs it: real processes, real SQLite files, exit codes and JSON."""

from __future__ import annotations

import csv
import json
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_context import refuse_audit_entries
from dialer_process import run_dialer

from dialer.models import AuditEntry
from dialer.store import Store


def run(tmp_path: Path, *args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_dialer(tmp_path, *args, db=db or tmp_path / "d.db")


def assert_one_sentence(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stderr.strip().startswith("error:")


def test_readme_main_job_imports_sample_and_lists(tmp_path: Path) -> None:
    result = run(tmp_path, "import", "--sample", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("read", "imported", "updated", "rejected")} == {
        "read": 18,
        "imported": 14,
        "updated": 1,
        "rejected": 3,
    }
    listing = run(tmp_path, "customers", "list")
    assert listing.returncode == 0, listing.stderr
    assert "王小明" in listing.stdout and "김민준" in listing.stdout
    assert "912345678" not in listing.stdout  # masked


def test_customers_list_json_lines(tmp_path: Path) -> None:
    assert run(tmp_path, "import", "--sample").returncode == 0
    result = run(tmp_path, "customers", "list", "--json", "--limit", "0")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 14
    first = next(r for r in rows if r["customer_id"] == "C0001")
    assert first["name"] == "王小明" and first["member"] is True
    assert first["time_zones"] == ["Asia/Taipei"] and first["phone_type"] == "mobile"
    assert first["phone_e164"] != "+886912345678" and first["phone_e164"].endswith("678")
    us = next(r for r in rows if r["customer_id"] == "C0010")
    assert us["phone_type"] == "fixed_line_or_mobile" and us["member"] is True
    members = run(tmp_path, "customers", "list", "--json", "--members", "--limit", "0")
    assert all(json.loads(line)["member"] for line in members.stdout.splitlines())


def test_reveal_shows_numbers_and_is_audited(tmp_path: Path) -> None:
    assert run(tmp_path, "import", "--sample").returncode == 0
    result = run(tmp_path, "customers", "show", "C0001", "--reveal", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["phone_e164"] == "+886912345678"
    assert len(data["service_events"]) == 2
    by_phone = run(tmp_path, "customers", "show", "0912 345 678", "--json")
    assert json.loads(by_phone.stdout)["customer_id"] == "C0001"
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        with store.sessions() as s:
            entries = s.query(AuditEntry).order_by(AuditEntry.id).all()
            assert [(e.actor, e.action) for e in entries] == [
                ("ops-tester", "reveal_phone"),
                ("ops-tester", "view_customer"),
            ]
    finally:
        store.close()


def test_reveal_prints_no_number_when_its_audit_entry_cannot_commit(tmp_path: Path) -> None:
    assert run(tmp_path, "import", "--sample").returncode == 0
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        refuse_audit_entries(store)
    finally:
        store.close()
    for args in (("customers", "list", "--reveal"), ("customers", "list", "--reveal", "--json")):
        result = run(tmp_path, *args)
        assert result.returncode == 4, result.stderr
        assert_one_sentence(result)
        assert "912345678" not in result.stdout and "王小明" not in result.stdout
    shown = run(tmp_path, "customers", "show", "C0001", "--reveal", "--json")
    assert shown.returncode == 4 and "912345678" not in shown.stdout


def test_markup_and_escape_sequences_in_customer_data_stay_inert_text(tmp_path: Path) -> None:
    link = "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07"
    title, colour = "\x1b]0;pwned\x07", "\x1b[31m"
    name = f"[link=http://evil.example]王[/link]{link}{title}{colour}小明"
    path = tmp_path / "names.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        head = ["客戶編號", "姓名", "手機", "服務日期", "服務項目"]
        rows = [head, ["C1", name, "0912345678", "2026/11/20", f"[b]{colour}x"]]
        csv.writer(fh).writerows([*rows, ["C2", "陳美玲", f"[red]{link}", "2026/11/20", ""]])
    assert run(tmp_path, "import", str(path)).returncode == 0
    for args in (("customers", "list"), ("customers", "show", "C1"), ("imports", "rejects", "1")):
        result = run(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "[link=" in run(tmp_path, "customers", "list").stdout  # the column wraps it
    shown = run(tmp_path, "customers", "show", "C1").stdout
    assert "[link=http://evil.example]王[/link]click小明" in shown and "[b]x" in shown
    assert "[red]" in run(tmp_path, "imports", "rejects", "1").stdout


def test_rejects_file_and_strict_exit(tmp_path: Path) -> None:
    out = tmp_path / "rejects.csv"
    result = run(tmp_path, "import", "--sample", "--rejects", str(out), "--strict")
    assert result.returncode == 6
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:4] == ["row", "column", "value", "reason"]
    assert [r[0] for r in rows[1:]] == ["16", "17", "18"]
    assert "姓名" in rows[0]
    listing = run(tmp_path, "imports", "list", "--json")
    assert json.loads(listing.stdout.splitlines()[0])["rejected"] == 3


def test_rejects_file_neutralises_formulas_in_every_cell(tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://evil.example","x")'
    path = tmp_path / "evil.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        rows = [["姓名", "手機", "=cmd"], ["王小明", evil, "a"], ["陳美玲", "@SUM(1+1)", "b"]]
        csv.writer(fh).writerows([*rows, ["林志豪", "0912345678", "c"]])
    for args in (("import", str(path), "--rejects", "r1.csv"), ("imports", "rejects", "1")):
        result = run(tmp_path, *args, *(("--out", "r2.csv") if args[0] == "imports" else ()))
        assert result.returncode == 0, result.stderr
    for name in ("r1.csv", "r2.csv"):
        with (tmp_path / name).open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["row", "column", "value", "reason", "姓名", "手機", "'=cmd"]
        assert [r[2][:11] for r in rows[1:]] == ["'=HYPERLINK", "'@SUM(1+1)"]  # value: cut short
        assert [r[5] for r in rows[1:]] == ["'" + evil, "'@SUM(1+1)"]
        assert not any(cell.startswith(("=", "@", "+")) for r in rows for cell in r)


def test_rejects_out_to_a_folder_is_one_sentence(tmp_path: Path) -> None:
    assert run(tmp_path, "import", "--sample").returncode == 0
    for folder in ("/", str(tmp_path)):
        result = run(tmp_path, "imports", "rejects", "1", "--out", folder)
        assert result.returncode == 2, result.stderr
        assert_one_sentence(result)
        assert "internal error" not in result.stderr and "give a file name" in result.stderr


def test_files_holding_customer_data_are_private_to_their_owner(tmp_path: Path) -> None:
    result = run(tmp_path, "import", "--sample", "--rejects", "rejects.csv")
    assert result.returncode == 0, result.stderr
    assert run(tmp_path, "imports", "rejects", "1", "--out", "again.csv").returncode == 0
    for name in ("d.db", "rejects.csv", "again.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    store = Store.open(f"sqlite:///{tmp_path / 'live.db'}")  # while open: its WAL and index
    try:
        with store.transaction() as s:
            s.add(
                AuditEntry(at=datetime(2026, 11, 23, tzinfo=UTC), actor="t", action="t", detail={})
            )
        for name in ("live.db", "live.db-wal", "live.db-shm"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        store.close()


def test_missing_file_is_one_sentence(tmp_path: Path) -> None:
    result = run(tmp_path, "import", "nothing-here.csv")
    assert result.returncode == 3
    assert_one_sentence(result)


def test_missing_columns_name_fields_and_headers(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("編號,地址\n1,台北\n", encoding="utf-8")
    result = run(tmp_path, "import", str(path))
    assert result.returncode == 3
    assert_one_sentence(result)
    assert "name" in result.stderr and "地址" in result.stderr


def test_a_header_less_file_error_masks_the_numbers_it_quotes(tmp_path: Path) -> None:
    path = tmp_path / "no-header.csv"
    path.write_text("王小明,0912-345-678\n陳美玲,0928222333\n", encoding="utf-8")
    result = run(tmp_path, "import", str(path))
    assert result.returncode == 3
    assert_one_sentence(result)
    assert "0••••••678" in result.stderr  # masked the way listings mask a number
    assert "345" not in result.stderr and "912" not in result.stderr


def test_bad_map_option(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("聯絡人,手機\n王小明,0912345678\n", encoding="utf-8")
    bad = run(tmp_path, "import", str(path), "--map", "聯絡人")
    assert bad.returncode == 2
    assert_one_sentence(bad)
    good = run(tmp_path, "import", str(path), "--map", "聯絡人=name", "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["imported"] == 1


def test_unknown_customer_and_bad_database(tmp_path: Path) -> None:
    result = run(tmp_path, "customers", "show", "NOPE")
    assert result.returncode == 5
    assert_one_sentence(result)
    missing_dir = run(tmp_path, "customers", "list", db=tmp_path / "no" / "such" / "d.db")
    assert missing_dir.returncode == 4
    assert_one_sentence(missing_dir)


def test_usage_errors(tmp_path: Path) -> None:
    neither = run(tmp_path, "import")
    assert neither.returncode == 2
    assert_one_sentence(neither)
    assert run(tmp_path, "--help").returncode == 0


@pytest.mark.parametrize("encoding", ["cp950", "gb18030", "cp949"])
def test_legacy_encodings_from_the_command_line(tmp_path: Path, encoding: str) -> None:
    name = {"cp950": "陳美玲", "gb18030": "刘德华", "cp949": "김민준"}[encoding]
    header = {"cp950": "姓名,手機", "gb18030": "姓名,手机", "cp949": "이름,휴대폰"}[encoding]
    path = tmp_path / "legacy.csv"
    path.write_bytes(f"{header}\n{name},0912345678\n".encode(encoding))
    result = run(tmp_path, "import", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 1
    listed = run(tmp_path, "customers", "list", "--json")
    assert json.loads(listed.stdout)["name"] == name


def test_a_plain_file_path_for_db_is_a_sqlite_file(tmp_path: Path) -> None:
    """`--db demo.db` as people type it: the SQLite file of that name, relative to the cwd."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    for args in (["import", "--sample"], ["customers", "list", "--json", "--limit", "0"]):
        result = subprocess.run(
            [sys.executable, "-m", "dialer", "--db", "plain.db", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 14
    from dialer.models import Customer

    with Store.open(f"sqlite:///{tmp_path / 'plain.db'}", upgrade=False).sessions() as s:
        assert s.query(Customer).count() == 14  # the customers went into that very file


def test_state_column_is_shown_and_a_bad_state_is_in_the_rejects_file(tmp_path: Path) -> None:
    source = tmp_path / "states.csv"
    source.write_text(
        "customer id,name,phone,state\nTX,Eve,+1 800 555 0123,Texas\nXX,Gil,+1 212 555 0199,Atlantis\n",
        encoding="utf-8",
    )
    out = tmp_path / "rejects.csv"
    result = run(tmp_path, "import", str(source), "--rejects", str(out), "--strict")
    assert result.returncode == 0, result.stderr  # a left-out state rejects no row
    assert "0 row(s) rejected, 0 number(s) dropped, 1 value(s) left out" in result.stdout
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [r[:3] for r in rows[1:]] == [["3", "state", "Atlantis"]]
    assert rows[1][3].startswith("state dropped: state 'Atlantis' is not a known state")
    shown = run(tmp_path, "customers", "show", "TX")
    assert shown.returncode == 0, shown.stderr
    assert "state: US-TX (from the address; its floor applies too)" in shown.stdout
    assert "time zones: (none: the zones of US-TX, the address)" in shown.stdout
    listing = run(tmp_path, "customers", "list")
    assert "(US-TX's zones)" in listing.stdout and "safe window" not in listing.stdout
    data = json.loads(run(tmp_path, "customers", "show", "TX", "--json").stdout)
    assert data["state"] == "US-TX"
    assert json.loads(run(tmp_path, "customers", "show", "XX", "--json").stdout)["state"] is None
