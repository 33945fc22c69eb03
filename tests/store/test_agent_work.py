"""An agent's day on the real store (SQLite and PostgreSQL): my queue, who may see what, the
gate before a call, recording outcomes, the supervisor's load, reassigning and cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from console_seeding import NUMBERS, Seeded, seed_console
from sqlalchemy import func, select

from dialer import agent_queue, supervision
from dialer import agent_work as work
from dialer.attempts import CampaignBook
from dialer.clock import SettableClock
from dialer.errors import NotFoundError, UsageError
from dialer.models import (
    Attempt,
    AuditEntry,
    CallbackTask,
    CustomerPhone,
    DoNotContact,
    FollowUpCase,
    Outcome,
    TaskState,
)
from dialer.store import Store


@pytest.fixture
def seeded(store: Store, clock: SettableClock) -> Seeded:
    return seed_console(store, clock)


def _actor(store: Store, name: str) -> work.Actor:
    with store.sessions() as s:
        return work.actor_named(s, name)


def _audit(store: Store, action: str) -> list[AuditEntry]:
    with store.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_my_queue_is_in_urgency_order_with_appointments_at_their_time(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    a0, a1, a2 = seeded.alice
    now = clock.now()
    with store.transaction() as s:
        s.get(CallbackTask, a2).appointment_at = now + timedelta(minutes=5)  # type: ignore[union-attr]
        s.get(CallbackTask, a1).appointment_at = now + timedelta(hours=5)  # type: ignore[union-attr]
    alice = _actor(store, "alice")
    with store.sessions() as s:
        items = agent_queue.queue(s, CampaignBook(), alice, now)
    assert [i.task_id for i in items] == [a2, a0, a1]  # due appointment, urgency, later appointment
    first = items[1]
    assert first.window_open and first.zone == "Asia/Taipei"
    assert first.local_now.hour == 10 and first.time_left == timedelta(days=3)
    assert items[0].due and not items[2].due


def test_an_agent_sees_only_their_own_tasks_and_a_supervisor_all(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    alice, bob, sue = (_actor(store, n) for n in ("alice", "bob", "sue"))
    book = CampaignBook()
    with store.transaction() as s:
        with pytest.raises(NotFoundError, match="no task"):
            work.call_screen(s, book, clock, bob, seeded.alice[0], "Co")
        with pytest.raises(NotFoundError):
            work.start_call(s, book, clock, bob, seeded.alice[0])
        with pytest.raises(NotFoundError):
            agent_queue.queue(s, book, bob, clock.now(), agent="alice")
        assert {
            i.task_id for i in agent_queue.queue(s, book, sue, clock.now(), agent="alice")
        } == set(seeded.alice)
        screen = work.call_screen(s, book, clock, sue, seeded.alice[0], "Co")
        assert screen.owner == "alice"
        mine = work.call_screen(s, book, clock, alice, seeded.alice[0], "Co")
    assert mine.number is None and mine.phone_masked.endswith("670")
    assert NUMBERS[0] not in mine.phone_masked
    assert mine.script.language == "zh-TW" and "定期保養" in mine.script.question
    assert set(mine.script.branches) == {"satisfied", "average", "unsatisfied"}
    assert "等候時間" in mine.script.reasons
    assert [e.service_type for e in mine.events] == ["定期保養"]
    views = _audit(store, "customer_view")
    assert [v.actor for v in views] == ["sue", "alice"]


def test_starting_a_call_passes_the_gate_and_reveals_the_number_audited(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    alice = _actor(store, "alice")
    book = CampaignBook()
    clock.set(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))  # 22:00 in Taipei: rest hours
    with store.transaction() as s:
        refused = work.start_call(s, book, clock, alice, seeded.alice[0])
    assert refused.decision.verdict == "defer" and refused.number is None
    assert "window" in refused.decision.reason
    clock.set(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # Tuesday 10:00 in Taipei
    with store.transaction() as s:
        started = work.start_call(s, book, clock, alice, seeded.alice[0])
        again = work.start_call(s, book, clock, alice, seeded.alice[0])
    assert started.decision.verdict == "go" and started.number == NUMBERS[0]
    assert again.attempt_id == started.attempt_id
    assert started.agent_phone == "+886911000001"
    with store.sessions() as s:
        attempt = s.get(Attempt, started.attempt_id)
        assert attempt is not None and attempt.channel == "agent" and attempt.state == "placed"
        assert s.scalar(select(func.count()).select_from(Attempt)) == 1
    [entry] = _audit(store, "call_start")
    assert entry.actor == "alice" and NUMBERS[0] not in str(entry.detail)
    assert len(_audit(store, "phone_reveal")) == 1  # the second start showed it again


def test_the_gate_refuses_a_customer_on_the_do_not_contact_list(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    with store.transaction() as s:
        task = s.get(CallbackTask, seeded.alice[1])
        assert task is not None
        s.add(DoNotContact(customer_id=task.customer_id, channel="all", created_at=clock.now()))
    with store.transaction() as s:
        refused = work.start_call(s, CampaignBook(), clock, _actor(store, "alice"), seeded.alice[1])
    assert refused.decision.verdict == "cancel" and "do-not-contact" in refused.decision.reason


def test_recording_needs_a_started_call_then_writes_the_callback_record(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    alice, book = _actor(store, "alice"), CampaignBook()
    tid = seeded.alice[0]
    with store.transaction() as s, pytest.raises(UsageError, match="start the call"):
        work.record(s, book, clock, alice, tid, "satisfied")
    with store.transaction() as s:
        work.start_call(s, book, clock, alice, tid)
    clock.advance(timedelta(minutes=3))
    with store.transaction() as s, pytest.raises(UsageError, match="outcome must be one of"):
        work.record(s, book, clock, alice, tid, "delighted")
    with store.transaction() as s:
        done = work.record(
            s, book, clock, alice, tid, "unsatisfied", reason="等候時間", note="等太久了"
        )
    assert done.case_id is not None
    with store.sessions() as s:
        task = s.get(CallbackTask, tid)
        outcome = s.scalar(select(Outcome).where(Outcome.task_id == tid))
        attempt = s.scalar(select(Attempt).where(Attempt.task_id == tid))
        case = s.get(FollowUpCase, done.case_id)
    assert task is not None and task.state == TaskState.REACHED
    assert outcome is not None and outcome.channel == "agent"
    assert (outcome.reason, outcome.note, outcome.agent_id) == (
        "等候時間",
        "等太久了",
        alice.agent_id,
    )
    assert attempt is not None and attempt.state == "completed" and attempt.duration_seconds == 180
    assert case is not None and case.reason == "等候時間"
    [entry] = _audit(store, "outcome_record")
    assert entry.detail["outcome"] == "unsatisfied" and entry.detail["case"] == done.case_id
    with store.transaction() as s, pytest.raises(UsageError, match="finished"):
        work.start_call(s, book, clock, alice, tid)


def test_a_callback_time_is_read_in_the_customers_local_time(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    alice, book = _actor(store, "alice"), CampaignBook()
    tid = seeded.alice[1]
    with store.transaction() as s:
        work.start_call(s, book, clock, alice, tid)
    with store.transaction() as s, pytest.raises(UsageError, match="already passed"):
        work.record(
            s, book, clock, alice, tid, "callback_requested", callback_at="2026-11-23 09:00"
        )
    with store.transaction() as s, pytest.raises(UsageError, match="goes with"):
        work.record(s, book, clock, alice, tid, "satisfied", callback_at="2026-11-23 19:00")
    with store.transaction() as s:
        done = work.record(
            s, book, clock, alice, tid, "callback_requested", callback_at="2026-11-23T19:00"
        )
    assert done.appointment_at == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # 19:00 Taipei
    with store.sessions() as s:
        items = agent_queue.queue(s, book, alice, clock.now())
    assert items[-1].task_id == tid and items[-1].appointment_at == done.appointment_at
    assert not items[-1].due


def test_opting_out_puts_the_customer_on_the_do_not_contact_list(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    alice, book = _actor(store, "alice"), CampaignBook()
    tid = seeded.alice[2]
    with store.transaction() as s:
        work.start_call(s, book, clock, alice, tid)
        work.record(s, book, clock, alice, tid, "opted_out", note="請不要再打來")
    with store.sessions() as s:
        task = s.get(CallbackTask, tid)
        assert task is not None
        entry = s.scalar(select(DoNotContact).where(DoNotContact.customer_id == task.customer_id))
    assert entry is not None and entry.channel == "all" and entry.source == "agent"


def test_a_wrong_number_is_never_called_again_for_that_customer(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    alice, book = _actor(store, "alice"), CampaignBook()
    tid = seeded.alice[2]
    with store.transaction() as s:
        called = work.start_call(s, book, clock, alice, tid).number
        work.record(s, book, clock, alice, tid, "wrong_number", note="不是這個人")
    with store.sessions() as s:
        task = s.get(CallbackTask, tid)
        assert task is not None and task.outcome == "wrong_number"
        phones = {p.e164: p for p in s.scalars(select(CustomerPhone))}
        wrong = phones[str(called)]
        others = [p for p in phones.values() if p.e164 != called]
    assert wrong.customer_id == task.customer_id
    assert not wrong.voice_ok and not wrong.sms_ok
    assert wrong.unusable_reason is not None and "wrong number" in wrong.unusable_reason
    assert others and all(p.unusable_reason is None for p in others)  # nobody else's number


def test_a_call_left_open_for_hours_is_closed_and_the_task_goes_back_to_the_queue(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    alice, book = _actor(store, "alice"), CampaignBook()
    tid = seeded.alice[0]
    with store.transaction() as s:
        work.start_call(s, book, clock, alice, tid)
    clock.advance(work.OPEN_CALL_LIMIT)  # not past the limit yet
    with store.transaction() as s:
        assert work.close_forgotten_calls(s, clock) == 0
    clock.advance(timedelta(minutes=1))
    with store.transaction() as s:
        assert work.close_forgotten_calls(s, clock) == 1
        assert work.close_forgotten_calls(s, clock) == 0  # closed once
    with store.sessions() as s:
        attempt = s.scalar(select(Attempt).where(Attempt.task_id == tid))
        assert attempt is not None and attempt.state == "failed" and attempt.ended_at
        assert "without an outcome" in (attempt.error_message or "")
        assert tid in [i.task_id for i in agent_queue.queue(s, book, alice, clock.now())]
    [entry] = _audit(store, "call_close_forgotten")
    assert entry.actor == "runner" and entry.subject_id == str(tid)
    with store.transaction() as s:  # a new start goes to the gate, not back into the old call
        again = work.start_call(s, book, clock, alice, tid)
    assert again.attempt_id != attempt.id and again.decision.reason != "call in progress"


def test_a_call_nobody_answered_leaves_the_task_in_the_queue(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    alice, book = _actor(store, "alice"), CampaignBook()
    tid = seeded.alice[0]
    with store.transaction() as s:
        work.start_call(s, book, clock, alice, tid)
        work.end_call(s, book, clock, alice, tid, "no_answer")
        with pytest.raises(UsageError, match="no call going on"):
            work.end_call(s, book, clock, alice, tid, "busy")
    with store.sessions() as s:
        assert tid in [i.task_id for i in agent_queue.queue(s, book, alice, clock.now())]
        attempt = s.scalar(select(Attempt).where(Attempt.task_id == tid))
    assert attempt is not None and attempt.provider_status == "no-answer"


def test_supervisor_sees_loads_reassigns_and_lists_complaints(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    alice, bob, sue = (_actor(store, n) for n in ("alice", "bob", "sue"))
    book, now = CampaignBook(), clock.now()
    tid = seeded.alice[0]
    with store.transaction() as s:
        work.start_call(s, book, clock, alice, tid)
        case_id = work.record(s, book, clock, alice, tid, "unsatisfied", reason="價格").case_id
    assert case_id is not None
    with store.transaction() as s:
        with pytest.raises(NotFoundError):
            supervision.loads(s, alice, now)
        with pytest.raises(NotFoundError):
            supervision.reassign(s, clock, alice, seeded.bob[0], "alice")
        with pytest.raises(NotFoundError):
            supervision.open_complaints(s, bob, now)
        with pytest.raises(NotFoundError):
            supervision.visible_case(s, clock, bob, case_id)
        assert supervision.visible_case(s, clock, alice, case_id).id == case_id
        loads = {a.username: a for a in supervision.loads(s, sue, now)}
        assert (loads["alice"].open_tasks, loads["alice"].done_today) == (2, 1)
        assert loads["bob"].open_tasks == 2 and loads["bob"].load == pytest.approx(2 / 60)
        with pytest.raises(UsageError, match="finished"):
            supervision.reassign(s, clock, sue, tid, "bob")
        supervision.reassign(s, clock, sue, seeded.alice[1], "bob")
        [complaint] = supervision.open_complaints(s, sue, now)
    assert complaint.id == case_id and complaint.reason == "價格"
    with store.sessions() as s:
        assert {i.task_id for i in agent_queue.queue(s, book, bob, now)} == {
            seeded.alice[1],
            *seeded.bob,
        }
    [moved] = _audit(store, "task_reassign")
    assert moved.actor == "sue" and moved.detail["to_agent"] == bob.agent_id
