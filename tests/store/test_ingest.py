"""Importing customer files into the real store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dialer.clock import SettableClock
from dialer.errors import InputFileError, MissingColumnsError
from dialer.ingest import Importer, phone_customer_key, rejected_rows
from dialer.models import (
    Customer,
    CustomerPhone,
    ImportRun,
    ImportStatus,
    RejectedRow,
    ServiceEvent,
)
from dialer.store import Store

SAMPLE = Path(__file__).parents[2] / "dialer" / "samples" / "customers.csv"


def importer(store: Store, clock: SettableClock, **kw: object) -> Importer:
    return Importer(store, clock, default_region="TW", actor="tester", **kw)  # type: ignore[arg-type]


def write(tmp_path: Path, text: str, name: str = "file.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def count(store: Store, model: type) -> int:
    with store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def customer(store: Store, key: str) -> Customer:
    with store.sessions() as s:
        c = s.scalars(select(Customer).where(Customer.customer_key == key)).one()
        _ = c.phones, c.events
        return c


def test_sample_file_counts_every_row_once(store: Store, clock: SettableClock) -> None:
    summary = importer(store, clock).run(SAMPLE)
    assert summary.status == ImportStatus.COMPLETED
    assert (summary.read, summary.imported, summary.updated, summary.unchanged) == (18, 14, 1, 0)
    assert summary.rejected == 3
    assert summary.members_rejected == 2  # C0015 (bad number) and C0017 (no name) are members
    assert summary.read == summary.imported + summary.updated + summary.unchanged + summary.rejected
    assert count(store, Customer) == 14
    assert summary.events_added == 15
    reasons = {
        r.row_number: (r.column, r.value, r.reason) for r in rejected_rows(store, summary.run_id)
    }
    assert set(reasons) == {16, 17, 18}
    assert reasons[16][1] == "12345"
    assert "也許" in reasons[17][2] and reasons[17][0] == "會員"  # the file's own header
    assert reasons[18][0] == "姓名"
    with store.sessions() as s:
        run = s.get(ImportRun, summary.run_id)
        assert run is not None and run.rows_rejected == 3 and run.finished_at == clock.now()


def test_reimport_is_idempotent(store: Store, clock: SettableClock) -> None:
    importer(store, clock).run(SAMPLE)
    before = (count(store, Customer), count(store, CustomerPhone), count(store, ServiceEvent))
    clock.advance(86400)
    again = importer(store, clock).run(SAMPLE)
    assert (again.imported, again.updated, again.events_added) == (0, 0, 0)
    assert again.unchanged == 15 and again.rejected == 3
    assert (
        count(store, Customer),
        count(store, CustomerPhone),
        count(store, ServiceEvent),
    ) == before


def test_next_days_file_updates_and_adds_events(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    header = "客戶編號,姓名,手機,電話,會員,服務日期,服務項目\n"
    importer(store, clock).run(
        write(tmp_path, header + "A1,王小明,0912345678,,是,2026/11/20,保養\n")
    )
    day2 = write(
        tmp_path,
        header
        + "A1,王小明,0912345678,02-2345-6789,是,2026/11/21,輪胎\n"  # new number and event
        + "A2,陳美玲,0928222333,,否,2026/11/21,洗車\n",
        "day2.csv",
    )
    summary = importer(store, clock).run(day2)
    assert (summary.imported, summary.updated, summary.unchanged) == (1, 1, 0)
    a1 = customer(store, "A1")
    assert [p.e164 for p in a1.phones] == ["+886912345678", "+886223456789"]
    assert [p.phone_type for p in a1.phones] == ["mobile", "fixed_line"]
    assert [e.service_date for e in a1.events] == [date(2026, 11, 20), date(2026, 11, 21)]


def test_member_flag_change_is_an_update(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    header = "id,name,phone,member\n"
    importer(store, clock).run(write(tmp_path, header + "B1,Amy,+14155552671,no\n"))
    summary = importer(store, clock).run(
        write(tmp_path, header + "B1,Amy,+14155552671,yes\n", "b.csv")
    )
    assert summary.updated == 1
    assert customer(store, "B1").member is True


def test_customers_without_id_are_keyed_by_number(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = (
        "姓名,手機,服務日期\n王小明,0912-345-678,2026-11-20\n王小明,+886 912 345 678,2026-11-21\n"
    )
    summary = importer(store, clock).run(write(tmp_path, text))
    assert (summary.imported, summary.updated) == (1, 1)
    c = customer(store, phone_customer_key("+886912345678"))
    assert "912" not in c.customer_key
    assert len(c.events) == 2


def test_all_valid_numbers_kept_mobile_first(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = "id,name,電話,手機\nC1,Lin,02-2345-6789 轉12,0933-444-555 / 0955 666 777\n"
    importer(store, clock).run(write(tmp_path, text))
    c = customer(store, "C1")
    assert [p.e164 for p in c.phones] == ["+886933444555", "+886955666777", "+886223456789"]
    assert c.phones[2].extension == "12"
    assert c.phones[2].sms_ok is False and c.phones[0].sms_ok is True


def test_row_with_one_bad_and_one_good_number_is_kept(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = "id,name,手機,電話\nC1,Lin,12345,02-2345-6789\n"
    summary = importer(store, clock).run(write(tmp_path, text))
    assert (summary.imported, summary.rejected) == (1, 0)
    assert [p.e164 for p in customer(store, "C1").phones] == ["+886223456789"]


def test_time_zones_explicit_derived_and_none(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = (
        "id,name,phone,time zone\n"
        "T1,Amy,+14155552671,\n"
        "T2,Bob,+14155552671,Asia/Taipei\n"
        "T3,Toll,+1 800 555 0199,\n"
        "T4,Lin,0912-345-678,\n"
    )
    importer(store, clock).run(write(tmp_path, text))
    assert customer(store, "T1").time_zones == ["America/Los_Angeles"]
    t2 = customer(store, "T2")
    assert t2.time_zones == ["Asia/Taipei"] and t2.time_zone_explicit
    assert customer(store, "T3").time_zones == []
    assert customer(store, "T4").phones[0].region == "TW"  # no country column: default region


def test_country_column_sets_the_region(store: Store, clock: SettableClock, tmp_path: Path) -> None:
    text = "id,name,phone,country\nK1,김민준,010-2345-6789,韓國\n"
    importer(store, clock).run(write(tmp_path, text))
    k1 = customer(store, "K1")
    assert k1.phones[0].e164 == "+821023456789"
    assert k1.time_zones == ["Asia/Seoul"] and k1.region == "KR"


def test_service_time_is_stored_as_utc(store: Store, clock: SettableClock, tmp_path: Path) -> None:
    text = "id,name,phone,service date,service time\nS1,Lin,0912345678,2026/11/20,10:30\n"
    importer(store, clock).run(write(tmp_path, text))
    event = customer(store, "S1").events[0]
    assert event.service_at == datetime(2026, 11, 20, 2, 30, tzinfo=UTC)


def test_missing_columns_refused_before_writing(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    path = write(tmp_path, "客戶編號,會員,地址\nA1,是,台北\n")
    with pytest.raises(MissingColumnsError) as info:
        importer(store, clock).run(path)
    assert "name" in str(info.value) and "地址" in str(info.value)
    assert count(store, ImportRun) == 0 and count(store, Customer) == 0


def test_unreadable_file_refused(store: Store, clock: SettableClock, tmp_path: Path) -> None:
    with pytest.raises(InputFileError):
        importer(store, clock).run(tmp_path / "nope.csv")
    assert count(store, ImportRun) == 0


def test_interrupted_import_leaves_whole_customers_and_rerun_finishes(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    lines = ["id,name,手機,電話,會員,服務日期"]
    for i in range(50):
        lines.append(
            f"I{i},客戶{i},09{i:08d},02-2345-{i:04d},{'是' if i % 3 == 0 else '否'},2026/11/20"
        )
    path = write(tmp_path, "\n".join(lines) + "\n")
    calls = 0

    def boom(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        importer(store, clock, batch_rows=10).run(path, progress=boom)
    with store.sessions() as s:
        run = s.scalars(select(ImportRun)).one()
        assert run.status == ImportStatus.INTERRUPTED and run.rows_read == 20
        partial = s.scalars(select(Customer)).all()
        assert len(partial) == 20
        assert all(len(c.phones) == 2 and len(c.events) == 1 for c in partial)
    summary = importer(store, clock, batch_rows=10).run(path)
    assert (summary.imported, summary.unchanged) == (30, 20)
    assert count(store, Customer) == 50 and count(store, ServiceEvent) == 50


def test_rejects_are_stored_with_raw_cells(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = "id,name,phone,member\nR1,Amy,abc,yes\nR2,Bob,+14155552671,perhaps\nR3,Cy,+14155552672,Y,extra\n"
    summary = importer(store, clock).run(write(tmp_path, text))
    assert summary.rejected == 3 and summary.members_rejected == 2
    with store.sessions() as s:
        rows = s.scalars(select(RejectedRow).order_by(RejectedRow.row_number)).all()
        assert [r.row_number for r in rows] == [2, 3, 4]
        assert rows[0].raw["phone"] == "abc" and rows[0].column == "phone"
        assert "perhaps" in rows[1].reason
        assert "more cell" in rows[2].reason


def test_xlsx_file_with_numeric_and_date_cells(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["客戶編號", "姓名", "手機", "會員", "服務日期", "里程"])
    sheet.append(["X1", "王小明", 912345678, "是", date(2026, 11, 20), 45200])
    sheet.append(["X2", "陳美玲", "0928-222-333", "否", date(2026, 11, 21), "30,100 km"])
    path = tmp_path / "客戶.xlsx"
    book.save(path)
    summary = importer(store, clock).run(path)
    assert (summary.file_format, summary.imported, summary.rejected) == ("xlsx", 2, 0)
    x1 = customer(store, "X1")
    assert x1.phones[0].e164 == "+886912345678"  # Excel dropped the leading 0; still valid
    assert x1.events[0].service_date == date(2026, 11, 20) and x1.events[0].mileage_km == 45200
    assert customer(store, "X2").events[0].mileage_km == 30100
