"""The planner on the real store (SQLite and PostgreSQL): idempotence, deadlines, priority, skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.ingest import Importer
from dialer.models import (
    CallbackTask,
    Campaign,
    Customer,
    CustomerPhone,
    DoNotContact,
    ServiceEvent,
    TaskState,
)
from dialer.planner import plan_campaign
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
HEADER = "customer id,name,phone,member,consent,service date,service time,service\n"


@pytest.fixture
def after_service() -> CampaignSpec:
    return load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")


def load(
    tmp_path: Path, store: Store, clock: SettableClock, rows: str, name: str = "f.csv"
) -> None:
    path = tmp_path / name
    path.write_text(HEADER + rows, encoding="utf-8")
    Importer(store, clock, default_region="TW", actor="tester").run(path)


def tasks(store: Store) -> dict[str, CallbackTask]:
    """Tasks by customer key (tests plan one task per customer unless they say otherwise)."""
    with store.sessions() as s:
        rows = s.execute(
            select(Customer.customer_key, CallbackTask).join(
                Customer, Customer.id == CallbackTask.customer_id
            )
        ).all()
        return {key: task for key, task in rows}


def count_tasks(store: Store) -> int:
    with store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(CallbackTask)) or 0)


def set_customer(store: Store, key: str, **values: object) -> int:
    with store.transaction() as s:
        cid = s.scalar(select(Customer.id).where(Customer.customer_key == key))
        assert cid is not None
        if values:
            s.execute(update(Customer).where(Customer.id == cid).values(**values))
        return int(cid)


def test_deadline_idempotence_and_next_days_file(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    load(
        tmp_path,
        store,
        clock,
        "A1,王小明,0912345678,是,,2026/11/20,10:30,保養\nA2,陳美玲,0928222333,否,,2026/11/21,09:00,洗車\n",
    )
    first = plan_campaign(store, clock, after_service)
    assert (first.created, first.existing, first.members) == (2, 0, 1)
    t = tasks(store)
    # service 2026-11-20 + 3 days, 23:59:59 Asia/Taipei = 15:59:59 UTC
    assert t["A1"].deadline == datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC)
    assert t["A2"].deadline == datetime(2026, 11, 24, 15, 59, 59, tzinfo=UTC)
    assert t["A1"].state == TaskState.PENDING and t["A1"].member
    assert t["A1"].next_attempt_at == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 Taipei
    with store.sessions() as s:
        camp = s.scalars(select(Campaign)).one()
        assert camp.slug == "after-service-satisfaction" and camp.definition_sha256
        assert camp.definition["kind"] == "after_service"

    again = plan_campaign(store, clock, after_service)
    assert (again.created, again.existing) == (0, 2)
    assert count_tasks(store) == 2

    clock.advance(timedelta(days=1))
    load(
        tmp_path,
        store,
        clock,
        "A1,王小明,0912345678,是,,2026/11/21,15:00,輪胎\n"  # within A1's dedupe window: covered
        "A3,林志豪,0933444555,否,,2026/11/23,11:00,保養\n",
        "day2.csv",
    )
    day2 = plan_campaign(store, clock, after_service)
    assert day2.created == 1 and day2.skipped["already_covered"] == 3
    assert set(tasks(store)) == {"A1", "A2", "A3"}
    assert tasks(store)["A3"].dedupe_key == "svc:2026-11-23"


def test_several_events_make_one_task_with_the_earliest_deadline(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    load(
        tmp_path,
        store,
        clock,
        "B1,Amy,0912345678,yes,,2026/11/22,10:00,tyres\nB1,Amy,0912345678,yes,,2026/11/20,09:00,oil\n",
    )
    result = plan_campaign(store, clock, after_service)
    assert result.created == 1
    task = tasks(store)["B1"]
    with store.sessions() as s:
        first = s.scalars(select(ServiceEvent).order_by(ServiceEvent.service_date)).first()
    assert first is not None and task.service_event_id == first.id
    assert task.deadline == datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC)
    assert task.dedupe_key == "svc:2026-11-20"


def test_deadline_is_the_earliest_of_the_customers_zones(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    load(tmp_path, store, clock, "Z1,Zed,0912345678,yes,,2026/11/21,10:00,oil\n")
    set_customer(store, "Z1", time_zones=["Asia/Taipei", "Asia/Tokyo"])
    plan_campaign(store, clock, after_service)
    # 2026-11-24 23:59:59 in Tokyo (UTC+9) comes an hour before Taipei's
    assert tasks(store)["Z1"].deadline == datetime(2026, 11, 24, 14, 59, 59, tzinfo=UTC)


def test_priority_members_first_then_least_slack(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    load(
        tmp_path,
        store,
        clock,
        "M1,Member Late,0912345001,yes,,2026/11/22,10:00,oil\n"
        "M2,Member Soon,0912345002,yes,,2026/11/21,10:00,oil\n"
        "N1,Non Member Soonest,0912345003,no,,2026/11/20,10:00,oil\n",
    )
    plan_campaign(store, clock, after_service)
    t = tasks(store)
    assert t["M2"].slack_seconds is not None and t["M1"].slack_seconds is not None
    assert t["N1"].slack_seconds is not None
    assert t["N1"].slack_seconds < t["M2"].slack_seconds < t["M1"].slack_seconds
    order = sorted(t, key=lambda k: t[k].priority)
    assert order == ["M2", "M1", "N1"]


def test_marketing_needs_consent_and_keeps_unconsented_members(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    spec = load_campaign(CAMPAIGNS / "lunar-new-year-2027.toml")
    load(
        tmp_path,
        store,
        clock,
        "G1,Consented Member,0912345001,yes,yes,2026/11/20,10:00,oil\n"
        "G2,Unconsented Member,0912345002,yes,no,2026/11/20,10:00,oil\n"
        "G3,Consented Non Member,0912345003,no,yes,2026/11/20,10:00,oil\n",
    )
    clock.set(datetime(2027, 1, 25, 2, 0, tzinfo=UTC))
    result = plan_campaign(store, clock, spec)
    t = tasks(store)
    assert set(t) == {"G1", "G2"}
    assert t["G1"].state == TaskState.PENDING and t["G1"].dedupe_key == "once:2027-02-01"
    assert t["G1"].next_attempt_at == datetime(2027, 2, 1, 2, 0, tzinfo=UTC)  # 10:00 Taipei
    assert t["G1"].deadline == datetime(2027, 2, 5, 10, 0, tzinfo=UTC)  # 18:00 Taipei
    assert (t["G2"].state, t["G2"].outcome) == ("not_contactable", "not_contactable")
    assert [(n.customer_key, n.not_contactable) for n in result.not_contactable] == [
        ("G2", "no marketing consent")
    ]
    assert result.skipped == {"not_in_audience": 1}
    assert plan_campaign(store, clock, spec).created == 0


def test_not_contactable_members_kept_and_do_not_contact(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    load(
        tmp_path,
        store,
        clock,
        "C1,No Number Member,0912345001,yes,,2026/11/21,10:00,oil\n"
        "C2,No Number Other,0912345002,no,,2026/11/21,10:00,oil\n"
        "C3,Opted Out Member,0912345003,yes,,2026/11/21,10:00,oil\n"
        "C4,Opted Out Number,0912345004,no,,2026/11/21,10:00,oil\n"
        "C5,Marketing Opt Out Only,0912345005,no,,2026/11/21,10:00,oil\n",
    )
    c1, c2 = set_customer(store, "C1"), set_customer(store, "C2")
    c3, c5 = set_customer(store, "C3"), set_customer(store, "C5")
    with store.transaction() as s:
        s.execute(
            update(CustomerPhone)
            .where(CustomerPhone.customer_id.in_([c1, c2]))
            .values(unusable_reason="disconnected (Twilio 21614)")
        )
        now = clock.now()
        s.add_all(
            [
                DoNotContact(customer_id=c3, created_at=now),
                DoNotContact(e164="+886912345004", created_at=now),
                DoNotContact(customer_id=c5, scope="marketing", created_at=now),
            ]
        )
    result = plan_campaign(store, clock, after_service)
    t = tasks(store)
    assert set(t) == {"C1", "C3", "C5"}
    for key in ("C1", "C3"):
        assert (t[key].state, t[key].outcome) == ("not_contactable", "not_contactable")
        assert t[key].next_attempt_at is None
    assert t["C5"].state == TaskState.PENDING  # marketing opt-out does not stop service callbacks
    assert result.skipped == {"no_valid_number": 1, "opted_out": 1}
    assert {n.customer_key: n.not_contactable for n in result.not_contactable} == {
        "C1": "no number usable for voice or sms or agent",
        "C3": "on the do-not-contact list",
    }


def test_infeasible_on_the_eve_of_lunar_new_year(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    # Served Wed 2027-02-03 at 19:00; +2h delay is 21:00 (rest); Feb 4-10 are TW public holidays
    # (Sun 7th too), so nothing is open before the deadline Sat 2027-02-06 23:59:59 Taipei.
    load(tmp_path, store, clock, "H1,Holiday Member,0912345001,yes,,2027/02/03,19:00,oil\n")
    clock.set(datetime(2027, 2, 3, 12, 0, tzinfo=UTC))
    result = plan_campaign(store, clock, after_service)
    assert result.infeasible_count == 1
    item = result.infeasible[0]
    assert item.infeasible is not None and item.task_id is not None
    assert (
        "no open calling window before the deadline 2027-02-06 23:59:59" in item.infeasible.reason
    )
    assert "public holiday" in item.infeasible.reason
    assert item.infeasible.earliest_possible == datetime(2027, 2, 11, 1, 0, tzinfo=UTC)
    assert "flagged" in item.infeasible.action  # sms window is closed too
    task = tasks(store)["H1"]
    assert (task.state, task.slack_seconds, task.next_attempt_at) == ("pending", 0, None)
    js = result.as_json()["infeasible"][0]
    assert js["customer_id"] == "H1" and js["earliest_possible"] == "2027-02-11T01:00:00+00:00"

    extend = after_service.model_copy(
        update={"planning": after_service.planning.model_copy(update={"on_infeasible": "extend"})}
    )
    load(tmp_path, store, clock, "H2,Other,0912345002,no,,2027/02/03,19:00,oil\n", "h2.csv")
    result = plan_campaign(store, clock, extend)
    assert result.created == 1 and result.infeasible[0].customer_key == "H2"
    assert tasks(store)["H2"].next_attempt_at == datetime(2027, 2, 11, 1, 0, tzinfo=UTC)


def test_dry_run_writes_nothing_and_explains_skips(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    load(
        tmp_path,
        store,
        clock,
        "D1,Planned,0912345001,yes,,2026/11/21,10:00,oil\n"
        "D2,No Number,0912345002,no,,2026/11/21,10:00,oil\n",
    )
    d2 = set_customer(store, "D2")
    with store.transaction() as s:
        s.execute(
            update(CustomerPhone).where(CustomerPhone.customer_id == d2).values(voice_ok=False)
        )
        s.execute(update(CustomerPhone).where(CustomerPhone.customer_id == d2).values(sms_ok=False))
    result = plan_campaign(store, clock, after_service, dry_run=True)
    assert result.dry_run and result.created == 1 and result.campaign_id is None
    assert [(p.customer_key, p.next_attempt_at) for p in result.planned] == [
        ("D1", datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    ]
    assert [(s.customer_key, s.reason) for s in result.skips] == [("D2", "no_valid_number")]
    assert count_tasks(store) == 0
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
    # a dry run after the real plan reports the customer as already covered
    plan_campaign(store, clock, after_service)
    again = plan_campaign(store, clock, after_service, dry_run=True)
    assert again.created == 0 and again.skipped["already_covered"] == 1


def test_maintenance_reminder_cron_occurrence(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    spec = load_campaign(CAMPAIGNS / "maintenance-reminder.toml")
    load(
        tmp_path,
        store,
        clock,
        "R1,Due,0912345001,no,,2026/03/01,10:00,oil\nR2,Recent,0912345002,no,,2026/11/01,10:00,oil\n",
    )
    result = plan_campaign(store, clock, spec)  # Monday 2026-11-23 10:00 Taipei, after 09:00
    assert result.created == 1 and result.skipped == {"not_in_audience": 1}
    task = tasks(store)["R1"]
    assert task.dedupe_key == "cron:2026-11-23"
    assert task.deadline == datetime(2026, 11, 28, 1, 0, tzinfo=UTC)  # 5 days after 09:00 Taipei
    clock.advance(timedelta(days=7))  # next Monday: reminded within 28 days, not again
    assert plan_campaign(store, clock, spec).created == 0


def test_agents_capacity_verdict(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    from dialer.models import Agent

    spec = after_service.model_copy(update={"handled_by": "agents", "channels": ["agent", "sms"]})
    rows = "".join(f"K{i},Name {i},09123450{i:02d},yes,,2026/11/22,10:00,oil\n" for i in range(40))
    load(tmp_path, store, clock, rows)
    with store.transaction() as s:
        s.add(Agent(username="a1", display_name="A", daily_capacity=5, created_at=clock.now()))
    result = plan_campaign(store, clock, spec)
    assert result.created == 40 and result.capacity is not None
    cap = result.capacity
    assert cap.required_agent_hours > cap.available_agent_hours
    assert cap.verdict.startswith("short by") and cap.shortfall_agent_hours > 0


def test_infeasible_decision_is_stored_on_the_task(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    # F1: the eve of Lunar New Year, nothing open before the deadline -> flagged (no SMS window).
    # F2: planned Mon 2026-11-23 20:28 Taipei, deadline that night: the voice window (3 min handle
    # time) is closed, the SMS window open until 20:30 -> "sms". F3: an ordinary feasible task.
    load(tmp_path, store, clock, "F1,Eve,0912345001,yes,,2027/02/03,19:00,oil\n")
    clock.set(datetime(2027, 2, 3, 12, 0, tzinfo=UTC))
    plan_campaign(store, clock, after_service)
    clock.set(datetime(2026, 11, 23, 12, 28, tzinfo=UTC))
    load(
        tmp_path,
        store,
        clock,
        "F2,Late,0912345002,yes,,2026/11/20,09:00,oil\nF3,Fine,0912345003,no,,2026/11/23,09:00,oil\n",
        "f2.csv",
    )
    plan_campaign(store, clock, after_service)
    t = tasks(store)
    assert t["F1"].plan_action == "flag"
    assert t["F1"].plan_reason and "public holiday" in t["F1"].plan_reason
    assert t["F1"].earliest_possible_at == datetime(2027, 2, 11, 1, 0, tzinfo=UTC)
    assert t["F2"].plan_action == "sms"
    assert t["F2"].next_attempt_at == datetime(2026, 11, 23, 12, 28, tzinfo=UTC)
    assert t["F2"].plan_reason and "2026-11-23 23:59:59" in t["F2"].plan_reason
    assert (t["F3"].plan_action, t["F3"].plan_reason, t["F3"].earliest_possible_at) == (
        None,
        None,
        None,
    )
    before = {k: (v.plan_action, v.plan_reason, v.earliest_possible_at) for k, v in t.items()}
    clock.advance(timedelta(minutes=1))
    again = plan_campaign(store, clock, after_service)  # idempotent: nothing rewritten or lost
    assert again.created == 0
    after = {
        k: (v.plan_action, v.plan_reason, v.earliest_possible_at) for k, v in tasks(store).items()
    }
    assert after == before


def test_extend_decision_is_stored_on_the_task(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    extend = after_service.model_copy(
        update={"planning": after_service.planning.model_copy(update={"on_infeasible": "extend"})}
    )
    load(tmp_path, store, clock, "E1,Eve,0912345001,no,,2027/02/03,19:00,oil\n")
    clock.set(datetime(2027, 2, 3, 12, 0, tzinfo=UTC))
    result = plan_campaign(store, clock, extend)
    assert result.as_json()["infeasible"][0]["plan_action"] == "extend"
    task = tasks(store)["E1"]
    assert task.plan_action == "extend"
    assert (
        task.earliest_possible_at == task.next_attempt_at == datetime(2027, 2, 11, 1, 0, tzinfo=UTC)
    )


def test_customers_without_recent_events_between_planned_ones_are_left_alone(
    store: Store, clock: SettableClock, tmp_path: Path, after_service: CampaignSpec
) -> None:
    # Ids 1..3, the middle one served long ago: the batch's ids have a gap (read as one range on
    # SQLite, the gap's rows dropped) and nothing of S2 may leak into S1's or S3's tasks.
    load(
        tmp_path,
        store,
        clock,
        "S1,One,0912345001,yes,,2026/11/21,10:00,oil\n"
        "S2,Old,0912345002,yes,,2026/10/01,10:00,oil\n"
        "S3,Three,0912345003,no,,2026/11/22,10:00,oil\n",
    )
    result = plan_campaign(store, clock, after_service, batch_customers=2)
    assert result.created == 2 and not result.skipped
    t = tasks(store)
    assert set(t) == {"S1", "S3"}
    assert (t["S1"].dedupe_key, t["S3"].dedupe_key) == ("svc:2026-11-21", "svc:2026-11-22")
    assert {t["S1"].customer_id, t["S3"].customer_id} == {
        set_customer(store, "S1"),
        set_customer(store, "S3"),
    }
