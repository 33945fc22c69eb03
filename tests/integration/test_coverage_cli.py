"""`dialer coverage` as a user runs it: a real process on a SQLite file built by hand.

The process reads the system clock, so the tasks' times are set relative to it; the at-risk
rule reads the stored slack (see tests/store/test_coverage.py for the hand-computed rule).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from dialer_process import run_dialer
from seeding import seed
from sqlalchemy import update

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock, SystemClock
from dialer.models import CallbackTask
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SLUG = "after-service-satisfaction"
H = timedelta(hours=1)


def build(tmp_path: Path, *, risky: bool) -> Path:
    """Four member tasks: reached in time, pending, breached (notified), and one more that is
    at risk (slack 100 s < the 18,210 s three tries need) or pending."""
    db = tmp_path / "d.db"
    store = Store.open(f"sqlite:///{db}")
    now = SystemClock().now()
    try:
        spec = load_campaign(CAMPAIGNS / f"{SLUG}.toml")
        ids = seed(store, SettableClock(now - 24 * H), spec, n=4)
        rows: list[dict[str, Any]] = [
            {"state": "reached", "reached_at": now - 2 * H, "deadline": now + 24 * H},
            {"slack_seconds": 50_000, "deadline": now + 48 * H},
            {"deadline": now - H, "notified_at": now - 3 * H, "slack_seconds": 0},
            {"slack_seconds": 100 if risky else 50_000, "deadline": now + 48 * H},
        ]
        with store.transaction() as s:
            for tid, values in zip(ids, rows, strict=True):
                s.execute(update(CallbackTask).where(CallbackTask.id == tid).values(**values))
            if not risky:  # the breached one is not a member then
                s.execute(
                    update(CallbackTask).where(CallbackTask.id == ids[2]).values(member=False)
                )
    finally:
        store.close()
    return db


def test_table_for_people(tmp_path: Path) -> None:
    db = build(tmp_path, risky=True)
    got = run_dialer(tmp_path, "coverage", SLUG, db=db)
    assert got.returncode == 0, got.stderr
    assert "reached in time" in got.stdout and "at risk" in got.stdout
    assert "member coverage (reached in time ÷ decided): 1 ÷ 2 = 50.0% (goal 100.0%)" in got.stdout
    assert "member rows rejected at import: 0" in got.stdout


def test_json_shape(tmp_path: Path) -> None:
    db = build(tmp_path, risky=True)
    got = run_dialer(tmp_path, "coverage", "--json", db=db)
    assert got.returncode == 0, got.stderr
    data = json.loads(got.stdout)
    assert set(data) == {"at", "history", "campaigns"} and data["history"] is False
    (c,) = data["campaigns"]
    assert c["campaign"] == SLUG
    assert c["members"] == {
        "in_time": 1,
        "late": 0,
        "pending": 1,
        "at_risk": 1,
        "breached": 1,
        "not_contactable": 0,
    }
    assert set(c["non_members"]) == set(c["members"])
    assert c["notified_only"] == {"members": 1, "non_members": 0}
    assert c["member_coverage"] == 0.5 and c["member_coverage_goal"] == 1.0
    assert c["member_rows_rejected"] == 0


def test_check_exit_codes(tmp_path: Path) -> None:
    bad = build(tmp_path, risky=True)
    assert run_dialer(tmp_path, "coverage", SLUG, "--check", db=bad).returncode == 1
    good_dir = tmp_path / "b"
    good_dir.mkdir()
    good = build(good_dir, risky=False)
    ok = run_dialer(good_dir, "coverage", SLUG, "--check", "--json", db=good)
    assert ok.returncode == 0, ok.stderr
    (c,) = json.loads(ok.stdout)["campaigns"]
    assert c["members"]["breached"] == 0 and c["non_members"]["breached"] == 1
    assert c["member_coverage"] == 1.0


def test_list_at_risk_masks_numbers(tmp_path: Path) -> None:
    db = build(tmp_path, risky=True)
    got = run_dialer(tmp_path, "coverage", SLUG, "--list", "at-risk", "--json", db=db)
    assert got.returncode == 0, got.stderr
    (entry,) = [json.loads(line) for line in got.stdout.splitlines()]
    assert entry["customer_id"] == "C3" and entry["member"] is True
    assert "need 5h03m" in entry["reason"] and entry["slack_seconds"] == 100
    assert "•" in entry["phone"] and "+886912345673" not in got.stdout
    table = run_dialer(tmp_path, "coverage", SLUG, "--list", "at-risk", db=db)
    assert table.returncode == 0 and "C3" in table.stdout and "+886912345673" not in table.stdout


def test_at_a_past_instant(tmp_path: Path) -> None:
    db = build(tmp_path, risky=True)
    past = (SystemClock().now() - 12 * H).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    got = run_dialer(tmp_path, "coverage", SLUG, "--at", past, "--json", db=db)
    assert got.returncode == 0, got.stderr
    data = json.loads(got.stdout)
    assert data["history"] is True
    (c,) = data["campaigns"]
    # 12 h ago nothing was reached or past its deadline (the breached one's deadline was 1 h ago)
    assert c["members"]["in_time"] == 0 and c["members"]["breached"] == 0
    assert c["member_coverage"] is None
    local = run_dialer(tmp_path, "coverage", SLUG, "--at", "2026-01-01 10:00 Asia/Taipei", db=db)
    assert local.returncode == 0
    assert local.stdout.strip() == "no campaign had tasks at 2026-01-01 02:00:00 UTC"
    naive = run_dialer(tmp_path, "coverage", SLUG, "--at", "2026-01-01 10:00", db=db)
    assert naive.returncode == 2 and "time zone" in naive.stderr


def test_unknown_campaign_exit_5(tmp_path: Path) -> None:
    db = build(tmp_path, risky=True)
    got = run_dialer(tmp_path, "coverage", "no-such-campaign", db=db)
    assert got.returncode == 5 and got.stderr.count("\n") == 1
    assert "no-such-campaign" in got.stderr


def test_capacity_short_member_is_at_risk(tmp_path: Path) -> None:
    """A pending member with plenty of window slack that the slack refresh stored as short of
    capacity (the flag's computation is tests/store/test_coverage_capacity.py's): at risk,
    counted apart, named with the capacity reason, and `--check` fails on it."""
    db = build(tmp_path, risky=False)
    store = Store.open(f"sqlite:///{db}")
    try:
        with store.transaction() as s:
            s.execute(
                update(CallbackTask)
                .where(CallbackTask.dedupe_key == "svc:3")
                .values(capacity_short=True)
            )
    finally:
        store.close()
    got = run_dialer(tmp_path, "coverage", SLUG, "--check", "--json", db=db)
    assert got.returncode == 1, got.stderr
    (c,) = json.loads(got.stdout)["campaigns"]
    assert c["members"]["at_risk"] == 1 and c["members"]["pending"] == 1
    assert c["at_risk_by_capacity"] == {"members": 1, "non_members": 0}
    listed = run_dialer(tmp_path, "coverage", SLUG, "--list", "at-risk", "--json", db=db)
    assert listed.returncode == 0, listed.stderr
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["customer_id"] == "C3" and entry["causes"] == ["capacity"]
    assert entry["reason"].startswith("capacity: the dispatcher's calls per second cannot reach")
    assert entry["slack_seconds"] == 50_000
    table = run_dialer(tmp_path, "coverage", SLUG, db=db)
    assert table.returncode == 0 and "of which capacity short" in table.stdout


def test_list_at_risk_names_a_task_that_is_not_callable(tmp_path: Path) -> None:
    db = build(tmp_path, risky=True)
    store = Store.open(f"sqlite:///{db}")
    reason = (
        "its time zones America/Adak, America/Anchorage share no moment that is legal in all "
        "of them: not callable (an agent decides)"
    )
    try:
        with store.transaction() as s:
            s.execute(
                update(CallbackTask)
                .where(CallbackTask.slack_seconds == 100)
                .values(slack_seconds=0, zone_reason=reason)
            )
    finally:
        store.close()
    got = run_dialer(tmp_path, "coverage", SLUG, "--list", "at-risk", "--json", db=db)
    assert got.returncode == 0, got.stderr
    (entry,) = [json.loads(line) for line in got.stdout.splitlines()]
    assert entry["causes"] == ["window", "zones"]
    assert entry["reason"].endswith(f"; time zones: {reason}")
    table = run_dialer(tmp_path, "coverage", SLUG, "--list", "at-risk", db=db)
    assert table.returncode == 0 and "callable" in table.stdout


# ---------------------------------------------------------------- the headline tells the truth


def build_thirteen(tmp_path: Path, reached: int = 3) -> Path:
    """Issue 19's case: 13 member tasks, `reached` of them reached in time, the rest pending
    with plenty of slack (deadline two days away)."""
    db = tmp_path / "d.db"
    store = Store.open(f"sqlite:///{db}")
    now = SystemClock().now()
    try:
        spec = load_campaign(CAMPAIGNS / f"{SLUG}.toml")
        ids = seed(store, SettableClock(now - 24 * H), spec, n=13)
        with store.transaction() as s:
            for i, tid in enumerate(ids):
                values: dict[str, Any] = {"deadline": now + 48 * H, "slack_seconds": 80_000}
                if i < reached:
                    values.update(state="reached", reached_at=now - H, outcome="satisfied")
                s.execute(update(CallbackTask).where(CallbackTask.id == tid).values(**values))
    finally:
        store.close()
    return db


def test_three_of_thirteen_is_not_goal_met(tmp_path: Path) -> None:
    """3 reached, 10 pending: the ratio of docs/definitions.md is 100% (3 ÷ 3 decided), the headline says
    3 of 13 and "on track", never "goal met"."""
    db = build_thirteen(tmp_path)
    got = run_dialer(tmp_path, "coverage", SLUG, db=db)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert lines[1] == (
        "reached in time 3 of 13 members (23.1%) · pending 10 · at risk 0 · breached 0 — on track"
    )
    assert "member coverage (reached in time ÷ decided): 3 ÷ 3 = 100.0% (goal 100.0%)" in got.stdout
    assert "goal met" not in got.stdout
    data = json.loads(run_dialer(tmp_path, "coverage", SLUG, "--json", db=db).stdout)
    (c,) = data["campaigns"]
    assert c["headline"] == {
        "members": 13,
        "reached_in_time": 3,
        "reached_in_time_share": 3 / 13,
        "pending": 10,
        "at_risk": 0,
        "breached": 0,
        "decided": 3,
        "member_coverage": 1.0,
        "goal": 1.0,
        "verdict": "on_track",
    }
    checked = run_dialer(tmp_path, "coverage", SLUG, "--check", db=db)
    assert checked.returncode == 0, checked.stdout
    assert "check passed: no member breached or at risk" in checked.stdout


def test_goal_met_only_when_every_member_is_decided(tmp_path: Path) -> None:
    db = build_thirteen(tmp_path, reached=13)
    got = run_dialer(tmp_path, "coverage", SLUG, "--check", db=db)
    assert got.returncode == 0, got.stdout
    assert (
        "reached in time 13 of 13 members (100.0%) · pending 0 · at risk 0 · breached 0 — goal met"
        in got.stdout
    )


def test_check_says_why_and_names_the_members(tmp_path: Path) -> None:
    """One member breached (notified by SMS, never reached), one at risk: `--check` prints both
    conditions, that the goal is missed, and the two members with what was tried and why."""
    db = build(tmp_path, risky=True)
    got = run_dialer(tmp_path, "coverage", SLUG, "--check", db=db)
    assert got.returncode == 1
    assert "— goal missed" in got.stdout
    assert (
        f"check failed: {SLUG}: 1 member(s) breached (deadline passed, not reached); "
        "1 member(s) at risk of missing the deadline; the goal of 100.0% can no longer be met "
        "(at most 75.0%: 0 late, 1 breached, 0 not contactable)"
    ) in got.stdout
    behind = got.stdout.split("the members behind it")[1]
    assert "C2" in behind and "C3" in behind and "C0" not in behind and "C1" not in behind
    assert "deadline passed unreached" in behind and "need 5h03m" in behind
    assert "+88691234567" not in got.stdout  # masked
    as_json = run_dialer(tmp_path, "coverage", SLUG, "--check", "--json", db=db)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["campaigns"]
    assert "check failed" in as_json.stderr


def test_empty_database_says_so(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    for args in (("coverage",), ("coverage", "--check"), ("coverage", "--list", "breached")):
        got = run_dialer(tmp_path, *args, db=db)
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == "no campaign has tasks yet"
    data = json.loads(run_dialer(tmp_path, "coverage", "--json", db=db).stdout)
    assert data["campaigns"] == [] and data["message"] == "no campaign has tasks yet"


def test_every_list_names_its_members_with_why_not_now(tmp_path: Path) -> None:
    db = build(tmp_path, risky=True)
    for which, key in (("breached", "C2"), ("at-risk", "C3"), ("pending", "C1")):
        got = run_dialer(tmp_path, "coverage", SLUG, "--list", which, "--json", db=db)
        assert got.returncode == 0, got.stderr
        (entry,) = [json.loads(line) for line in got.stdout.splitlines()]
        assert entry["customer_id"] == key and entry["why"] and "•" in entry["phone"]
        assert entry["tries"] == "no try placed"
    none = run_dialer(tmp_path, "coverage", SLUG, "--list", "not-contactable", db=db)
    assert none.returncode == 0 and "no task is not contactable" in none.stdout
    bad = run_dialer(tmp_path, "coverage", SLUG, "--list", "late", db=db)
    assert bad.returncode == 2 and "breached, at-risk, pending, not-contactable" in bad.stderr
