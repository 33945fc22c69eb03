"""`dialer cases ...` as a user runs it: real processes, a real SQLite file, exit codes, audit."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

from dialer_process import run_dialer
from seeding import seed
from sqlalchemy import select

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock, SystemClock
from dialer.models import Agent, AuditEntry, CallbackTask, FollowUpCase
from dialer.outcomes import record_outcome
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SPEC = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
PHONE = "+886912345678"


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_dialer(tmp_path, *args, db=tmp_path / "d.db")


def complaints(tmp_path: Path, n: int = 1) -> list[int]:
    """`n` customers who answered unsatisfied (reason "waiting time"); the case ids."""
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    # the commands run on the system clock, so the complaint is made an hour before it
    clock = SettableClock(SystemClock().now().replace(microsecond=0) - timedelta(hours=1))
    try:
        tids = seed(store, clock, SPEC, n=n, phones=((PHONE, "mobile"),))
        with store.transaction() as s:
            s.add(Agent(username="agent-wu", display_name="Wu", created_at=clock.now()))
            for tid in tids:
                task = s.get(CallbackTask, tid)
                assert task is not None
                record_outcome(
                    s, SPEC, task, "unsatisfied", clock.now(), channel="voice",
                    note="等太久了", reason="waiting time",
                )  # fmt: skip
        with store.sessions() as s:
            return list(s.scalars(select(FollowUpCase.id).order_by(FollowUpCase.id)))
    finally:
        store.close()


def listed(tmp_path: Path, *args: str) -> list[dict[str, object]]:
    result = run(tmp_path, "cases", "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_complaint_goes_round_the_loop_from_the_command_line(tmp_path: Path) -> None:
    [case_id] = complaints(tmp_path)
    [row] = listed(tmp_path)
    assert (row["id"], row["state"], row["reason"], row["owner"]) == (
        case_id,
        "open",
        "waiting time",
        None,
    )
    cid = str(case_id)
    assigned = run(tmp_path, "cases", "assign", cid, "agent-wu")
    assert assigned.returncode == 0 and "assigned to agent-wu" in assigned.stdout
    judged = run(tmp_path, "cases", "judge", cid, "--stands", "--reason", "waited 90 minutes")
    assert judged.returncode == 0 and "stands" in judged.stdout
    went = run(tmp_path, "cases", "investigate", cid, "--department", "service desk")
    assert went.returncode == 0 and "service desk" in went.stdout
    resolved = run(tmp_path, "cases", "resolve", cid, "--solution", "a second technician")
    assert resolved.returncode == 0, resolved.stderr
    assert "follow-up callback task" in resolved.stdout
    assert [r["id"] for r in listed(tmp_path, "--agent", "agent-wu", "--state", "resolved")] == [
        case_id
    ]
    assert listed(tmp_path, "--mine") == []  # the operator (ops-tester) owns nothing
    assert listed(tmp_path, "--missed") == []

    shown = run(tmp_path, "cases", "show", cid)
    assert shown.returncode == 0, shown.stderr
    assert PHONE not in shown.stdout and "•" in shown.stdout
    for words in ("等太久了", "waiting time", "service desk", "a second technician", "ops-tester"):
        assert words in shown.stdout
    detail = json.loads(run(tmp_path, "cases", "show", cid, "--json").stdout)
    assert [(st["from"], st["to"]) for st in detail["steps"]] == [
        (None, "open"),
        ("open", "open"),
        ("open", "judged"),
        ("judged", "investigating"),
        ("investigating", "resolved"),
    ]
    assert {st["actor"] for st in detail["steps"][1:]} == {"ops-tester"}
    assert PHONE not in json.dumps(detail)

    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        with store.sessions() as s:
            case = s.get(FollowUpCase, case_id)
            assert case is not None and case.resolved_at is not None
            task = s.get(CallbackTask, case.follow_up_task_id)
            assert task is not None and task.dedupe_key == f"case:{case_id}:1"
            assert task.deadline == case.resolved_at + timedelta(days=3)
            assert task.agent_id is None  # automated campaign: the dispatcher calls back
            actions = s.scalars(
                select(AuditEntry.action).where(AuditEntry.subject_type == "case")
            ).all()
    finally:
        store.close()
    assert actions == [
        "case.assign",
        "case.judge",
        "case.investigate",
        "case.resolve",
        "case.show",
        "case.show",
    ]


def test_a_follow_up_past_its_deadline_is_listed_as_missed(tmp_path: Path) -> None:
    [case_id] = complaints(tmp_path)
    cid = str(case_id)
    run(tmp_path, "cases", "judge", cid, "--stands", "--reason", "it stands")
    run(tmp_path, "cases", "investigate", cid, "--department", "workshop")
    assert run(tmp_path, "cases", "resolve", cid, "--solution", "fixed").returncode == 0
    assert listed(tmp_path, "--missed") == []
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        with store.transaction() as s:
            case = s.get(FollowUpCase, case_id)
            assert case is not None
            task = s.get(CallbackTask, case.follow_up_task_id)
            assert task is not None
            task.state = "not_reached"  # every try used up before the deadline
    finally:
        store.close()
    [row] = listed(tmp_path, "--missed")
    assert (row["id"], row["state"], row["follow_up_missed"]) == (case_id, "resolved", True)
    table = run(tmp_path, "cases", "list")
    assert table.returncode == 0 and "missed" in table.stdout


def test_reject_and_request_from_the_command_line(tmp_path: Path) -> None:
    first, _ = complaints(tmp_path, n=2)
    rejected = run(tmp_path, "cases", "reject", str(first), "--reason", "the price was agreed")
    assert rejected.returncode == 0 and "rejected and closed" in rejected.stdout
    assert "the price was agreed" in rejected.stdout
    assert [r["id"] for r in listed(tmp_path, "--state", "closed")] == [first]
    opened = run(tmp_path, "cases", "open", "1", "--words", "請幫我改預約時間")
    assert opened.returncode == 0 and "opened for task 1" in opened.stdout
    newest = listed(tmp_path, "--campaign", SPEC.slug)[0]
    assert (newest["source"], newest["state"]) == ("request", "open")


def test_mistakes_are_one_sentence_and_the_right_exit_code(tmp_path: Path) -> None:
    [case_id] = complaints(tmp_path)
    unknown = run(tmp_path, "cases", "show", "999")
    assert unknown.returncode == 5 and "there is no case 999" in unknown.stderr
    assert unknown.stderr.count("\n") == 1
    early = run(tmp_path, "cases", "resolve", str(case_id), "--solution", "done")
    assert (
        early.returncode == 2 and f"case {case_id} is open; it cannot be resolved" in early.stderr
    )
    assert early.stderr.count("\n") == 1
    nobody = run(tmp_path, "cases", "assign", str(case_id), "nobody")
    assert nobody.returncode == 5 and "no agent named 'nobody'" in nobody.stderr
    state = run(tmp_path, "cases", "list", "--state", "intake")
    assert state.returncode == 2 and "no case state 'intake'" in state.stderr
    assert [r["state"] for r in listed(tmp_path)] == ["open"]  # nothing changed
