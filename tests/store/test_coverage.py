"""Coverage numbers against hand-computed cases, on both engines.

The shipped after-service campaign: voice 3 tries, spacing 2 h with backoff 1.5, ring 30 s,
handle time 3 min, then one SMS. So a call needs min_open = 30 s + 180 s = 210 s of window, and
the tries still allowed need (spacing waits + one call):
  0 made: 2 h + 3 h + 210 s = 18,210 s;  1 made: 3 h + 210 s = 11,010 s;  2 made: 210 s;
  3 made (SMS fallback): any open time, 1 s.
Window (Asia/Taipei): Mon-Sat 09:00-12:00 and 13:30-20:30; the clock is Monday 2026-11-23
10:00 Taipei (02:00 UTC). An instant is open when the next 210 s are, so a span of length L
holds L - 210 s of open time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from seeding import seed
from sqlalchemy import select, update

from dialer.attempts import CampaignBook
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.coverage import (
    RiskRule,
    at_risk,
    classify,
    coverage,
    member_rows_rejected,
    refresh_slack,
    risk_rule,
)
from dialer.errors import NotFoundError
from dialer.ingest import Importer, row_digest
from dialer.models import Attempt, CallbackTask, ImportRun, RejectedRow
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SLUG = "after-service-satisfaction"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Asia/Taipei
H = timedelta(hours=1)


@pytest.fixture
def spec() -> CampaignSpec:
    return load_campaign(CAMPAIGNS / f"{SLUG}.toml")


def _set(store: Store, task_id: int, **values: Any) -> None:
    with store.transaction() as s:
        s.execute(update(CallbackTask).where(CallbackTask.id == task_id).values(**values))


def test_risk_rule_is_spacing_with_backoff_plus_one_call(spec: CampaignSpec) -> None:
    rule = risk_rule(spec)
    assert rule == RiskRule((18_210, 11_010, 210), 1)
    no_fallback = risk_rule(spec.model_copy(update={"channels": ["voice"]}))
    assert no_fallback.needed_seconds(3) is None  # nothing allowed any more


def test_classify_by_hand(spec: CampaignSpec) -> None:
    rule = risk_rule(spec)
    base: dict[str, Any] = {
        "deadline": NOW + 3 * 24 * H,
        "created_at": NOW - H,
        "state": "pending",
        "reached_at": None,
        "ended_at": None,
        "slack": 20_000,
        "attempts_made": 0,
        "rule": rule,
    }
    assert classify(NOW, **base) == "pending"
    assert classify(NOW, **(base | {"slack": 18_209})) == "at_risk"
    assert classify(NOW, **(base | {"slack": 18_209, "attempts_made": 1})) == "pending"
    assert classify(NOW, **(base | {"slack": None})) == "pending"  # unknown slack
    assert classify(NOW, **(base | {"short": True})) == "at_risk"  # capacity cannot reach it
    assert classify(NOW, **(base | {"short": True, "deadline": NOW - H})) == "breached"
    assert classify(NOW, **(base | {"reached_at": NOW - H})) == "in_time"
    assert classify(NOW, **(base | {"reached_at": NOW - H, "deadline": NOW - 2 * H})) == "late"
    assert classify(NOW, **(base | {"deadline": NOW - H})) == "breached"
    assert classify(NOW, **(base | {"created_at": NOW + H})) is None
    ended = base | {"state": "not_reached", "ended_at": NOW - H}
    assert classify(NOW, **ended) == "at_risk"  # exhausted before its deadline
    assert classify(NOW, **(ended | {"deadline": NOW - H})) == "breached"
    assert classify(NOW - H, **(ended | {"ended_at": NOW - H / 2})) == "pending"  # not ended yet
    nc = base | {"state": "not_contactable", "ended_at": NOW - H, "deadline": NOW - H}
    assert classify(NOW, **nc) == "not_contactable"


def build(store: Store, clock: SettableClock, spec: CampaignSpec) -> list[int]:
    """Eleven members and three non-members, by hand (see the expected counts below)."""
    ids = seed(store, clock, spec, n=14)
    far = NOW + 3 * 24 * H
    rows: list[dict[str, Any]] = [
        {"reached_at": NOW - H, "state": "reached", "deadline": NOW + 24 * H},  # 0 in time
        {"reached_at": NOW - H, "state": "reached", "deadline": NOW - 2 * H},  # 1 late
        {"notified_at": NOW - 3 * H, "deadline": NOW - H},  # 2 breached + notified
        {"slack_seconds": 30_000, "deadline": far},  # 3 pending
        {"slack_seconds": 15_000, "deadline": far},  # 4 at risk (< 18,210)
        {"slack_seconds": 15_000, "attempts_made": 1, "deadline": far},  # 5 pending (>= 11,010)
        {"slack_seconds": 100, "attempts_made": 2, "deadline": far},  # 6 at risk (< 210)
        {"slack_seconds": 0, "attempts_made": 3, "deadline": far},  # 7 at risk (SMS: < 1 s)
        {"state": "not_contactable", "outcome": "not_contactable", "deadline": far},  # 8
        {"state": "not_reached", "outcome": "not_reached", "deadline": far},  # 9 at risk
        {"state": "not_reached", "outcome": "not_reached", "deadline": NOW - H},  # 10 breached
        # non-members
        {"member": False, "reached_at": NOW - H, "state": "reached"},  # 11 in time
        {"member": False, "deadline": NOW - H, "notified_at": NOW - H},  # 12 breached, notified
        {"member": False, "slack_seconds": 5, "attempts_made": 3, "deadline": far},  # 13 pending
    ]
    for tid, values in zip(ids, rows, strict=True):
        values.setdefault("slack_seconds", 50_000)
        _set(store, tid, **values)
    return ids


def test_coverage_counts_now(store: Store, clock: SettableClock, spec: CampaignSpec) -> None:
    build(store, clock, spec)
    with store.transaction() as s:
        run = ImportRun(
            source_name="a.csv",
            source_sha256="0" * 64,
            file_format="csv",
            rows_rejected=3,
            members_rejected=2,
            actor="t",
            started_at=NOW - 24 * H,
        )
        s.add(run)
        s.flush()
        for n, member in ((2, True), (3, True), (4, False)):
            raw = {"姓名": f"x{n}", "會員": "是" if member else "否"}
            s.add(
                RejectedRow(
                    import_run_id=run.id, row_number=n, reason="bad", member=member, raw=raw,
                    content_sha256=row_digest(raw),
                )
            )  # fmt: skip
    with store.sessions() as s:
        report = coverage(s, CampaignBook(), NOW, campaign=SLUG)
    (c,) = report.campaigns
    assert not report.history
    assert dict(c.members) == {
        "in_time": 1,
        "late": 1,
        "pending": 2,
        "at_risk": 4,
        "breached": 2,
        "not_contactable": 1,
    }
    assert dict(c.non_members) == {"in_time": 1, "breached": 1, "pending": 1}
    assert dict(c.notified_only) == {"members": 1, "non_members": 1}
    # decided members: in time 1 + late 1 + breached 2 + not contactable 1 = 5
    assert c.member_coverage == pytest.approx(1 / 5)
    assert c.member_rows_rejected == 2
    assert c.goal == 1.0
    assert report.failing
    j = report.as_json()["campaigns"][0]
    assert j["member_coverage"] == pytest.approx(0.2)
    assert j["members"]["at_risk"] == 4 and j["non_members"]["not_contactable"] == 0


def test_nothing_decided_is_none(store: Store, clock: SettableClock, spec: CampaignSpec) -> None:
    ids = seed(store, clock, spec, n=2)
    for tid in ids:
        _set(store, tid, slack_seconds=50_000)
    with store.sessions() as s:
        (c,) = coverage(s, CampaignBook(), NOW).campaigns
    assert c.member_coverage is None and not c.failing and c.members["pending"] == 2


def test_unknown_campaign(store: Store, clock: SettableClock, spec: CampaignSpec) -> None:
    seed(store, clock, spec, n=1)
    with store.sessions() as s, pytest.raises(NotFoundError):
        coverage(s, CampaignBook(), NOW, campaign="no-such")


def test_at_risk_list_names_why(store: Store, clock: SettableClock, spec: CampaignSpec) -> None:
    ids = build(store, clock, spec)
    with store.sessions() as s:
        found = at_risk(s, CampaignBook(), NOW, campaign=SLUG)
    assert {e.task_id for e in found} == {ids[4], ids[6], ids[7], ids[9]}
    assert all(e.member for e in found)
    assert found[0].slack_seconds == 0  # least slack first
    why = {e.task_id: e.reason for e in found}
    assert "4h10m of open window left" in why[ids[4]] and "need 5h03m" in why[ids[4]]
    assert "attempts exhausted" in why[ids[9]]
    assert found[0].phone is not None


def test_history_at_a_past_instant(store: Store, clock: SettableClock, spec: CampaignSpec) -> None:
    """Evaluated on Friday for instants on Monday; slack at the instant comes from the windows."""
    ids = seed(store, clock, spec, n=6)
    noon = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # Monday 12:00 Taipei
    far = NOW + 3 * 24 * H
    _set(store, ids[0], reached_at=NOW + 2 * H, state="reached", deadline=far)  # A
    _set(store, ids[1], created_at=NOW + 10 * H, deadline=far)  # B: not there before 20:00
    _set(store, ids[2], notified_at=NOW + H / 2, deadline=NOW + 24 * H)  # C: notified, breached
    _set(store, ids[3], state="not_reached", updated_at=NOW + 5 * H, deadline=far)  # D
    _set(store, ids[4], deadline=noon)  # E: 1 try by 11:00, 1 try after
    _set(store, ids[5], deadline=noon, attempts_made=2)  # F: 2 tries by 11:00
    with store.transaction() as s:
        tries = ((ids[4], 1, NOW), (ids[4], 2, NOW + 2 * H), (ids[5], 1, NOW), (ids[5], 2, NOW))
        for tid, n, at in tries:
            s.add(
                Attempt(
                    task_id=tid,
                    number=n,
                    channel="voice",
                    state="completed",
                    due_at=at,
                    created_at=at,
                )
            )
    friday = NOW + 4 * 24 * H
    book = CampaignBook()
    t1 = NOW + H  # Monday 11:00 Taipei: 3,600 - 210 = 3,390 s open before noon
    with store.sessions() as s:
        r1 = coverage(s, book, friday, campaign=SLUG, at=t1)
        risky = at_risk(s, book, friday, campaign=SLUG, at=t1)
        r2 = coverage(s, book, friday, campaign=SLUG, at=NOW + 6 * H)
        r3 = coverage(s, book, friday, campaign=SLUG, at=NOW + 2 * 24 * H)
    assert r1.history
    (c1,) = r1.campaigns
    # A, C, D open with days of window; E: 1 try by then needs 11,010 > 3,390 -> at risk;
    # F: 2 tries need 210 <= 3,390 -> pending. B did not exist.
    assert dict(c1.members) == {"pending": 4, "at_risk": 1}
    assert dict(c1.notified_only) == {"members": 1}
    assert c1.member_coverage is None
    assert [e.task_id for e in risky] == [ids[4]]
    assert risky[0].slack_seconds == 3390 and risky[0].attempts_made == 1
    (c2,) = r2.campaigns  # Monday 14:00 Taipei
    # A reached in time; B not created yet; C pending; D ended not_reached before its deadline:
    # at risk; E and F: deadline passed -> breached.
    assert dict(c2.members) == {"in_time": 1, "pending": 1, "at_risk": 1, "breached": 2}
    assert c2.member_coverage == pytest.approx(1 / 3)
    (c3,) = r3.campaigns  # Wednesday: C's deadline has passed too
    assert c3.members["breached"] == 3 and c3.notified_only["members"] == 1


def test_refresh_slack_recomputes_open_tasks(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    ids = seed(store, clock, spec, n=3)
    noon = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # Monday 12:00 Taipei
    _set(store, ids[0], deadline=noon, slack_seconds=None)
    _set(store, ids[1], deadline=NOW - H, slack_seconds=999)
    _set(store, ids[2], deadline=noon, slack_seconds=123, state="reached", reached_at=NOW)
    with store.transaction() as s:
        changed = refresh_slack(s, CampaignBook(), NOW, limit=100)
    assert changed == 2
    with store.sessions() as s:
        got = dict(
            s.execute(
                select(CallbackTask.id, CallbackTask.slack_seconds).order_by(CallbackTask.id)
            ).all()
        )
    # 10:00 -> 12:00 Taipei: 7,200 - 210 = 6,990 s; past deadline: 0; reached: untouched
    assert got == {ids[0]: 6990, ids[1]: 0, ids[2]: 123}


SAMPLE = Path(__file__).parents[2] / "dialer" / "samples" / "customers.csv"


def test_rejected_member_rows_count_once_per_distinct_row(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    """The sample file rejects two member rows. Imported twice (the second time under another
    name, as the next day's extract repeating them), they still count 2; a file with one more
    bad member row (new content) makes it 3. Imports started after `at` do not count."""
    importer = Importer(store, clock, default_region="TW", actor="t")
    assert importer.run(SAMPLE).members_rejected == 2
    again = tmp_path / "extract-2.csv"
    again.write_bytes(SAMPLE.read_bytes())
    assert importer.run(again).members_rejected == 2
    with store.sessions() as s:
        assert member_rows_rejected(s, clock.now()) == 2
    header = SAMPLE.read_text(encoding="utf-8").splitlines()[0]
    more = tmp_path / "extract-3.csv"
    more.write_text(f"{header}\nC9001,林新,先生,12,,是,否,,,zh-TW,2026/11/20,10:30,定期保養,,,\n",
                    encoding="utf-8")  # fmt: skip
    clock.advance(timedelta(hours=1))
    assert importer.run(more).members_rejected == 1
    with store.sessions() as s:
        assert member_rows_rejected(s, clock.now()) == 3
        assert member_rows_rejected(s, clock.now() - timedelta(minutes=30)) == 2
