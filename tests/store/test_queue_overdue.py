"""Tasks past their deadline in an agent's queue (SQLite and PostgreSQL): still workable, shown as
overdue, and placed after every task that can still be reached in time.

Seeded (tests/console_seeding.py): now is Monday 2026-11-23 10:00 in Taipei, every customer in
Taipei (window open), alice holds a0..a2, bob b0, b1; priorities 0, 100, 200, 300, 400.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from console_seeding import Seeded, seed_console
from sqlalchemy import select

from dialer import agent_queue, supervision
from dialer import agent_work as work
from dialer.attempts import CampaignBook
from dialer.clock import SettableClock
from dialer.coverage import coverage
from dialer.models import CallbackTask, TaskState
from dialer.store import Store


@pytest.fixture
def seeded(store: Store, clock: SettableClock) -> Seeded:
    return seed_console(store, clock)


def _late_queue(store: Store, clock: SettableClock, seeded: Seeded) -> list[int]:
    """alice's five tasks: two in time (one a due appointment), three past the deadline."""
    a0, a1, a2 = seeded.alice
    b0, b1 = seeded.bob
    now = clock.now()
    changes = {
        a0: {"deadline": now - timedelta(days=1), "member": False},  # overdue 1 d, priority 0
        a1: {"deadline": now + timedelta(days=3)},  # in time, priority 100
        a2: {"deadline": now - timedelta(hours=2), "member": False},  # overdue 2 h
        b0: {"deadline": now - timedelta(days=5), "member": True},  # overdue member, oldest
        b1: {"deadline": now + timedelta(days=1), "appointment_at": now - timedelta(minutes=10)},
    }
    with store.transaction() as s:
        for tid, values in changes.items():
            task = s.get_one(CallbackTask, tid)
            task.agent_id = seeded.ids["alice"]
            for name, value in values.items():
                setattr(task, name, value)
    return [b1, a1, b0, a2, a0]


