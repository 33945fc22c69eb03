"""Complaints close the loop, on the real store (SQLite and PostgreSQL): the case state machine,
its follow-up callback planned like any task, its answer closing or reopening the case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from seeding import seed
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dialer import attempts as books
from dialer import cases
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.errors import NotFoundError, UsageError
from dialer.migrate import downgrade
from dialer.models import (
    Agent,
    Attempt,
    CallbackTask,
    CaseState,
    CaseStep,
    FollowUpCase,
    Outcome,
    TaskState,
)
from dialer.outcomes import record_outcome
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
BOSS = "supervisor-lin"


@pytest.fixture
def spec() -> CampaignSpec:
    return load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")


def complaint(
    store: Store,
    clock: SettableClock,
    spec: CampaignSpec,
    *,
    name: str = "unsatisfied",
    reason: str | None = "waiting time",
    words: str | None = "等太久了",
    key_prefix: str = "C",
) -> tuple[int, int]:
    """One member customer answered `name` in the callback: (task id, case id)."""
    [tid] = seed(store, clock, spec, n=1, key_prefix=key_prefix)
    with store.transaction() as s:
        task = s.get(CallbackTask, tid)
        assert task is not None
        record_outcome(s, spec, task, name, clock.now(), channel="voice", note=words, reason=reason)
        case_id = s.scalar(select(FollowUpCase.id).where(FollowUpCase.task_id == tid))
    assert case_id is not None
    return tid, case_id


def to_investigating(store: Store, clock: SettableClock, case_id: int) -> None:
    with store.transaction() as s:
        cases.judge(s, case_id, True, "the wait was 90 minutes", BOSS, clock.now())
        clock.advance(timedelta(minutes=5))
        cases.investigate(s, case_id, "service desk", BOSS, clock.now())


def resolve(store: Store, clock: SettableClock, case_id: int, spec: CampaignSpec) -> int:
    with store.transaction() as s:
        return cases.resolve(s, case_id, "a second technician on Saturdays", BOSS, clock.now()).id


def answer(store: Store, clock: SettableClock, spec: CampaignSpec, task_id: int, name: str) -> None:
    with store.transaction() as s:
        task = s.get(CallbackTask, task_id)
        assert task is not None
        record_outcome(s, spec, task, name, clock.now(), channel="voice")


def case_of(store: Store, case_id: int) -> FollowUpCase:
    with store.sessions() as s:
        case = s.get(FollowUpCase, case_id)
        assert case is not None
        s.expunge(case)
        return case


def history(store: Store, case_id: int) -> list[tuple[str | None, str, str]]:
    with store.sessions() as s:
        return [(st.from_state, st.to_state, st.actor) for st in cases.steps(s, case_id)]


def test_an_unsatisfied_answer_opens_a_case_with_the_reason_and_the_words(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    tid, case_id = complaint(store, clock, spec)
    case = case_of(store, case_id)
    assert (case.state, case.source, case.reason, case.description) == (
        "open",
        "answer",
        "waiting time",
        "等太久了",
    )
    assert case.opened_at == clock.now() and case.follow_up_round == 1
    with store.sessions() as s:
        assert s.scalar(select(Outcome.reason).where(Outcome.task_id == tid)) == "waiting time"
        # words given afterwards (a second SMS, the reasons menu) join the same case
        task = s.get(CallbackTask, tid)
        assert task is not None
        record_outcome(s, spec, task, "unsatisfied", clock.now(), channel="sms", note="還很貴")
        s.commit()
    assert case_of(store, case_id).description == "等太久了\n還很貴"
    assert history(store, case_id) == [(None, "open", "system")]


def test_average_opens_a_case_only_when_the_campaign_says_so(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    [tid] = seed(store, clock, spec, n=1)
    with store.transaction() as s:
        task = s.get(CallbackTask, tid)
        assert task is not None
        record_outcome(s, spec, task, "average", clock.now(), channel="voice")
    with store.sessions() as s:
        assert s.scalar(select(FollowUpCase.id)) is None
    says = spec.model_copy(
        update={"complaints": spec.complaints.model_copy(update={"average_opens_case": True})}
    )
    [tid2] = seed(store, clock, spec, n=1, key_prefix="D")
    with store.transaction() as s:
        task = s.get(CallbackTask, tid2)
        assert task is not None
        record_outcome(s, says, task, "average", clock.now(), channel="voice")
    with store.sessions() as s:
        assert s.scalars(select(FollowUpCase.task_id)).all() == [tid2]


def test_a_request_raised_in_a_call_opens_a_case(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    [tid] = seed(store, clock, spec, n=1)
    with store.transaction() as s:
        task = s.get(CallbackTask, tid)
        assert task is not None
        case = cases.open_case(
            s, task, None, clock.now(), words="請幫我改預約時間", source="request", actor="agent-wu"
        )
        case_id = case.id
    case = case_of(store, case_id)
    assert (case.source, case.description, case.opened_by, case.outcome_id) == (
        "request",
        "請幫我改預約時間",
        "agent-wu",
        None,
    )


def test_the_full_loop_closes_on_a_satisfied_follow_up(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    tid, case_id = complaint(store, clock, spec)
    to_investigating(store, clock, case_id)
    # resolved at 21:30 in Taipei: rest hours, so the callback waits for 09:00 the next morning
    clock.set(datetime(2026, 11, 23, 13, 30, tzinfo=UTC))
    resolved_at = clock.now()
    fu = resolve(store, clock, case_id, spec)
    with store.sessions() as s:
        task = s.get(CallbackTask, fu)
        origin = s.get(CallbackTask, tid)
        assert task is not None and origin is not None
        assert (task.campaign_id, task.customer_id, task.member) == (
            origin.campaign_id,
            origin.customer_id,
            True,
        )
        assert task.dedupe_key == f"case:{case_id}:1"
        assert task.deadline == resolved_at + timedelta(days=3)
        assert task.state == TaskState.PENDING and task.plan_action is None
        assert task.next_attempt_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 Taipei
        assert task.slack_seconds is not None and task.slack_seconds > 0
    case = case_of(store, case_id)
    assert (case.state, case.follow_up_task_id, case.resolved_at) == ("resolved", fu, resolved_at)
    assert case.resolution == "a second technician on Saturdays"

    # the dispatcher's books take it when its window opens, like any other task
    with store.transaction() as s:
        b = books.CampaignBook()
        b.refresh(s)
        assert books.schedule_due(s, b, clock.now(), {}).scheduled == 0  # still night in Taipei
        clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
        assert books.schedule_due(s, b, clock.now(), {}).scheduled == 1
        assert s.scalar(select(Attempt.task_id).where(Attempt.task_id == fu)) == fu

    clock.advance(timedelta(minutes=3))
    answer(store, clock, spec, fu, "satisfied")
    case = case_of(store, case_id)
    assert (case.state, case.followed_up_at, case.closed_at) == (
        "closed",
        clock.now(),
        clock.now(),
    )
    with store.sessions() as s:
        assert s.scalar(select(FollowUpCase.id).where(FollowUpCase.task_id == fu)) is None
    assert history(store, case_id) == [
        (None, "open", "system"),
        ("open", "judged", BOSS),
        ("judged", "investigating", BOSS),
        ("investigating", "resolved", BOSS),
        ("resolved", "followed_up", "system"),
        ("followed_up", "closed", "system"),
    ]


def test_an_unsatisfied_follow_up_reopens_the_same_case_for_another_round(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    _, case_id = complaint(store, clock, spec)
    to_investigating(store, clock, case_id)
    first = resolve(store, clock, case_id, spec)
    clock.advance(timedelta(hours=1))
    answer(store, clock, spec, first, "unsatisfied")
    case = case_of(store, case_id)
    assert (case.state, case.follow_up_round, case.department) == (
        "investigating",
        2,
        "service desk",
    )
    with store.sessions() as s:
        assert s.scalar(select(FollowUpCase.id).where(FollowUpCase.id != case_id)) is None
    clock.advance(timedelta(hours=1))
    second = resolve(store, clock, case_id, spec)
    assert second != first
    with store.sessions() as s:
        task = s.get(CallbackTask, second)
        assert task is not None and task.dedupe_key == f"case:{case_id}:2"
    answer(store, clock, spec, second, "average")  # average closes a follow-up
    assert case_of(store, case_id).state == "closed"
    assert [to for _, to, _ in history(store, case_id)][-5:] == [
        "resolved",
        "investigating",
        "resolved",
        "followed_up",
        "closed",
    ]


def test_a_complaint_that_does_not_stand_is_answered_politely_and_closed(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    _, case_id = complaint(store, clock, spec)
    with store.transaction() as s:
        cases.reject(s, case_id, "the price was the one quoted and signed", BOSS, clock.now())
    case = case_of(store, case_id)
    assert (case.state, case.stands, case.judged_at, case.closed_at) == (
        "closed",
        False,
        clock.now(),
        clock.now(),
    )
    assert case.reply is not None and "the price was the one quoted and signed" in case.reply
    assert case.reply.startswith("Thank you")
    assert history(store, case_id)[1:] == [("open", "rejected", BOSS), ("rejected", "closed", BOSS)]
    with store.sessions() as s:
        closing = cases.steps(s, case_id)[-1]
        assert closing.note is not None and case.reply in closing.note
        assert (
            s.scalar(select(CallbackTask.id).where(CallbackTask.dedupe_key.like("case:%"))) is None
        )


@pytest.mark.parametrize(
    ("steps_before", "action", "message"),
    [
        ([], "resolve", r"^case \d+ is open; it cannot be resolved \(judge it"),
        ([], "investigate", r"^case \d+ is open; it cannot be investigated \(judge whether"),
        (["judge"], "judge", r"^case \d+ is judged; it cannot be judged$"),
        (["reject"], "resolve", r"^case \d+ is closed; it cannot be resolved$"),
        (["reject"], "assign", r"^case \d+ is closed; it cannot be assigned$"),
        (["judge", "investigate", "resolve"], "resolve", r"is resolved; it cannot be resolved"),
    ],
)
def test_illegal_transitions_are_refused_in_one_sentence(
    store: Store,
    clock: SettableClock,
    spec: CampaignSpec,
    steps_before: list[str],
    action: str,
    message: str,
) -> None:
    _, case_id = complaint(store, clock, spec)
    with store.transaction() as s:
        s.add(Agent(username="agent-wu", display_name="Wu", created_at=clock.now()))

    def do(s: Session, what: str) -> object:
        now = clock.now()
        if what == "judge":
            return cases.judge(s, case_id, True, "it stands", BOSS, now)
        if what == "reject":
            return cases.reject(s, case_id, "it does not stand", BOSS, now)
        if what == "investigate":
            return cases.investigate(s, case_id, "service desk", BOSS, now)
        if what == "assign":
            return cases.assign(s, case_id, "agent-wu", BOSS, now)
        return cases.resolve(s, case_id, "fixed", BOSS, now)

    with store.transaction() as s:
        for what in steps_before:
            do(s, what)
    before = case_of(store, case_id).state
    with pytest.raises(UsageError, match=message) as info, store.transaction() as s:
        do(s, action)
    assert "\n" not in str(info.value)
    assert case_of(store, case_id).state == before


def test_unknown_case_agent_and_empty_texts_are_clear_errors(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    _, case_id = complaint(store, clock, spec)
    with pytest.raises(NotFoundError, match="there is no case 999"), store.sessions() as s:
        cases.judge(s, 999, True, "x", BOSS, clock.now())
    with pytest.raises(NotFoundError, match="no agent named 'nobody'"), store.sessions() as s:
        cases.assign(s, case_id, "nobody", BOSS, clock.now())
    with pytest.raises(UsageError, match="give the reason"), store.sessions() as s:
        cases.judge(s, case_id, True, "  ", BOSS, clock.now())


def test_every_step_records_who_and_when(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    _, case_id = complaint(store, clock, spec)
    opened = clock.now()
    with store.transaction() as s:
        s.add(Agent(username="agent-wu", display_name="Wu", created_at=clock.now()))
    clock.advance(timedelta(hours=1))
    with store.transaction() as s:
        cases.assign(s, case_id, "agent-wu", BOSS, clock.now())
    clock.advance(timedelta(hours=1))
    with store.transaction() as s:
        cases.judge(s, case_id, True, "it stands", "agent-wu", clock.now())
    clock.advance(timedelta(hours=1))
    with store.transaction() as s:
        cases.investigate(s, case_id, "parts", "agent-wu", clock.now())
        cases.investigate(s, case_id, "workshop", "agent-wu", clock.now())
    with store.sessions() as s:
        got = [
            (st.from_state, st.to_state, st.actor, st.at, st.note, st.department)
            for st in cases.steps(s, case_id)
        ]
        owner = s.scalar(
            select(Agent.username).join(FollowUpCase, FollowUpCase.owner_agent_id == Agent.id)
        )
    h = timedelta(hours=1)
    assert got[1:] == [
        ("open", "open", BOSS, opened + h, "assigned to agent-wu", None),
        ("open", "judged", "agent-wu", opened + 2 * h, "stands: it stands", None),
        ("judged", "investigating", "agent-wu", opened + 3 * h, None, "parts"),
        ("investigating", "investigating", "agent-wu", opened + 3 * h, "handed from parts to workshop", "workshop"),
    ]  # fmt: skip
    assert all(g[3].tzinfo is not None for g in got)
    assert owner == "agent-wu"


def test_a_follow_up_not_reached_by_its_deadline_leaves_the_case_resolved_and_missed(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    _, case_id = complaint(store, clock, spec)
    to_investigating(store, clock, case_id)
    fu = resolve(store, clock, case_id, spec)
    with store.sessions() as s:
        case = s.get(FollowUpCase, case_id)
        task = s.get(CallbackTask, fu)
        assert case is not None and task is not None
        assert not cases.follow_up_missed(case, task, clock.now())
        deadline = task.deadline
        assert cases.complaint_counts(s, now=clock.now()).follow_up_missed == 0
    answer(store, clock, spec, fu, "callback_requested")  # no answer yet: the case waits
    assert case_of(store, case_id).state == "resolved"
    clock.set(deadline + timedelta(seconds=1))
    with store.sessions() as s:
        counts = cases.complaint_counts(s, now=clock.now())
        missed = s.scalars(select(FollowUpCase).where(cases.missed_clause(clock.now()))).all()
    assert counts.follow_up_missed == 1 and [c.id for c in missed] == [case_id]
    assert case_of(store, case_id).state == "resolved"


def test_complaint_counts_by_reason_and_state(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    _, a = complaint(store, clock, spec, reason="waiting time", key_prefix="A")
    _, b = complaint(store, clock, spec, reason="waiting time", key_prefix="B")
    _, c = complaint(store, clock, spec, reason="price", key_prefix="C")
    _, d = complaint(store, clock, spec, reason=None, key_prefix="D")
    with store.transaction() as s:
        cases.reject(s, b, "no", BOSS, clock.now())
        cases.judge(s, c, True, "yes", BOSS, clock.now())
    with store.sessions() as s:
        counts = cases.complaint_counts(s)
        assert cases.complaint_counts(s, campaign="no-such-campaign").total == 0
        assert cases.complaint_counts(s, campaign=spec.slug).total == 4
    assert counts.total == 4
    assert counts.by_reason == {"waiting time": 2, "price": 1, "unspecified": 1}
    assert counts.by_state == {"open": 2, "closed": 1, "judged": 1}
    assert counts.rejected == 1 and counts.by_source == {"answer": 4}
    assert counts.as_json()["by_state"] == {"open": 2, "closed": 1, "judged": 1}
    assert {a, d} == {x for x in (a, b, c, d) if case_of(store, x).state == CaseState.OPEN}


def test_follow_up_of_an_unreachable_customer_is_not_contactable(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    _, case_id = complaint(store, clock, spec)
    with store.transaction() as s:
        s.execute(text("UPDATE customer_phones SET voice_ok = false, sms_ok = false"))
    to_investigating(store, clock, case_id)
    fu = resolve(store, clock, case_id, spec)
    with store.sessions() as s:
        task = s.get(CallbackTask, fu)
        assert task is not None
        assert (task.state, task.outcome, task.next_attempt_at) == (
            "not_contactable",
            "not_contactable",
            None,
        )
        case = s.get(FollowUpCase, case_id)
        assert case is not None and cases.follow_up_missed(case, task, clock.now())


def test_migration_0005_renames_stored_states_and_starts_each_history(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    tids = seed(store, clock, spec, n=4)
    downgrade(store.engine, "0004")
    old = ["intake", "proposed", "implemented", "called_back"]
    with store.engine.begin() as conn:
        for tid, state in zip(tids, old, strict=True):
            conn.execute(
                text(
                    "INSERT INTO follow_up_cases (task_id, customer_id, state, description, "
                    "opened_at) SELECT id, customer_id, :state, 'words', :at FROM callback_tasks "
                    "WHERE id = :tid"
                ),
                {"state": state, "tid": tid, "at": clock.now().replace(tzinfo=None)},
            )
    store.upgrade()
    with store.sessions() as s:
        got = s.execute(
            select(FollowUpCase.task_id, FollowUpCase.state, FollowUpCase.follow_up_round).order_by(
                FollowUpCase.task_id
            )
        ).all()
        first_steps = s.execute(
            select(CaseStep.from_state, CaseStep.to_state, CaseStep.actor, CaseStep.note)
        ).all()
    assert [(t, st, r) for t, st, r in got] == list(
        zip(tids, ["open", "investigating", "resolved", "followed_up"], [1] * 4, strict=True)
    )
    assert first_steps == [(None, "open", "migration", "words")] * 4


def test_in_a_campaign_handled_by_agents_the_case_owner_makes_the_follow_up_call(
    store: Store, clock: SettableClock, spec: CampaignSpec
) -> None:
    agents_spec = spec.model_copy(update={"handled_by": "agents", "channels": ["agent"]})
    _, case_id = complaint(store, clock, spec)
    with store.transaction() as s:
        s.add(Agent(username="agent-wu", display_name="Wu", created_at=clock.now()))
    with store.transaction() as s:
        cases.assign(s, case_id, "agent-wu", BOSS, clock.now())
    to_investigating(store, clock, case_id)
    with store.transaction() as s:
        task = cases.resolve(s, case_id, "refunded", BOSS, clock.now(), spec=agents_spec)
        owner = s.scalar(select(Agent.id).where(Agent.username == "agent-wu"))
        assert owner is not None and task.agent_id == owner
        assert task.deadline == clock.now() + agents_spec.complaints.follow_up_deadline
