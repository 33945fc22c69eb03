"""Attempts on the real store (SQLite and PostgreSQL): scheduling, claiming, statuses, follow-up."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from seeding import seed
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dialer import attempt_status as statuses
from dialer import attempts as books
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    DoNotContact,
    TaskState,
    WebhookEvent,
)
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SID = "CA" + "0" * 31 + "1"


@pytest.fixture
def spec() -> CampaignSpec:
    return load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")


def book(session: Session) -> books.CampaignBook:
    b = books.CampaignBook()
    b.refresh(session)
    return b


def schedule(store: Store, clock: SettableClock) -> books.ScheduleReport:
    with store.transaction() as s:
        return books.schedule_due(s, book(s), clock.now(), {"TW": "+886200000001"})


def attempts_of(store: Store, task_id: int) -> list[Attempt]:
    with store.sessions() as s:
        return list(
            s.scalars(select(Attempt).where(Attempt.task_id == task_id).order_by(Attempt.number))
        )


def status(
    store: Store, clock: SettableClock, attempt_id: int, value: str, seq: int, **extra: str
) -> bool:
    with store.transaction() as s:
        return statuses.apply_status(
            s,
            book(s),
            clock.now(),
            kind="call",
            attempt_id=attempt_id,
            sid=SID,
            status=value,
            sequence=seq,
            payload={"CallStatus": value, **extra},
        )


def test_schedule_makes_one_attempt_per_due_task_and_is_idempotent(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    tasks = seed(store, clock, spec)
    report = schedule(store, clock)
    assert report.scheduled == 3
    assert schedule(store, clock).scheduled == 0
    first = attempts_of(store, tasks[0])
    assert [(a.channel, a.number, a.state, a.from_e164) for a in first] == [
        ("voice", 1, AttemptState.SCHEDULED, "+886200000001")
    ]
    with store.sessions() as s:
        task = s.get(CallbackTask, tasks[0])
        assert task is not None
        assert task.state == TaskState.IN_PROGRESS and task.next_attempt_at is None


def test_claims_are_disjoint_and_respect_due_time(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    seed(store, clock, spec, n=5)
    schedule(store, clock)
    with store.transaction() as s:
        s.execute(
            update(Attempt)
            .where(
                Attempt.number == 1, Attempt.task_id == s.scalar(select(func.max(Attempt.task_id)))
            )
            .values(due_at=clock.now() + timedelta(hours=1))
        )
    lease = timedelta(minutes=2)
    with store.transaction() as s:
        a = books.claim(s, "A", clock.now(), lease, 2)
    with store.transaction() as s:
        b = books.claim(s, "B", clock.now(), lease, 10)
    assert len(a) == 2 and len(b) == 2 and not set(a) & set(b)
    with store.sessions() as s:
        claimed = s.execute(
            select(Attempt.claimed_by, Attempt.lease_expires_at).where(
                Attempt.state == AttemptState.CLAIMED
            )
        ).all()
    assert sorted(c for c, _ in claimed) == ["A", "A", "B", "B"]
    assert all(exp == clock.now() + lease for _, exp in claimed)


@pytest.mark.postgres
def test_skip_locked_lets_a_second_worker_take_other_rows(
    pg_schema: tuple[str, str], clock: SettableClock, spec: CampaignSpec
) -> None:
    url, schema = pg_schema
    store = Store.open(url, schema=schema)
    try:
        seed(store, clock, spec, n=4)
        schedule(store, clock)
        lease = timedelta(minutes=2)
        with store.transaction() as held:  # worker A holds its claim, uncommitted
            a = books.claim(held, "A", clock.now(), lease, 2)
            with store.transaction() as other:
                b = books.claim(other, "B", clock.now(), lease, 4)
            assert len(a) == 2 and len(b) == 2 and not set(a) & set(b)
    finally:
        store.close()


def test_statuses_are_stored_once_and_terminal_never_regresses(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    [task_id] = seed(store, clock, spec, n=1)
    schedule(store, clock)
    with store.transaction() as s:
        [aid] = books.claim(s, "A", clock.now(), timedelta(minutes=2), 5)
        books.mark_placed(s, aid, SID, "queued", clock.now(), timedelta(minutes=15))
    assert status(store, clock, aid, "ringing", 1)
    assert not status(store, clock, aid, "ringing", 1)  # a duplicate callback: nothing twice
    clock.advance(40)
    assert status(store, clock, aid, "no-answer", 3, CallDuration="0")
    assert status(store, clock, aid, "initiated", 0)  # late and reordered: logged only
    [attempt] = attempts_of(store, task_id)
    assert attempt.state == AttemptState.COMPLETED and attempt.provider_status == "no-answer"
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 3
        task = s.get(CallbackTask, task_id)
        assert task is not None and task.next_attempt_at == clock.now() + timedelta(hours=2)


def test_a_callback_before_the_placement_record_is_not_undone(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    [task_id] = seed(store, clock, spec, n=1)
    schedule(store, clock)
    with store.transaction() as s:
        [aid] = books.claim(s, "A", clock.now(), timedelta(minutes=2), 5)
    assert status(store, clock, aid, "busy", 2)  # the callback won the race
    with store.transaction() as s:
        books.mark_placed(s, aid, SID, "queued", clock.now(), timedelta(minutes=15))
    [attempt] = attempts_of(store, task_id)
    assert (attempt.state, attempt.provider_sid, attempt.provider_status) == (
        AttemptState.COMPLETED,
        SID,
        "busy",
    )


def test_a_batch_is_placed_row_by_row_and_a_callback_that_came_first_stands(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    """`mark_placed_many` (one statement over arrays on PostgreSQL) gives each attempt its own
    SID, status and settle check; the one whose callback won the race keeps its state and gets
    its SID."""
    seed(store, clock, spec, n=3)
    schedule(store, clock)
    with store.transaction() as s:
        first, second, third = books.claim(s, "A", clock.now(), timedelta(minutes=2), 3)
    called_at = clock.now()
    assert status(store, clock, second, "busy", 2)  # its callback came before the record
    clock.advance(5)
    with store.transaction() as s:
        books.mark_placed_many(
            s,
            [
                (first, "CA" + "a" * 32, "queued", clock.now() + timedelta(minutes=2)),
                (second, SID, "queued", clock.now() + timedelta(minutes=2)),
                (third, "CA" + "c" * 32, "ringing", clock.now() + timedelta(minutes=7)),
            ],
            clock.now(),
        )
    with store.sessions() as s:
        rows = {
            a.id: (a.state, a.provider_sid, a.provider_status, a.placed_at, a.lease_expires_at)
            for a in s.scalars(select(Attempt))
        }
    now = clock.now()
    assert rows == {  # each its own settle check
        first: (AttemptState.PLACED, "CA" + "a" * 32, "queued", now, now + timedelta(minutes=2)),
        second: (AttemptState.COMPLETED, SID, "busy", called_at, None),  # the callback's
        third: (AttemptState.PLACED, "CA" + "c" * 32, "ringing", now, now + timedelta(minutes=7)),
    }


def test_voice_retries_with_backoff_then_falls_back_to_sms_then_to_a_person(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    [task_id] = seed(store, clock, spec, n=1)
    waits = []
    for n in range(1, 5):
        assert schedule(store, clock).scheduled == 1
        with store.transaction() as s:
            [aid] = books.claim(s, "A", clock.now(), timedelta(minutes=2), 5)
            sid = f"CA{n:032d}"
            books.mark_placed(s, aid, sid, "queued", clock.now(), timedelta(minutes=15))
            b = book(s)
            final = "delivered" if n == 4 else "busy"
            statuses.apply_status(
                s,
                b,
                clock.now(),
                kind="sms" if n == 4 else "call",
                attempt_id=aid,
                sid=sid,
                status=final,
                sequence=1,
                payload={},
            )
            task = s.get(CallbackTask, task_id)
            assert task is not None
            waits.append(task.next_attempt_at - clock.now() if task.next_attempt_at else None)
        if task.next_attempt_at:
            clock.set(task.next_attempt_at)
    channels = [a.channel for a in attempts_of(store, task_id)]
    assert channels == ["voice", "voice", "voice", "sms"]
    assert waits[:3] == [timedelta(hours=2), timedelta(hours=3), timedelta(0)]
    # SMS (max 1) used up: the last channel is a person; the task waits in the agents' queue,
    # marked so the assignment gives it to one (notified, not reached, no outcome yet).
    assert schedule(store, clock).to_agents == 1
    with store.sessions() as s:
        task = s.get(CallbackTask, task_id)
        assert task is not None
        assert (task.state, task.outcome, task.next_attempt_at) == (
            TaskState.IN_PROGRESS,
            None,
            None,
        )
        assert task.plan_action == books.HANDED_TO_AGENT and "person" in (task.plan_reason or "")
        assert task.notified_at is not None
    assert schedule(store, clock).to_agents == 0  # handed over once: nothing more to schedule


def test_without_a_person_in_the_channels_the_used_up_task_ends_not_reached(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    tries = {k: v for k, v in spec.attempts.items() if k != "agent"}
    automated = spec.model_copy(update={"channels": ["voice", "sms"], "attempts": tries})
    [task_id] = seed(store, clock, automated, n=1)
    with store.transaction() as s:
        customer_id = s.scalar(select(CallbackTask.customer_id).where(CallbackTask.id == task_id))
        for n, channel in enumerate(("voice", "voice", "voice", "sms"), 1):
            s.add(
                Attempt(
                    task_id=task_id,
                    customer_id=customer_id,
                    number=n,
                    channel=channel,
                    state=AttemptState.COMPLETED,
                    due_at=clock.now(),
                    created_at=clock.now(),
                )
            )
    report = schedule(store, clock)
    assert (report.exhausted, report.to_agents) == (1, 0)
    with store.sessions() as s:
        task = s.get(CallbackTask, task_id)
        assert task is not None
        assert (task.state, task.outcome) == (TaskState.NOT_REACHED, "not_reached")


def test_choice_rotates_numbers_and_skips_blocked_ones(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    now = clock.now()
    a = books.Phone("+886912000001", "mobile", "TW", True, True, None)
    b = books.Phone("+886223456789", "fixed_line", "TW", True, True, None)
    tried = [books.Tried("voice", now)]
    assert books.choose(spec, [], [a, b], {}, now) == ("voice", a)
    assert books.choose(spec, tried, [a, b], {}, now) == ("voice", b)
    assert books.choose(spec, tried, [a, b], {b.e164: frozenset({"all"})}, now) == ("voice", a)
    three = tried * 3
    assert books.choose(spec, three, [a, b], {}, now) == ("sms", a)  # landline takes no SMS
    # The landline takes no SMS: the person is next (it takes calls), unless calls are blocked.
    assert books.choose(spec, three, [b], {}, now) == ("agent", None)
    assert books.choose(spec, three, [b], {"": frozenset({"voice"})}, now) is None
    assert books.choose(spec, three, [b], {b.e164: frozenset({"agent"})}, now) is None
    no_person = spec.model_copy(update={"channels": ["voice", "sms"]})
    assert books.choose(no_person, three, [b], {}, now) is None
    late = now + timedelta(days=2)
    assert books.choose(spec, tried, [a], {}, late) == ("sms", a)  # give_up_after 2d
    assert books.choose(spec, [], [a], {}, now, plan_action="sms") == ("sms", a)
    assert books.choose(spec, [], [a], {"": frozenset({"voice"})}, now) == ("sms", a)


def test_do_not_contact_on_every_number_ends_the_task(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    [task_id] = seed(store, clock, spec, n=1)
    with store.transaction() as s:
        cust_id = s.scalar(select(CallbackTask.customer_id).where(CallbackTask.id == task_id))
        s.add(DoNotContact(customer_id=cust_id, channel="all", created_at=clock.now()))
    report = schedule(store, clock)
    assert (report.scheduled, report.exhausted) == (0, 1)


def test_sender_by_region() -> None:
    senders = {"TW": "+886200000001", "default": "+15550000000"}
    assert books.sender_for(senders, "tw") == "+886200000001"
    assert books.sender_for(senders, "KR") == "+15550000000"
    assert books.sender_for({}, "KR") is None


def test_ranks_order_the_lifecycle() -> None:
    order = ["queued", "initiated", "ringing", "in-progress", "completed"]
    assert [statuses.rank("call", s) for s in order] == sorted(
        statuses.rank("call", s) for s in order
    )
    assert statuses.rank("sms", "sent") < statuses.rank("sms", "delivered") == statuses.TERMINAL
    assert statuses.rank("call", None) < statuses.rank("call", "queued")


def test_a_placed_attempt_moves_by_its_status_alone_and_a_claimed_one_is_placed(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    """The narrow move (an attempt placed with this SID) and the general one (claimed, no SID
    yet) each leave what the general move alone left."""
    seed(store, clock, spec, n=2)
    schedule(store, clock)
    placed_at = clock.now()
    with store.transaction() as s:
        placed, claimed = books.claim(s, "A", clock.now(), timedelta(minutes=2), 2)
        books.mark_placed(s, placed, SID, "queued", placed_at, timedelta(minutes=15))
    other = "CA" + "0" * 31 + "2"

    def call(aid: int, sid: str, value: str, seq: int, **extra: str) -> bool:
        with store.transaction() as s:
            return statuses.apply_status(
                s, book(s), clock.now(), kind="call", attempt_id=aid, sid=sid, status=value,
                sequence=seq, payload={"CallStatus": value, **extra},
            )  # fmt: skip

    def row(aid: int) -> tuple[object, ...]:
        with store.sessions() as s:
            a = s.get(Attempt, aid)
            assert a is not None
            return (a.state, a.provider_sid, a.provider_status, a.answered_by, a.placed_at)

    clock.advance(5)
    assert call(placed, SID, "ringing", 1)
    assert row(placed) == (AttemptState.PLACED, SID, "ringing", None, placed_at)
    assert call(placed, SID, "in-progress", 2, AnsweredBy="human")
    assert call(placed, SID, "answered", 3)  # the same rank: no move, answered_by kept
    assert row(placed) == (AttemptState.PLACED, SID, "in-progress", "human", placed_at)
    assert call(placed, other, "completed", 4)  # another call's SID: logged, never applied
    assert row(placed) == (AttemptState.PLACED, SID, "in-progress", "human", placed_at)
    assert call(claimed, other, "ringing", 1)  # before its placement record: placed now
    assert row(claimed) == (AttemptState.PLACED, other, "ringing", None, clock.now())


def test_every_order_of_a_calls_statuses_ends_the_same(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    """The one-statement move and the reading path agree: any order (with repeats) ends alike."""
    lifecycle = [("initiated", 0), ("ringing", 1), ("in-progress", 2), ("completed", 3)]
    orders = list(itertools.permutations(lifecycle))
    tasks = seed(store, clock, spec, n=len(orders))
    schedule(store, clock)
    with store.transaction() as s:
        aids = books.claim(s, "A", clock.now(), timedelta(minutes=2), len(orders))
        books.mark_placed_many(
            s,
            [(a, f"CA{a:032x}", "queued", clock.now() + timedelta(minutes=15)) for a in aids],
            clock.now(),
        )
    for aid, order in zip(aids, orders, strict=True):
        seen = []
        for value, seq in [*order, order[0]]:  # and the first one again, as a retry
            with store.transaction() as s:
                stored = statuses.apply_status(
                    s,
                    book(s),
                    clock.now(),
                    kind="call",
                    attempt_id=aid,
                    sid=f"CA{aid:032x}",
                    status=value,
                    sequence=seq,
                    payload={"CallStatus": value, "CallDuration": "42"},
                )
            seen.append(stored)
            with store.sessions() as s:
                attempt = s.get(Attempt, aid)
                assert attempt is not None
                ranks = [statuses.rank("call", v) for v, _ in order[: len(seen)]]
                assert statuses.rank("call", attempt.provider_status) == max(ranks)
        assert seen == [True] * 4 + [False]
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 4 * len(orders)
        rows = s.execute(
            select(Attempt.state, Attempt.provider_status, Attempt.duration_seconds).where(
                Attempt.id.in_(aids)
            )
        ).all()
        assert set(rows) == {(AttemptState.COMPLETED, "completed", 42)}
        nexts = s.scalars(select(CallbackTask.next_attempt_at).where(CallbackTask.id.in_(tasks)))
        assert set(nexts) == {clock.now() + timedelta(hours=2)}


def test_a_status_moves_only_the_attempt_named_and_refuses_another_attempts_sid(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    [task_id] = seed(store, clock, spec, n=1)
    schedule(store, clock)
    with store.transaction() as s:
        [aid] = books.claim(s, "A", clock.now(), timedelta(minutes=2), 5)
        books.mark_placed(s, aid, SID, "queued", clock.now(), timedelta(minutes=15))
    with store.transaction() as s:  # no attempt id: kept, but the SID moves nothing
        assert statuses.apply_status(
            s, book(s), clock.now(), kind="call", attempt_id=None, sid=SID, status="ringing",
            sequence=0, payload={},
        )  # fmt: skip
    assert attempts_of(store, task_id)[0].provider_status == "queued"
    with store.transaction() as s:  # its own id: moved
        held = s.get(Attempt, aid)  # an ORM copy the session holds sees the new state
        assert held is not None and held.provider_status == "queued"
        assert statuses.apply_status(
            s,
            book(s),
            clock.now(),
            kind="call",
            attempt_id=aid,
            sid=SID,
            status="ringing",
            sequence=1,
            payload={},
        )
        assert held.provider_status == "ringing" and held.state == AttemptState.PLACED
    other = "CA" + "f" * 32
    assert status(store, clock, aid, "ringing", 1) is False  # the same event: a repeat
    with store.transaction() as s:  # another call's SID on this attempt: logged, not applied
        assert statuses.apply_status(
            s,
            book(s),
            clock.now(),
            kind="call",
            attempt_id=aid,
            sid=other,
            status="completed",
            sequence=3,
            payload={},
        )
    [attempt] = attempts_of(store, task_id)
    assert (attempt.state, attempt.provider_sid, attempt.provider_status) == (
        AttemptState.PLACED,
        SID,
        "ringing",
    )


def test_claim_order_is_members_then_least_slack_or_file_order_for_fifo(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    """With more due than the pipe takes: priority claims members first, then least slack;
    fifo claims the earliest due in file (task) order."""
    tasks = seed(store, clock, spec, n=4)
    # task 0: non-member, tight; 1: member, loose; 2: member, tight; 3: non-member, loose
    shape = [(False, 600), (True, 90_000), (True, 3_600), (False, 50_000)]
    with store.transaction() as s:
        for tid, (member, slack) in zip(tasks, shape, strict=True):
            s.execute(
                update(CallbackTask)
                .where(CallbackTask.id == tid)
                .values(member=member, slack_seconds=slack)
            )
    schedule(store, clock)
    lease = timedelta(minutes=2)
    with store.transaction() as s:
        by_priority = books.claim(s, "A", clock.now(), lease, 3)
        for aid in by_priority:  # given back: the same due attempts, claimed the other way
            books.release(s, aid, clock.now())
    with store.transaction() as s:
        fifo = books.claim(s, "A", clock.now(), lease, 3, order="fifo")
    with store.sessions() as s:
        task_of = {a: t for a, t in s.execute(select(Attempt.id, Attempt.task_id))}
    assert [task_of[a] for a in by_priority] == [tasks[2], tasks[1], tasks[0]]
    assert [task_of[a] for a in fifo] == tasks[:3]


def test_a_prepared_statement_converts_every_datetime_it_is_given(
    store: Store, clock: SettableClock
) -> None:
    """The hot path keeps the last datetime it converted; a new or alternating one is still
    converted, so no row gets another row's time."""
    from sqlalchemy import bindparam

    from dialer.models import UTCDateTime

    echo = statuses._Prepared(select(bindparam("b_t", type_=UTCDateTime()).label("at")))
    a = clock.now()
    b = a + timedelta(hours=1)
    with store.engine.connect() as conn:
        seen = [echo.first(conn, {"b_t": t}).at for t in (a, a, b, a, b + timedelta(0))]
    assert seen == [a, a, b, a, b]
    assert all(t.tzinfo is not None for t in seen)
