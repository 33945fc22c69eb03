"""Customer files as Taiwanese, Korean and Chinese companies export them (issue 18), on both engines.

Every fixture is generated here: CP949 with Korean headers and no region, Big5/Traditional,
GBK/Simplified, an English workbook with US numbers under a TW default, a mixed file with a
country column. Each asserts the stored E.164, zone, language, the rejects and the summary.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.errors import InputFileError
from dialer.file_region import RegionUnclearError
from dialer.ingest import Importer, ImportSummary
from dialer.models import (
    Attempt,
    AttemptState,
    AuditEntry,
    CallbackTask,
    Customer,
    ImportRun,
    RejectedRow,
    ServiceEvent,
)
from dialer.planner import plan_campaign
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"


def run(store: Store, clock: SettableClock, path: Path, **kw: object) -> ImportSummary:
    return Importer(store, clock, default_region="TW", actor="tester", **kw).run(path)  # type: ignore[arg-type]


def write(tmp_path: Path, text: str, encoding: str, name: str = "file.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def by_name(store: Store) -> dict[str, Customer]:
    with store.sessions() as s:
        found = s.scalars(select(Customer).order_by(Customer.id)).all()
        for c in found:
            _ = c.phones, c.events
        return {c.name: c for c in found}


def rejects(store: Store, run_id: int) -> list[tuple[int, str, str | None, str | None, str]]:
    with store.sessions() as s:
        return [
            (r.row_number, r.kind, r.column, r.value, r.reason)
            for r in s.scalars(
                select(RejectedRow)
                .where(RejectedRow.import_run_id == run_id)
                .order_by(RejectedRow.row_number, RejectedRow.id)
            )
        ]


def count(store: Store, model: type) -> int:
    with store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


KOREAN = (
    "고객번호,이름,휴대폰,전화번호,서비스일자\n"
    "K1,김철수,,02-312-3456,2027-03-11\n"  # a Seoul landline: valid in TW too
    "K2,이영희,010-1234-5678,02-12,2027-03-11\n"  # second number unusable: dropped, listed
    "K3,박민수,010-2345-6789,,2027-03-11\n"
    "K4,최지우,010-3456-7890,,2027-03-11\n"
    "K5,정하늘,010-4567-8901,,2027-03-11\n"
    + "".join(f"K{i},고객{i},010-5555-{i:04d},,2027-03-11\n" for i in range(6, 11))
)


def test_cp949_korean_file_without_region_is_read_as_korean(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    summary = run(store, clock, write(tmp_path, KOREAN, "cp949"))
    assert summary.encoding == "cp949"
    assert summary.region is not None and summary.region.inferred
    assert summary.region.region == "KR" and summary.region.valid_share["KR"] >= 0.9
    assert summary.region.valid_share["TW"] < 0.5
    note = summary.region.note()
    assert note is not None and "KR" in note and "--region TW" in note and "Hangul" in note
    assert summary.numbers_valid_in_both == 1  # 02-312-3456, taken in KR and reported
    people = by_name(store)
    seoul = people["김철수"]
    assert [p.e164 for p in seoul.phones] == ["+8223123456"]
    assert seoul.time_zones == ["Asia/Seoul"] and seoul.region == "KR"
    assert (seoul.language, seoul.language_source) == ("ko", "number")
    assert [p.e164 for p in people["이영희"].phones] == ["+821012345678"]
    assert (summary.imported, summary.rejected, summary.numbers_dropped) == (10, 0, 1)
    assert rejects(store, summary.run_id) == [
        (
            3,
            "number",
            "전화번호",
            "02-12",
            "number dropped: '02-12' is not a valid number for region KR (is the area code missing?)",
        )
    ]
    assert summary.as_json()["numbers_dropped"] == 1
    with store.sessions() as s:
        assert s.get(ImportRun, summary.run_id).numbers_dropped == 1  # type: ignore[union-attr]


def test_unclear_korean_file_is_refused_naming_the_region(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    # Only landlines, every one valid in Seoul and in Taipei: the numbers cannot tell.
    text = "고객번호,이름,전화번호\nK1,김철수,02-312-3456\nK2,이영희,02-345-6789\n"
    path = write(tmp_path, text, "cp949")
    with pytest.raises(RegionUnclearError) as info:
        run(store, clock, path)
    message = str(info.value)
    assert "KR" in message and "--region KR" in message and "nothing was imported" in message
    assert "\n" not in message and info.value.exit_code == 3
    assert count(store, ImportRun) == 0 and count(store, Customer) == 0
    summary = run(store, clock, path, region="KR")  # the user says which
    assert summary.region is not None and summary.region.source == "--region"
    assert sorted(p.e164 for c in by_name(store).values() for p in c.phones) == [
        "+8223123456",
        "+8223456789",
    ]


def test_big5_traditional_file_stays_taiwanese(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = (
        "客戶編號,姓名,手機,電話,服務日期,門市\n"
        "T1,陳美玲,0928-222-333,02-2345-6789,2027/03/11,台北內湖店\n"
        "T2,黃淑芬,,07-334-5678,2027/03/11,高雄左營店\n"
        "T3,林志豪,12345,,2027/03/11,新北板橋店\n"
    )
    summary = run(store, clock, write(tmp_path, text, "big5"))
    assert summary.encoding == "cp950"
    assert summary.region is not None and summary.region.source == "default"
    assert summary.region.note() is None and summary.numbers_valid_in_both == 0
    people = by_name(store)
    mei = people["陳美玲"]
    assert [p.e164 for p in mei.phones] == ["+886928222333", "+886223456789"]
    assert mei.time_zones == ["Asia/Taipei"]
    assert (mei.language, mei.language_source) == ("zh-TW", "number")
    assert (summary.imported, summary.rejected, summary.numbers_dropped) == (2, 1, 0)
    assert [(r[0], r[1], r[2]) for r in rejects(store, summary.run_id)] == [(4, "row", "手機")]


def test_gbk_simplified_file_is_read_as_chinese(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = (
        "客户编号,姓名,手机,服务日期,门店\n"
        "C1,刘德华,138 1234 5678,2027-03-11,上海浦东店\n"
        "C2,张学友,139 8765 4321,2027-03-11,北京朝阳店\n"
        "C3,黎明,186 0000 1111,2027-03-11,广州天河店\n"
    )
    summary = run(store, clock, write(tmp_path, text, "gbk"))
    assert summary.encoding == "gb18030"
    assert summary.region is not None and summary.region.inferred
    assert summary.region.region == "CN" and summary.region.valid_share["TW"] == 0.0
    assert "Simplified Chinese" in " ".join(summary.region.evidence)
    liu = by_name(store)["刘德华"]
    assert [p.e164 for p in liu.phones] == ["+8613812345678"]
    assert liu.time_zones == ["Asia/Shanghai"] and liu.region == "CN"
    assert (liu.language, liu.language_source) == ("zh-CN", "number")
    assert (summary.imported, summary.rejected, summary.numbers_dropped) == (3, 0, 0)


def test_english_workbook_with_us_numbers_under_a_tw_default(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Customer ID", "Name", "Phone", "Mobile", "Service date"])
    sheet.append(["U1", "Emily Johnson", "(415) 555-0123", None, date(2027, 3, 11)])
    sheet.append(["U2", "Michael Chen", "(212) 555-0188", "555", date(2027, 3, 11)])
    sheet.append(["U3", "Sarah Lee", "(206) 555-0147", None, date(2027, 3, 11)])
    path = tmp_path / "customers.xlsx"
    book.save(path)
    summary = run(store, clock, path)
    # (415) 555-0123 is a valid Korean and Chinese number too; the US writes it that way.
    assert summary.region is not None and summary.region.inferred
    assert summary.region.region == "US"
    people = by_name(store)
    emily = people["Emily Johnson"]
    assert [p.e164 for p in emily.phones] == ["+14155550123"]
    assert emily.time_zones == ["America/Los_Angeles"]
    assert (emily.language, emily.language_source) == ("en", "number")
    assert people["Michael Chen"].time_zones == ["America/New_York"]
    assert (summary.imported, summary.rejected, summary.numbers_dropped) == (3, 0, 1)
    assert [(r[0], r[1], r[2], r[3]) for r in rejects(store, summary.run_id)] == [
        (3, "number", "Mobile", "555")
    ]


def test_mixed_file_with_a_country_column(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = (
        "客戶編號,姓名,手機,國家,語言\n"
        "M1,王小明,0912-345-678,,\n"  # no country: the default region
        "M2,김민준,010-2345-6789,韓國,\n"
        "M3,이서연,02-312-3456,KR,\n"  # the country cell, not the default, reads it
        "M4,Emily Johnson,(415) 555-2671,美國,\n"
        "M5,劉德華,138 1234 5678,中国,\n"
        "M6,Kim Lee,+82 10-4567-8901,,English\n"  # +CC decides; the language column wins
        "M7,Bad Country,0912-000-111,Atlantis,\n"
    )
    summary = run(store, clock, write(tmp_path, text, "utf-8"))
    assert summary.region is not None and summary.region.source == "default"
    people = by_name(store)
    expected = {
        "王小明": ("+886912345678", ["Asia/Taipei"], "zh-TW", "number"),
        "김민준": ("+821023456789", ["Asia/Seoul"], "ko", "number"),
        "이서연": ("+8223123456", ["Asia/Seoul"], "ko", "number"),
        "Emily Johnson": ("+14155552671", ["America/Los_Angeles"], "en", "number"),
        "劉德華": ("+8613812345678", ["Asia/Shanghai"], "zh-CN", "number"),
        "Kim Lee": ("+821045678901", ["Asia/Seoul"], "en", "file"),
    }
    got = {
        name: (c.phones[0].e164, c.time_zones, c.language, c.language_source)
        for name, c in people.items()
    }
    assert got == expected
    assert (summary.imported, summary.rejected) == (6, 1)
    assert [(r[0], r[1], r[2], r[3]) for r in rejects(store, summary.run_id)] == [
        (8, "row", "國家", "Atlantis")
    ]


def test_reimport_replaces_a_wrong_number_and_cancels_its_attempt(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    """The issue's case: a Seoul landline first stored as Taipei (the user forced TW)."""
    text = "고객번호,이름,전화번호,휴대폰,서비스일자\nK1,김철수,02-312-3456,,2027-03-11\n"
    path = write(tmp_path, text, "cp949")
    run(store, clock, path, region="TW")
    wrong = by_name(store)["김철수"]
    assert [p.e164 for p in wrong.phones] == ["+88623123456"]
    assert wrong.time_zones == ["Asia/Taipei"]
    spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    clock.set(datetime(2027, 3, 12, 1, 0, tzinfo=UTC))
    plan_campaign(store, clock, spec)
    due = datetime(2027, 3, 12, 2, 0, tzinfo=UTC)
    with store.transaction() as s:
        task = s.scalars(select(CallbackTask)).one()
        task.next_attempt_at = None
        task.attempts_made = 1
        s.add(
            Attempt(
                task_id=task.id,
                customer_id=wrong.id,
                number=1,
                channel="voice",
                phone_e164="+88623123456",
                state=AttemptState.SCHEDULED,
                due_at=due,
                created_at=clock.now(),
            )
        )
        task_id = task.id
    # The same file again with its region, and a mobile added since.
    fixed = write(
        tmp_path,
        "고객번호,이름,전화번호,휴대폰,서비스일자\nK1,김철수,02-312-3456,010-1234-5678,2027-03-11\n",
        "cp949",
        "again.csv",
    )
    summary = run(store, clock, fixed, region="KR")
    assert (summary.updated, summary.numbers_removed, summary.attempts_cancelled) == (1, 1, 1)
    right = by_name(store)["김철수"]
    assert [p.e164 for p in right.phones] == ["+821012345678", "+8223123456"]
    assert [p.rank for p in right.phones] == [0, 1]
    assert right.time_zones == ["Asia/Seoul"]  # not Taipei and Seoul
    with store.sessions() as s:
        attempt = s.scalars(select(Attempt)).one()
        assert attempt.state == AttemptState.CANCELLED and attempt.ended_at == clock.now()
        assert "removed by import run" in (attempt.error_message or "")
        task = s.get(CallbackTask, task_id)
        assert task is not None and task.next_attempt_at == due  # tried again on a kept number
        audit_rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "import.number_removed")
        ).all()
        assert [(a.subject_id, a.detail["attempts_cancelled"]) for a in audit_rows] == [
            (str(right.id), 1)
        ]
        assert "3123456" not in str(audit_rows[0].detail)  # masked
    again = run(store, clock, fixed, region="KR")
    assert (again.unchanged, again.numbers_removed) == (1, 0)


