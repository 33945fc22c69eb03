"""An import with the phone-number worker process writes exactly what one without it writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from dialer import phone_pool
from dialer.clock import SettableClock
from dialer.ingest import Importer
from dialer.models import (
    Customer,
    CustomerPhone,
    ImportRun,
    ImportStatus,
    RejectedRow,
    ServiceEvent,
)
from dialer.store import Store

ROWS = [
    "客戶編號,姓名,手機,電話,會員,國家,服務日期,服務時間,門市",
    "A1,王小明,0912-345-678,02-2345-6789,是,,2026/11/20,10:30,台北內湖店",
    "A2,이민준,010-2345-6789,,회원,KR,2026-11-20,14:00,서울 강남점",
    "A3,张伟,13812345678,,否,CN,2026/11/21,09:05,上海浦东店",
    "A4,Emily Smith,(415) 555-2671,+1 415 555 2672,Y,US,2026-11-21,16:45,San Jose",
    "A1,王小明,0912345678,,是,,2026/11/22,11:00,台北內湖店",
    "A5,壞號碼,12345,,否,,2026/11/22,11:00,台北內湖店",
    "A6,林美玲,０９２２３３３４４４ / 04-2345-6789 轉 12,,也許,,2026/11/22,,台中西屯店",
    "A7,,0933-444-555,,否,,2026/11/22,,台中西屯店",
    "A8,陳志明,0955-666-777,,會員,火星,2026/11/23,,台中西屯店",
]


def snapshot(store: Store) -> dict[str, list[tuple[object, ...]]]:
    with store.sessions() as s:
        return {
            "customers": [
                (c.customer_key, c.name, c.member, c.region, list(c.time_zones or []))
                for c in s.scalars(select(Customer).order_by(Customer.customer_key))
            ],
            "phones": sorted(
                (p.customer.customer_key, p.e164, str(p.phone_type), p.rank, p.extension)
                for p in s.scalars(select(CustomerPhone))
            ),
            "events": sorted(
                (e.customer.customer_key, e.event_key, str(e.service_at))
                for e in s.scalars(select(ServiceEvent))
            ),
            "rejects": [
                (r.row_number, r.column, r.value, r.reason, r.member)
                for r in s.scalars(select(RejectedRow).order_by(RejectedRow.row_number))
            ],
        }


def test_the_worker_changes_nothing_but_speed(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    here = Store.open(f"sqlite:///{tmp_path / 'here.db'}")
    try:
        alone = Importer(here, clock, default_region="TW", actor="t", phone_worker=False)
        expected = alone.run(path).as_json()
        want = snapshot(here)
    finally:
        here.close()
    with_worker = Importer(
        store, clock, default_region="TW", actor="t", batch_rows=3, phone_worker=True
    )
    got = with_worker.run(path).as_json()
    assert {k: v for k, v in got.items() if k != "run_id"} == {
        k: v for k, v in expected.items() if k != "run_id"
    }
    assert snapshot(store) == want
    assert got["rejected"] == 4 and got["read"] == 9


def test_an_interrupted_import_stops_its_worker(
    store: Store, clock: SettableClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    started: list[subprocess.Popen[bytes]] = []
    start = phone_pool._start_worker

    def recorded() -> subprocess.Popen[bytes] | None:
        worker = start()
        assert worker is not None
        started.append(worker)
        return worker

    monkeypatch.setattr(phone_pool, "_start_worker", recorded)
    calls = 0

    def interrupt(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    importer = Importer(
        store, clock, default_region="TW", actor="t", batch_rows=2, phone_worker=True
    )
    with pytest.raises(KeyboardInterrupt):
        importer.run(path, progress=interrupt)
    assert len(started) == 1 and started[0].poll() is not None
    with store.sessions() as s:
        run = s.scalars(select(ImportRun)).one()
        assert run.status == ImportStatus.INTERRUPTED and run.rows_read == 4