def test_overdue_tasks_come_after_tasks_still_in_time(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    expected = _late_queue(store, clock, seeded)
    b1, a1, b0, a2, a0 = expected
    alice = work.Actor(seeded.ids["alice"], "alice", False)
    with store.sessions() as s:
        items = agent_queue.queue(s, CampaignBook(), alice, clock.now())
    # Due appointment; the task still in time; then the overdue: the member first, then the
    # most recently overdue (2 h before 1 d). By priority alone a0 (priority 0) would lead.
    assert [i.task_id for i in items] == expected
    by_id = {i.task_id: i for i in items}
    assert [by_id[t].overdue for t in expected] == [False, False, True, True, True]
    assert by_id[a2].overdue_by == timedelta(hours=2)
    assert by_id[b0].overdue_by == timedelta(days=5)
    assert by_id[a1].overdue_by == timedelta(0)
    assert by_id[a0].time_left == -timedelta(days=1)
    assert by_id[b1].due and by_id[b1].appointment_at is not None


def test_the_queue_limit_keeps_tasks_in_time(
    store: Store, clock: SettableClock, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for two lines, the two in-time tasks are shown, not the old misses."""
    b1, a1, *_ = _late_queue(store, clock, seeded)
    monkeypatch.setattr(agent_queue, "QUEUE_LIMIT", 2)
    alice = work.Actor(seeded.ids["alice"], "alice", False)
    with store.sessions() as s:
        items = agent_queue.queue(s, CampaignBook(), alice, clock.now())
    assert [i.task_id for i in items] == [b1, a1]


def test_an_overdue_task_is_still_called_and_reached_late(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    *_, a0 = _late_queue(store, clock, seeded)
    alice = work.Actor(seeded.ids["alice"], "alice", False)
    book = CampaignBook()
    with store.sessions() as s:
        (before,) = coverage(s, book, clock.now()).campaigns
        side = "members" if s.get_one(CallbackTask, a0).member else "non_members"
    with store.transaction() as s:
        started = work.start_call(s, book, clock, alice, a0)
    assert started.decision.verdict == "go"
    with store.transaction() as s:
        work.record(s, book, clock, alice, a0, "satisfied")
    with store.sessions() as s:
        task = s.get_one(CallbackTask, a0)
        assert task.state == TaskState.REACHED and task.outcome == "satisfied"
        assert task.deadline < clock.now()  # reached after the deadline: "late" in coverage
        left = list(s.scalars(select(CallbackTask.id).where(CallbackTask.agent_id.is_not(None))))
    with store.sessions() as s:
        items = agent_queue.queue(s, book, alice, clock.now())
    assert a0 not in [i.task_id for i in items] and a0 in left
    with store.sessions() as s:
        (after,) = coverage(s, book, clock.now()).campaigns
    # docs/definitions.md: breached while open past the deadline, "late" once reached after it.
    assert getattr(after, side)["breached"] == getattr(before, side)["breached"] - 1
    assert getattr(after, side)["late"] == getattr(before, side)["late"] + 1


def test_the_supervisor_sees_how_many_overdue_tasks_each_agent_holds(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    _late_queue(store, clock, seeded)  # alice: five open tasks, three past the deadline
    sue = work.Actor(seeded.ids["sue"], "sue", True)
    with store.sessions() as s:
        loads = {a.username: a for a in supervision.loads(s, sue, clock.now())}
    assert (loads["alice"].open_tasks, loads["alice"].overdue) == (5, 3)
    assert (loads["bob"].open_tasks, loads["bob"].overdue) == (0, 0)
    clock.set(clock.now() + timedelta(days=1, seconds=1))  # a1's deadline is 3 days out: no
    with store.sessions() as s:
        loads = {a.username: a for a in supervision.loads(s, sue, clock.now())}
    assert loads["alice"].overdue == 4  # b1's deadline (one day) has passed too


def test_an_appointment_past_its_agreed_time_is_overdue_and_comes_right_after_those_kept(
    store: Store, clock: SettableClock, seeded: Seeded
) -> None:
    """alice holds four appointments and one ordinary task. The gate keeps an agreed time up to
    an hour after it; past that the appointment is overdue by the time since the agreed time,
    and comes after the appointments still kept (their hour runs out) and before every ordinary
    task, the longest-waiting customer first, even when its deadline has passed too."""
    a0, a1, a2 = seeded.alice
    b0, b1 = seeded.bob
    now = clock.now()
    changes = {
        a0: {"appointment_at": now - timedelta(hours=3)},  # missed 3 h ago
        a1: {"appointment_at": now - timedelta(minutes=30)},  # still kept (within the hour)
        a2: {"deadline": now + timedelta(days=2)},  # an ordinary task in time
        b0: {  # missed yesterday, and now past its deadline as well
            "appointment_at": now - timedelta(days=1, hours=2),
            "deadline": now - timedelta(hours=1),
        },
        b1: {"appointment_at": now + timedelta(days=1)},  # still ahead
    }
    with store.transaction() as s:
        for tid, values in changes.items():
            task = s.get_one(CallbackTask, tid)
            task.agent_id = seeded.ids["alice"]
            for name, value in values.items():
                setattr(task, name, value)
    alice = work.Actor(seeded.ids["alice"], "alice", False)
    with store.sessions() as s:
        items = agent_queue.queue(s, CampaignBook(), alice, now)
    assert [i.task_id for i in items] == [a1, b0, a0, a2, b1]
    by_id = {i.task_id: i for i in items}
    assert [by_id[t].appointment_overdue for t in (a1, b0, a0, a2, b1)] == [
        False, True, True, False, False,
    ]  # fmt: skip
    assert by_id[b0].appointment_overdue_by == timedelta(days=1, hours=2)
    assert by_id[a0].appointment_overdue_by == timedelta(hours=3)
    assert by_id[a1].appointment_overdue_by == timedelta(0) and by_id[a1].due
    assert by_id[b0].overdue and by_id[b0].overdue_by == timedelta(hours=1)  # the deadline too

    clock.advance(timedelta(minutes=30))  # a1's agreed time is exactly an hour ago: still kept
    with store.sessions() as s:
        items = agent_queue.queue(s, CampaignBook(), alice, clock.now())
    assert [i.task_id for i in items] == [a1, b0, a0, a2, b1]
    assert not items[0].appointment_overdue
    clock.advance(timedelta(seconds=1))  # one second more: missed, and after the older misses
    with store.sessions() as s:
        items = agent_queue.queue(s, CampaignBook(), alice, clock.now())
    assert [i.task_id for i in items] == [b0, a0, a1, a2, b1]
    assert items[2].appointment_overdue_by == timedelta(hours=1, seconds=1)
    sue = work.Actor(seeded.ids["sue"], "sue", True)
    with store.sessions() as s:
        loads = {a.username: a for a in supervision.loads(s, sue, clock.now())}
    assert (loads["alice"].missed_appointments, loads["alice"].overdue) == (3, 1)
    assert loads["bob"].missed_appointments == 0