def test_a_customer_across_batches_keeps_what_each_batch_stated(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = (
        "客戶編號,姓名,手機,電話,服務日期\n"
        "A1,王小明,0912-345-678,02-2345-6789,2027-03-01\n"
        "A2,陳美玲,0928-222-333,,2027-03-01\n"
        "A1,王小明,0912-345-678,,2027-03-05\n"  # next batch: the landline is not repeated
    )
    path = write(tmp_path, text, "utf-8")
    for _ in range(2):  # a first import, then a re-import where A1 is unchanged in batch one
        summary = Importer(store, clock, default_region="TW", actor="tester", batch_rows=2).run(
            path
        )
        assert summary.numbers_removed == 0
        assert [p.e164 for p in by_name(store)["王小明"].phones] == [
            "+886912345678",
            "+886223456789",
        ]
    assert (summary.imported, summary.updated, summary.unchanged) == (0, 0, 3)


def test_reimport_without_ids_corrects_the_number_read_in_the_wrong_country(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    text = "이름,전화번호,서비스일자\n김철수,02-312-3456,2027-03-11\n"
    path = write(tmp_path, text, "cp949")
    run(store, clock, path, region="TW")  # stored as a Taipei number
    summary = run(store, clock, path, region="KR")
    assert summary.numbers_valid_in_both == 1 and summary.numbers_removed == 1
    assert count(store, Customer) == 1  # the same person, not a second customer
    kim = by_name(store)["김철수"]
    assert [p.e164 for p in kim.phones] == ["+8223123456"] and kim.time_zones == ["Asia/Seoul"]
    assert (kim.language, kim.language_source) == ("ko", "number")


def test_one_person_once_without_an_id(store: Store, clock: SettableClock, tmp_path: Path) -> None:
    text = (
        "姓名,手機,電話,服務日期\n"
        "王小明,0912-345-678,,2027-03-01\n"
        "王 小明,+886 912 345 678,02-2345-6789,2027-03-05\n"  # the same person, spaced
        "王大明,0912-345-678,,2027-03-06\n"  # the same number, another name: kept apart
        "陳美玲,,02-2345-6789,2027-03-07\n"  # shares the landline with 王小明
    )
    path = write(tmp_path, text, "utf-8")
    summary = run(store, clock, path)
    people = by_name(store)
    # One customer with two service events, under the name as first written.
    assert set(people) == {"王小明", "王大明", "陳美玲"}
    assert len(people["王小明"].events) == 2 and len(people["王小明"].phones) == 2
    assert len(people["王大明"].events) == 1
    assert [(d.row, d.names) for d in summary.possible_duplicates] == [
        (4, ("王小明", "王大明")),
        (5, ("王小明", "陳美玲")),
    ]
    assert all("345" not in d.phone for d in summary.possible_duplicates)  # masked
    again = run(store, clock, path)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 4)
    assert count(store, Customer) == 3


def test_with_an_id_the_id_decides(store: Store, clock: SettableClock, tmp_path: Path) -> None:
    text = "客戶編號,姓名,手機\nA1,王小明,0912-345-678\nA2,王小明,0912-345-678\n"
    summary = run(store, clock, write(tmp_path, text, "utf-8"))
    assert summary.imported == 2 and summary.possible_duplicates == []
    assert count(store, Customer) == 2


def test_language_column_stands_on_reimport(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    with_language = "客戶編號,姓名,手機,語言\nL1,Kim,010-2345-6789,English\n"
    without = "客戶編號,姓名,手機\nL1,Kim,010-2345-6789\n"
    run(store, clock, write(tmp_path, with_language, "utf-8"), region="KR")
    run(store, clock, write(tmp_path, without, "utf-8", "b.csv"), region="KR")
    kim = by_name(store)["Kim"]
    assert (kim.language, kim.language_source) == ("en", "file")


def test_header_only_and_empty_files(store: Store, clock: SettableClock, tmp_path: Path) -> None:
    header_only = write(tmp_path, "客戶編號,姓名,手機\n", "utf-8")
    with pytest.raises(InputFileError) as info:
        run(store, clock, header_only)
    assert "nothing to import" in str(info.value) and "--allow-empty" in str(info.value)
    assert count(store, ImportRun) == 0
    summary = run(store, clock, header_only, allow_empty=True)
    assert (summary.status, summary.read) == ("completed", 0)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError):
        run(store, clock, empty)
    assert run(store, clock, empty, allow_empty=True).status == "completed"
    assert count(store, ImportRun) == 2 and count(store, Customer) == 0


# --- issue 17, item 3: service times as written -------------------------------------------


def events(store: Store) -> dict[str, ServiceEvent]:
    with store.sessions() as s:
        rows = s.execute(select(Customer.customer_key, ServiceEvent).join(ServiceEvent)).all()
        return {key: ev for key, ev in rows}


def test_service_times_as_written(store: Store, clock: SettableClock, tmp_path: Path) -> None:
    text = (
        "customer id,name,phone,country,service date,service time\n"
        "S1,Kim,010-2345-6789,KR,2027-03-11,16:00+00:00\n"  # 01:00 on the 12th in Seoul
        "S2,Lin,0912-345-678,TW,2027-03-11 19:00,\n"  # the date column's time counts
        "S3,Park,010-3456-7890,KR,2027-03-11,14:30\n"  # naive: the customer's zone
        "S4,Wang,0912-000-111,TW,2027-03-11T08:00:00-05:00,\n"  # offset in the date cell
    )
    run(store, clock, write(tmp_path, text, "utf-8"))
    ev = events(store)
    assert ev["S1"].service_at == datetime(2027, 3, 11, 16, 0, tzinfo=UTC)
    assert ev["S1"].service_date == date(2027, 3, 12) and ev["S1"].service_time_local is None
    assert ev["S2"].service_at == datetime(2027, 3, 11, 11, 0, tzinfo=UTC)
    assert ev["S2"].service_time_local == "19:00:00"
    assert ev["S3"].service_at == datetime(2027, 3, 11, 5, 30, tzinfo=UTC)
    assert ev["S4"].service_at == datetime(2027, 3, 11, 13, 0, tzinfo=UTC)
    assert ev["S4"].service_date == date(2027, 3, 11)


def test_naive_service_time_in_the_trigger_zone_when_the_campaign_says_so(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    from dialer.plan_decide import service_start
    from dialer.plan_model import EventFacts

    text = (
        "customer id,name,phone,country,service date,service time\n"
        "S3,Park,010-3456-7890,KR,2027-03-11,14:30\n"
        "S1,Kim,010-2345-6789,KR,2027-03-11,16:00+00:00\n"
    )
    run(store, clock, write(tmp_path, text, "utf-8"))
    spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    assert spec.trigger.service_time_zone == "customer"  # the shipped file says what import does
    trigger = spec.model_copy(
        update={"trigger": spec.trigger.model_copy(update={"service_time_zone": "trigger"})}
    )
    for key, customer_read, trigger_read in (
        ("S3", datetime(2027, 3, 11, 5, 30, tzinfo=UTC), datetime(2027, 3, 11, 6, 30, tzinfo=UTC)),
        ("S1", datetime(2027, 3, 11, 16, 0, tzinfo=UTC), datetime(2027, 3, 11, 16, 0, tzinfo=UTC)),
    ):
        e = events(store)[key]
        facts = EventFacts(e.id, e.service_date, e.service_at, None, None, e.service_time_local)
        assert service_start(spec, facts, "Asia/Seoul") == customer_read == e.service_at
        assert service_start(trigger, facts, "Asia/Seoul").astimezone(UTC) == trigger_read


def test_delay_after_service_counts_from_the_date_columns_time(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    spec: CampaignSpec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    text = "customer id,name,phone,service date\nD1,Lin,0912-345-678,2027-03-11 19:00\n"
    run(store, clock, write(tmp_path, text, "utf-8"))
    clock.set(datetime(2027, 3, 11, 11, 10, tzinfo=UTC))  # 19:10 in Taipei, Thursday
    plan_campaign(store, clock, spec)
    with store.sessions() as s:
        task = s.scalars(select(CallbackTask)).one()
    assert spec.trigger.delay == timedelta(hours=2)
    served = datetime(2027, 3, 11, 11, 0, tzinfo=UTC)
    assert task.next_attempt_at is not None and task.next_attempt_at >= served + spec.trigger.delay
    # 21:00 is rest: the first try opens at 09:00 the next morning in Taipei.
    assert task.next_attempt_at == datetime(2027, 3, 12, 1, 0, tzinfo=UTC)
