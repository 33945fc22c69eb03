"""The simulation's scratch copy, from an operator database on either engine: what is copied,
what starts afresh, and that the operator's rows are left as they were."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sim_population import START, write_customers
from sqlalchemy import func, select, update

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.ingest import Importer
from dialer.models import CallbackTask, Customer, TaskState
from dialer.planner import plan_campaign
from dialer.sim_scratch import build_template, horizon
from dialer.store import Store

SHIPPED = Path(__file__).parents[2] / "campaigns"


def test_the_template_copies_the_campaign_and_starts_open_tasks_afresh(
    store: Store, tmp_path: Path
) -> None:
    spec = load_campaign(SHIPPED / "after-service-satisfaction.toml")
    clock = SettableClock(START - timedelta(days=1))
    Importer(store, clock, default_region="TW", actor="test").run(
        write_customers(tmp_path / "customers.csv", 10)
    )
    plan_campaign(store, clock, spec)
    with store.transaction() as s:
        first, second = s.scalars(select(CallbackTask.id).order_by(CallbackTask.id).limit(2))
        s.execute(  # one reached already, one with tries under way
            update(CallbackTask)
            .where(CallbackTask.id == first)
            .values(state=TaskState.REACHED, reached_at=clock.now(), outcome="satisfied")
        )
        s.execute(
            update(CallbackTask)
            .where(CallbackTask.id == second)
            .values(state=TaskState.IN_PROGRESS, attempts_made=2, next_attempt_at=None)
        )
    with store.sessions() as s:
        before = [tuple(r) for r in s.execute(select(CallbackTask.id, CallbackTask.state))]

    template = build_template(store, spec, tmp_path / "scratch.db", START)

    scratch = Store.open(f"sqlite:///{template.path}", upgrade=False)
    try:
        with scratch.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Customer)) == 10
            reached = s.get(CallbackTask, first)
            restarted = s.get(CallbackTask, second)
            tasks = s.scalar(select(func.count()).select_from(CallbackTask))
    finally:
        scratch.close()
    assert tasks == 10  # planned already: the scratch plan made no new ones
    assert reached is not None and reached.state == TaskState.REACHED
    assert restarted is not None and restarted.state == TaskState.PENDING
    assert restarted.attempts_made == 0 and restarted.next_attempt_at == START
    assert template.open_tasks == 9 and template.copied_customers == 10
    assert template.last_deadline is not None and template.last_deadline > START
    assert horizon(template, None) == template.last_deadline + timedelta(minutes=1)
    assert horizon(template, 1.5) == START + timedelta(days=1.5)
    with store.sessions() as s:
        after = [tuple(r) for r in s.execute(select(CallbackTask.id, CallbackTask.state))]
    assert after == before


def test_a_persons_call_counts_as_that_numbers_next_contact_as_the_sandbox_counts() -> None:
    """The after-service campaign's last resort is a person: a number the IVR rang three times
    unanswered may pick up the person's call (the sandbox's fourth draw for it), so the
    customer is reachable; without the person's channel the same customer is not."""
    from dialer.attempts import Phone
    from dialer.sim_scratch import answerable
    from dialer.telephony.sandbox.behaviour import Behaviour, draw_call_person

    spec = load_campaign(SHIPPED / "after-service-satisfaction.toml")
    assert spec.channels == ["voice", "sms", "agent"]
    behaviour, seed = Behaviour(), 3
    number = next(  # three unanswered draws, then a person
        n
        for n in (f"+88622{k:07d}" for k in range(100_000))
        if [draw_call_person(behaviour, seed, n, i).kind == "human" for i in range(4)]
        == [False, False, False, True]
    )
    landline = [Phone(number, "fixed_line", "TW", True, False, None)]  # takes no SMS
    assert answerable(spec, landline, behaviour, seed)
    automated_only = spec.model_copy(update={"channels": ["voice", "sms"]})
    assert not answerable(automated_only, landline, behaviour, seed)
    assert not answerable(spec, landline, behaviour, seed, people=False)  # nobody to call
