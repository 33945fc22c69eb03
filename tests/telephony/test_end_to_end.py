# ruff: noqa: F811 - the rig fixture shared with test_dispatch is a parameter here
"""Import → plan → dispatch → sandbox calls and SMS → webhooks → outcomes, cases, appointments,
on SQLite and PostgreSQL, with the sandbox repeating and reordering its status callbacks.

A customer file with Taiwanese and Korean customers (and one bad row) is imported and planned
by the after-service campaign; the dispatcher then runs for two simulated days against the
sandbox, whose people answer every way the script allows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from test_dispatch import Rig, rig  # noqa: F401 - the fixture

from dialer import cases as complaints
from dialer import records
from dialer.ingest import Importer
from dialer.models import (
    Attempt,
    CallbackTask,
    Customer,
    DoNotContact,
    FollowUpCase,
    Outcome,
    TaskState,
)
from dialer.plan_model import reachee
from dialer.planner import plan_campaign
from dialer.telephony.sandbox.behaviour import Faults
from dialer.windows import is_open

TPE = ZoneInfo("Asia/Taipei")
HEADER = "客戶編號,姓名,稱謂,手機,會員,語言,服務日期,服務時間,服務項目\n"
ROWS = {
    "C1": ("王小明", "先生", "0912-000-001", "是", "zh-TW"),
    "C2": ("陳美玲", "小姐", "0912-000-002", "是", "zh-TW"),
    "C3": ("林志豪", "先生", "0912-000-003", "否", "zh-TW"),
    "C4": ("張雅婷", "小姐", "0912-000-004", "是", "zh-TW"),
    "C5": ("李建國", "先生", "0912-000-005", "否", "zh-TW"),
    "C6": ("黃淑芬", "小姐", "0912-000-006", "是", "zh-TW"),
    "C7": ("김민준", "", "+82 10-1234-5678", "是", "ko"),
    "C8": ("吳宗憲", "先生", "0912-000-008", "否", "zh-TW"),
    "C9": ("壞資料", "先生", "12", "是", "zh-TW"),  # not a phone number: rejected, counted
}


def number(key: str) -> str:
    return "+821012345678" if key == "C7" else f"+886912000{key[1:].zfill(3)}"


def write_file(folder: Path) -> Path:
    path = folder / "customers.csv"
    lines = [
        f"{key},{name},{title},{phone},{member},{lang},2026/11/22,10:00,定期保養\n"
        for key, (name, title, phone, member, lang) in ROWS.items()
    ]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def test_import_plan_dispatch_answer_and_record(rig: Rig, tmp_path: Path) -> None:
    summary = Importer(rig.store, rig.clock, default_region="TW", actor="e2e").run(
        write_file(tmp_path)
    )
    assert (summary.imported, summary.rejected) == (8, 1)
    plan = plan_campaign(rig.store, rig.clock, rig.spec)
    assert plan.created == 8

    sb = rig.sandbox.sandbox
    sb.inbound_sms_url = f"{rig.hooks_url}/twilio/sms/inbound"
    sb.faults = Faults(duplicate_callbacks=0.5, reorder_callbacks=0.3)
    sb.person(number("C1"), "human", digits=("1", "1", "服務人員很親切"))
    sb.person(number("C2"), "human", digits=("1", "3", "2"))
    sb.person(number("C3"), "human", digits=("1", "2", "5"))
    sb.person(number("C4"), "human", digits=("2", "19"))
    sb.person(number("C5"), "human", digits=("9",))
    sb.person(number("C6"), "no_answer", sms_reply="3")
    sb.person(number("C7"), "human", digits=("1", "1", ""))
    sb.person(number("C8"), "machine")

    d = rig.dispatcher(cps=5.0)
    end = rig.clock.now() + timedelta(hours=50)
    answered_the_appointment = False
    while rig.clock.now() < end:
        d.tick()
        rig.sandbox.advance(900)
        if not answered_the_appointment and rig.clock.now().astimezone(TPE).hour >= 18:
            # The customer who asked for 19:00 answers the agreed call properly.
            sb.person(number("C4"), "human", digits=("1", "1", ""))
            answered_the_appointment = True

    with rig.store.sessions() as s:
        people = {c.customer_key: c for c in s.scalars(select(Customer))}
        tasks = {t.customer_id: t for t in s.scalars(select(CallbackTask))}
        outcomes = {o.task_id: o for o in s.scalars(select(Outcome))}
        cases = s.scalars(select(FollowUpCase).order_by(FollowUpCase.id)).all()
        dnc = s.scalars(select(DoNotContact)).all()

    def task(key: str) -> CallbackTask:
        return tasks[people[key].id]

    def outcome(key: str) -> Outcome:
        return outcomes[task(key).id]

    assert outcome("C1").name == "satisfied" and "recorded" in (outcome("C1").note or "")
    assert (outcome("C2").name, outcome("C2").reason) == ("unsatisfied", "價格")
    assert (outcome("C3").name, outcome("C3").reason) == ("average", "其他")
    # The agreed 19:00 call took place and its answer replaced "call me later".
    assert outcome("C4").name == "satisfied"
    c4_calls = sb.contacts(to=number("C4"), kind="call")
    assert len(c4_calls) == 2
    assert c4_calls[1].rang_at is not None and c4_calls[1].rang_at.astimezone(TPE).hour == 19
    assert outcome("C5").name == "opted_out"
    assert len(sb.contacts(to=number("C5"))) == 1  # never contacted again
    assert [(x.e164, x.channel) for x in dnc] == [(number("C5"), "voice")]
    # No answer on three calls: the SMS, answered 3 -> unsatisfied by SMS, a case.
    assert (outcome("C6").name, outcome("C6").channel) == ("unsatisfied", "sms")
    assert len(sb.contacts(to=number("C6"), kind="call")) == 3
    # The Korean customer heard the Korean script in a Korean voice.
    assert outcome("C7").name == "satisfied"
    [c7] = sb.contacts(to=number("C7"), kind="call")
    assert c7.said and all(voice.startswith("Google.ko-KR") for voice, _ in c7.said)
    assert "고객센터" in c7.said[0][1]
    # The answering machine: voicemails and an SMS without reply: notified, never reached; the
    # IVR and the SMS are used up, so the task waits for a person in the agents' queue.
    c8 = task("C8")
    assert c8.reached_at is None and c8.notified_at is not None
    assert (c8.state, c8.outcome, c8.plan_action) == (TaskState.IN_PROGRESS, None, "agent")
    assert {c.task_id for c in cases} == {task("C2").id, task("C6").id}
    reached = {k for k in people if task(k).reached_at is not None}
    assert reached == {"C1", "C2", "C3", "C4", "C5", "C6", "C7"}
    # Duplicated and reordered callbacks changed nothing: one call per answered customer.
    for key in ("C1", "C2", "C3", "C7"):
        assert len(sb.contacts(to=number(key), kind="call")) == 1
    # Nobody's phone rang outside their own calling window (the agreed 19:00 call aside).
    policy = rig.spec.window_policy(min_open=timedelta(0))
    for key, cust in people.items():
        who = reachee(tuple(cust.time_zones), None, cust.region, None)
        for contact in sb.contacts(to=number(key)):
            if contact.rang_at is not None and contact.sid != c4_calls[1].sid:
                assert is_open(who, policy, contact.rang_at), (key, contact)

    # The callback record: one row per attempt, the answer and reason on the attempt that got
    # them, numbers masked.
    with rig.store.sessions() as s:
        campaign_id, zone = records.find_campaign(s, rig.spec.slug)
        rows = list(records.iter_records(s, campaign_id, rig.spec.slug, zone))
        attempts = s.scalar(select(func.count()).select_from(Attempt))
    assert len(rows) == attempts
    c2_rows = [r for r in rows if r.customer_id == "C2"]
    assert [(r.attempt, r.channel, r.answer, r.reason) for r in c2_rows] == [
        (1, "voice", "unsatisfied", "價格")
    ]
    assert all(number("C2") not in r.phone for r in rows)
    c6_rows = [r for r in rows if r.customer_id == "C6"]
    assert [r.channel for r in c6_rows] == ["voice", "voice", "voice", "sms"]

    # The complaint closes the loop: judged, investigated, resolved; the follow-up callback asks
    # the after-complaint question through the same gate and dispatcher, and "1" closes it.
    case_id = next(c.id for c in cases if c.task_id == task("C2").id)
    with rig.store.transaction() as s:
        now = rig.clock.now()
        complaints.judge(s, case_id, True, "the price was quoted wrong", "supervisor", now)
        complaints.investigate(s, case_id, "workshop", "supervisor", now)
        follow = complaints.resolve(s, case_id, "refunded the difference", "supervisor", now)
        follow_id, due = follow.id, follow.deadline
        # C6 complained by SMS and still does not pick up: the follow-up ends in the
        # after-complaint SMS, and its reply closes the case too.
        sms_case = next(c.id for c in cases if c.task_id == task("C6").id)
        complaints.judge(s, sms_case, True, "the car was returned late", "supervisor", now)
        complaints.investigate(s, sms_case, "workshop", "supervisor", now)
        complaints.resolve(s, sms_case, "apologised and refunded the fee", "supervisor", now)
    assert due == now + rig.spec.complaints.follow_up_deadline
    sb.person(number("C2"), "human", digits=("1", "1", ""))
    sb.person(number("C6"), "no_answer", sms_reply="1")
    end = rig.clock.now() + timedelta(hours=50)
    while rig.clock.now() < end:
        d.tick()
        rig.sandbox.advance(900)
    d.close()
    with rig.store.sessions() as s:
        case = s.get(FollowUpCase, case_id)
        answer = s.scalar(select(Outcome).where(Outcome.task_id == follow_id))
    assert case is not None and case.state == "closed"
    assert answer is not None and answer.name == "satisfied"
    second = sb.contacts(to=number("C2"), kind="call")[-1]
    assert any("已經處理完畢" in text for _, text in second.said)
    with rig.store.sessions() as s:
        sms_closed = s.get(FollowUpCase, sms_case)
    assert sms_closed is not None and sms_closed.state == "closed"
    first_sms, follow_sms = sb.contacts(to=number("C6"), kind="sms")
    assert "請問您滿意嗎" in first_sms.said[0][1] and "已經處理完畢" in follow_sms.said[0][1]
