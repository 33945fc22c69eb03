"""Both users of "tries counted from the agreement" (`dialer.agreement`) on SQLite and PostgreSQL:
the follow-up after an attempt ended and the scheduler count the same tries.

Hand-worked: now T is Monday 2026-11-23 10:00 in Taipei. The after-service campaign allows 3
voice tries, 2 h apart with backoff 1.5. The customer missed voice calls created at T-5h and
T-3h, answered and agreed another time at T-2h (the outcome's recorded_at), then missed the
agreed call created at T-1h, ended at T-59m. Counted from the agreement that is 1 voice try, not
3: the next voice try is due 2 h x 1.5^0 after it ended (T+1h01m), and the scheduler still picks
voice. Counting every try, voice would be used up: the follow-up would fall back at once (T)
and the scheduler would pick SMS.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from console_seeding import after_service
from seeding import seed
from sqlalchemy import select

from dialer import agreement
from dialer.attempt_status import next_try
from dialer.attempts import CampaignBook, schedule_due
from dialer.clock import SettableClock
from dialer.models import Attempt, AttemptState, CallbackTask, Outcome, OutcomeName, TaskState
from dialer.store import Store


@pytest.fixture
def agreed_task(store: Store, clock: SettableClock) -> int:
    [task_id] = seed(store, clock, after_service(), n=1)
    t = clock.now()
    with store.transaction() as s:
        task = s.get_one(CallbackTask, task_id)
        for number, created in enumerate((t - timedelta(hours=5), t - timedelta(hours=3)), 1):
            s.add(Attempt(task_id=task_id, number=number, channel="voice",
                          phone_e164="+886912345678", state=AttemptState.COMPLETED,
                          due_at=created, created_at=created,
                          ended_at=created + timedelta(minutes=1)))  # fmt: skip
        s.add(Outcome(task_id=task_id, name=OutcomeName.CALLBACK_REQUESTED, channel="voice",
                      recorded_at=t - timedelta(hours=2)))  # fmt: skip
        s.add(Attempt(task_id=task_id, number=3, channel="voice", phone_e164="+886912345678",
                      state=AttemptState.COMPLETED, due_at=t - timedelta(hours=1),
                      created_at=t - timedelta(hours=1), ended_at=t - timedelta(minutes=59)))  # fmt: skip
        task.outcome, task.state = OutcomeName.CALLBACK_REQUESTED, TaskState.PENDING
        task.attempts_made, task.next_attempt_at = 3, None
    return task_id


def forget_the_agreement(store: Store, task_id: int) -> None:
    """The contrast: the same attempts on a task whose customer agreed nothing."""
    with store.transaction() as s:
        s.get_one(CallbackTask, task_id).outcome = None


@pytest.mark.parametrize(("agreed", "due_in"), [(True, timedelta(hours=1, minutes=1)),
                                                (False, timedelta(0))])  # fmt: skip
def test_the_follow_up_counts_the_tries_since_the_agreement(
    store: Store, clock: SettableClock, agreed_task: int, agreed: bool, due_in: timedelta
) -> None:
    t = clock.now()
    if not agreed:
        forget_the_agreement(store, agreed_task)
    book = CampaignBook()
    with store.transaction() as s:
        book.refresh(s)
        task = s.get_one(CallbackTask, agreed_task)
        since = agreement.agreed_at(s, [(task.id, task.outcome)])
        assert since == ({agreed_task: t - timedelta(hours=2)} if agreed else {})
        last = s.scalars(select(Attempt).where(Attempt.task_id == agreed_task,
                                               Attempt.number == 3)).one()  # fmt: skip
        assert next_try(s.connection(), book, task, last, t) == t + due_in


@pytest.mark.parametrize(("agreed", "channel"), [(True, "voice"), (False, "sms")])
def test_the_scheduler_counts_the_same_tries(
    store: Store, clock: SettableClock, agreed_task: int, agreed: bool, channel: str
) -> None:
    t = clock.now()
    if not agreed:
        forget_the_agreement(store, agreed_task)
    book = CampaignBook()
    with store.transaction() as s:
        book.refresh(s)
        s.get_one(CallbackTask, agreed_task).next_attempt_at = t
        report = schedule_due(s, book, t, {})
    assert (report.scheduled, report.exhausted, report.to_agents) == (1, 0, 0)
    with store.sessions() as s:
        new = s.scalars(select(Attempt).where(Attempt.task_id == agreed_task,
                                              Attempt.number == 4)).one()  # fmt: skip
    assert (new.channel, new.phone_e164) == (channel, "+886912345678")
