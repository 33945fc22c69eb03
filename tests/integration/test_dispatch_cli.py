"""The operator commands over dispatching, as a user runs them: a real `dialer` process."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

from dialer_process import run_dialer
from sqlalchemy import select, update

from dialer.models import AuditEntry, CallbackTask, Campaign, Control
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SLUG = "after-service-satisfaction"


def planned(tmp_path: Path) -> Path:
    db = tmp_path / "d.db"
    assert run_dialer(tmp_path, "import", "--sample", db=db).returncode == 0
    assert run_dialer(tmp_path, "plan", SLUG, "--dir", str(CAMPAIGNS), db=db).returncode == 0
    return db


def test_pause_resume_stop_are_recorded_and_audited(tmp_path: Path) -> None:
    db = planned(tmp_path)
    paused = run_dialer(tmp_path, "campaign", "pause", SLUG, db=db)
    assert paused.returncode == 0 and "→ paused" in paused.stdout
    assert run_dialer(tmp_path, "campaign", "resume", SLUG, db=db).returncode == 0
    stopped = run_dialer(tmp_path, "campaign", "stop", SLUG, db=db)
    assert stopped.returncode == 0 and "waiting task(s) cancelled" in stopped.stdout
    again = run_dialer(tmp_path, "campaign", "resume", SLUG, db=db)
    assert again.returncode == 2 and "stays stopped" in again.stderr
    store = Store.open(f"sqlite:///{db}")
    try:
        with store.sessions() as s:
            assert s.scalar(select(Campaign.status).where(Campaign.slug == SLUG)) == "stopped"
            open_tasks = s.scalars(
                select(CallbackTask.state).where(CallbackTask.next_attempt_at.is_not(None))
            ).all()
            assert open_tasks == []
            actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
            assert actions[-3:] == ["campaign.paused", "campaign.active", "campaign.stopped"]
    finally:
        store.close()


def test_unknown_campaign_is_not_found(tmp_path: Path) -> None:
    db = planned(tmp_path)
    result = run_dialer(tmp_path, "campaign", "pause", "no-such-campaign", db=db)
    assert result.returncode == 5 and result.stderr.count("\n") == 1


def test_emergency_stop_and_resume(tmp_path: Path) -> None:
    db = planned(tmp_path)
    assert run_dialer(tmp_path, "stop", db=db).returncode == 2  # must say --all
    halted = run_dialer(tmp_path, "stop", "--all", db=db)
    assert halted.returncode == 0 and "emergency stop on" in halted.stdout
    store = Store.open(f"sqlite:///{db}")
    try:
        with store.sessions() as s:
            assert s.scalar(select(Control.active).where(Control.key == "halt")) is True
        assert run_dialer(tmp_path, "resume", "--all", db=db).returncode == 0
        with store.sessions() as s:
            assert s.scalar(select(Control.active).where(Control.key == "halt")) is False
    finally:
        store.close()


def test_attempts_list_masks_numbers(tmp_path: Path) -> None:
    # The bundled sample's visits are weeks old on a real clock: visits from today, so that
    # `dialer plan` (a real process on the real clock) leaves open tasks within their deadline.
    from dialer.clock import SystemClock

    today = SystemClock().now().astimezone(ZoneInfo("Asia/Taipei")).date()
    customers = tmp_path / "today.csv"
    customers.write_text(
        "客戶編號,姓名,手機,會員,服務日期,服務項目\n"
        f"T1,王小明,0912-345-678,是,{today:%Y/%m/%d},定期保養\n"
        f"T2,陳美玲,0928-222-333,否,{today:%Y/%m/%d},更換輪胎\n",
        encoding="utf-8",
    )
    db = tmp_path / "d.db"
    assert run_dialer(tmp_path, "import", str(customers), db=db).returncode == 0
    assert run_dialer(tmp_path, "plan", SLUG, "--dir", str(CAMPAIGNS), db=db).returncode == 0
    empty = run_dialer(tmp_path, "attempts", "list", "--json", db=db)
    assert empty.returncode == 0 and empty.stdout == ""
    store = Store.open(f"sqlite:///{db}")
    try:
        from dialer import attempts as books

        with store.transaction() as s:
            book = books.CampaignBook()
            book.refresh(s)
            s.execute(update(CallbackTask).values(next_attempt_at=SystemClock().now()))
            assert books.schedule_due(s, book, SystemClock().now(), {}).scheduled > 0
    finally:
        store.close()
    listed = run_dialer(tmp_path, "attempts", "list", "--json", db=db)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows and all("•" in r["to"] for r in rows)
    assert all(r["state"] == "scheduled" and r["campaign"] == SLUG for r in rows)
