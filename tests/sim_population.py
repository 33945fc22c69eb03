"""A hand-sized customer file for the simulation tests: Taipei customers, members interleaved with
non-members in file order, service days spread so that deadlines differ."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dialer.clock import SettableClock
from dialer.ingest import Importer
from dialer.store import Store

TAIPEI = ZoneInfo("Asia/Taipei")
START = datetime(2026, 11, 24, 9, 0, tzinfo=TAIPEI)  # a Tuesday, at the window's opening
HEADER = "客戶編號,姓名,手機,會員,國家,時區,語言,服務日期,服務項目\n"


def write_customers(
    path: Path, count: int, *, first_day: date = date(2026, 11, 22), days: int = 2
) -> Path:
    """`count` customers; every other one a member; service days spread over `days` days, oldest
    first (as a daily extract lists them), so deadlines differ (the first ones two days after the
    start) and file order is deadline order."""
    rows = []
    for i in range(count):
        member = "是" if i % 2 == 1 else "否"
        day = first_day + timedelta(days=days * i // count)
        rows.append(
            f"S{i:04d},客戶{i},0912-{i // 1000 % 1000:03d}-{i % 1000:03d},{member},TW,"
            f"Asia/Taipei,zh-TW,{day.isoformat()},定期保養\n"
        )
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def source_db(folder: Path, count: int) -> Store:
    """The operator's database: the customer file imported (nothing planned yet)."""
    store = Store.open(f"sqlite:///{folder / 'operator.db'}")
    Importer(store, SettableClock(START), default_region="TW", actor="test").run(
        write_customers(folder / "customers.csv", count)
    )
    return store
