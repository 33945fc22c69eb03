"""Generated customer files never crash the importer, and every row is accounted for."""

from __future__ import annotations

import csv
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dialer.clock import SettableClock
from dialer.file_region import RegionUnclearError
from dialer.ingest import Importer
from dialer.models import Customer, CustomerPhone, ImportRun, RejectedRow
from dialer.store import Store

# NUL bytes make a whole file "not text" (refused before anything is written; tested elsewhere).
TEXT = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
PHONES = st.one_of(
    st.sampled_from(
        [
            "0912-345-678",
            "+82 10-2345-6789",
            "(415) 555-2671",
            "０９２８２２２３３３",
            "12345",
            "",
            "abc",
            "02-2345-6789 轉12",
            "+886 (0)933 444 555",
        ]
    ),
    st.text(TEXT, max_size=20),
)
FLAGS = st.one_of(
    st.sampled_from(["是", "否", "Y", "n", "회원", "", "也許"]), st.text(TEXT, max_size=5)
)
DATES = st.one_of(
    st.sampled_from(["2026/11/20", "2026-11-21", "115/11/22", "", "2026-02-30"]),
    st.text(TEXT, max_size=12),
)
CELLS = st.text(TEXT, max_size=15)
ROWS = st.lists(
    st.tuples(st.sampled_from(["A1", "A2", "A3", "", "B7"]), CELLS, PHONES, PHONES, FLAGS, DATES),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS)
def test_generated_files_never_crash_and_balance(
    tmp_path: Path, rows: list[tuple[str, ...]]
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = folder / "gen.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["客戶編號", "姓名", "手機", "電話", "會員", "服務日期"])
        writer.writerows(rows)
    store = Store.open(f"sqlite:///{folder / 'd.db'}")
    try:
        clock = SettableClock(datetime(2026, 11, 23, tzinfo=UTC))
        try:
            summary = Importer(store, clock, default_region="TW", actor="fuzz").run(path)
        except RegionUnclearError:  # a file whose country is unclear is refused whole
            with store.sessions() as s:
                assert s.scalar(select(func.count()).select_from(ImportRun)) == 0
                assert s.scalar(select(func.count()).select_from(Customer)) == 0
            return
        assert (
            summary.read
            == summary.imported + summary.updated + summary.unchanged + summary.rejected
        )
        with store.sessions() as s:
            kinds = dict(
                s.execute(select(RejectedRow.kind, func.count()).group_by(RejectedRow.kind)).all()
            )
            # Rejected rows, and the dropped numbers of kept rows, each listed once.
            assert kinds.get("row", 0) == summary.rejected
            assert kinds.get("number", 0) == summary.numbers_dropped
            customers = s.scalar(select(func.count()).select_from(Customer))
            assert customers == summary.imported
            orphans = s.scalar(
                select(func.count()).select_from(Customer).where(~Customer.phones.any())
            )
            assert orphans == 0  # every customer written has at least one number
            assert s.scalar(select(func.count()).select_from(CustomerPhone)) >= customers
    finally:
        store.close()
