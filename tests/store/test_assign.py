"""Assigning tasks to agents: the pure balance and the store shell, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from seeding import seed_agent, seed_campaign, seed_open_tasks
from sqlalchemy import func, select

from dialer.agents import DEFAULT_DAYS, AgentProfile
from dialer.assign import (
    AgentInfo,
    TaskInfo,
    assign_open_tasks,
    balance,
    capacity_check,
    language_matches,
    rebalance,
)
from dialer.clock import SettableClock
from dialer.models import Agent, AuditEntry, CallbackTask, Customer, TaskState
from dialer.store import Store

# --- pure core ---


def test_balance_is_proportional_to_capacity() -> None:
    tasks = [TaskInfo(id=i, kind="after_service") for i in range(90)]
    agents = [
        AgentInfo(id=1, username="a", daily_capacity=60),
        AgentInfo(id=2, username="b", daily_capacity=30),
    ]
    result = balance(tasks, agents)
    assert Counter(result.assignments.values()) == {1: 60, 2: 30}
    assert not result.unassigned


def test_balance_counts_existing_backlog_and_skill_weight() -> None:
    tasks = [TaskInfo(id=i, kind="after_service") for i in range(40)]
    agents = [
        AgentInfo(id=1, username="a", daily_capacity=40, backlog=20),
        AgentInfo(id=2, username="b", daily_capacity=40, skill=1),
    ]
    counts = Counter(balance(tasks, agents).assignments.values())
    assert counts == {1: 10, 2: 30}  # both end at 30 tasks
    skilled = [AgentInfo(id=1, username="a", daily_capacity=40, skill=3), agents[1]]
    counts = Counter(balance(tasks, skilled).assignments.values())
    assert counts[1] == 24 and counts[2] == 16  # 1.5× weight → 60:40


def test_balance_matches_language_and_skill() -> None:
    tasks = [
        TaskInfo(id=1, kind="after_service", language="ko"),
        TaskInfo(id=2, kind="after_service", language="zh-TW"),
        TaskInfo(id=3, kind="promotion", language="zh-TW"),
        TaskInfo(id=4, kind="after_service", language=None),
        TaskInfo(id=5, kind="after_service", language="ja"),
        TaskInfo(id=6, kind="holiday_greeting", language="ko"),
    ]
    agents = [
        AgentInfo(id=1, username="kim", languages=frozenset({"ko"}), daily_capacity=1000),
        AgentInfo(
            id=2,
            username="wang",
            languages=frozenset({"zh-TW"}),
            skills=frozenset({"promotion", "after_service"}),
        ),
        AgentInfo(
            id=3,
            username="lee",
            languages=frozenset({"ko-KR", "en"}),
            skills=frozenset({"after_service"}),
            active=False,
        ),
    ]
    result = balance(tasks, agents)
    assert result.assignments[1] == 1
    assert result.assignments[2] == 2 and result.assignments[3] == 2
    assert 4 in result.assignments  # no language: anyone
    assert result.assignments[6] == 1  # kim has every skill
    assert result.unassigned == {5: "no active agent speaks ja"}
    only_skill = [
        AgentInfo(id=9, username="x", languages=frozenset({"ko"}), skills=frozenset({"promotion"}))
    ]
    result = balance([tasks[0]], only_skill)
    assert result.unassigned == {1: "no active agent speaking ko has the skill after_service"}


def test_language_matching_rules() -> None:
    assert language_matches("ko", ["ko-KR"]) and language_matches("ko-KR", ["ko"])
    assert language_matches("ZH-tw", ["zh-TW"]) and not language_matches("zh-TW", ["zh-CN"])
    assert language_matches(None, []) and not language_matches("en", [])


def test_members_and_urgent_first_when_capacity_is_short() -> None:
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    tasks = [
        TaskInfo(id=1, kind="k", priority=5, deadline=t0),
        TaskInfo(id=2, kind="k", priority=0, member=False, deadline=t0 + timedelta(days=2)),
        TaskInfo(id=3, kind="k", priority=0, member=True, deadline=t0 + timedelta(days=3)),
        TaskInfo(id=4, kind="k", priority=0, member=False, deadline=t0 + timedelta(days=1)),
    ]
    agents = [AgentInfo(id=1, username="a", daily_capacity=1)]
    result = balance(tasks, agents, max_days=2)
    assert set(result.assignments) == {3, 4}
    assert set(result.unassigned) == {1, 2}
    assert result.reasons() == {"every agent with the skill k is at capacity": 2}


def test_capacity_check_reports_shortfall() -> None:
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Taipei
    deadline = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday 18:00 Taipei
    agent = (AgentInfo(id=1, username="a", daily_capacity=1000), AgentProfile())
    ok = capacity_check([deadline] * 90, [agent], handle_time=timedelta(minutes=6), now=now)
    assert ok.sufficient and ok.required_hours == 9.0 and ok.available_hours == 9.0
    short = capacity_check([deadline] * 120, [agent], handle_time=timedelta(minutes=6), now=now)
    assert not short.sufficient and abs(short.shortfall_hours - 3.0) < 1e-9
    capped = (AgentInfo(id=1, username="a", daily_capacity=30), AgentProfile(days=DEFAULT_DAYS))
    res = capacity_check([deadline] * 90, [capped], handle_time=timedelta(minutes=6), now=now)
    assert abs(res.shortfall_hours - 6.0) < 1e-9  # 30 tasks × 6 min = 3 h of 9 h required


# --- the store shell ---


def seed(
    store: Store,
    clock: SettableClock,
    *,
    n: int = 0,
    language: str | None = "zh-TW",
    handled_by: str = "agents",
    kind: str = "after_service",
    slug: str = "after-service",
) -> int:
    """A campaign with n open tasks (customers in `language`); returns the campaign id."""
    cid = seed_campaign(store, clock.now(), {"handled_by": handled_by}, slug=slug, kind=kind)
    add_tasks(store, clock, cid, n, language=language, prefix=slug)
    return cid


def add_tasks(
    store: Store,
    clock: SettableClock,
    campaign_id: int,
    n: int,
    *,
    language: str | None,
    prefix: str,
    member: bool = False,
    priority: int = 0,
) -> list[int]:
    keys = [f"{prefix}-{language}-{member}-{priority}-{i}" for i in range(n)]
    return seed_open_tasks(
        store, clock.now(), campaign_id, keys, language=language, member=member, priority=priority
    )


def agent(
    store: Store,
    clock: SettableClock,
    username: str,
    capacity: int = 60,
    languages: tuple[str, ...] = ("zh-TW",),
) -> int:
    return seed_agent(store, clock.now(), username, languages=languages, capacity=capacity)


def holdings(store: Store) -> Counter[int | None]:
    with store.sessions() as s:
        return Counter(s.scalars(select(CallbackTask.agent_id)))


def test_assign_open_tasks_balances_and_is_idempotent(store: Store, clock: SettableClock) -> None:
    seed(store, clock, n=90)
    a = agent(store, clock, "amy", 60)
    b = agent(store, clock, "bob", 30)
    result = assign_open_tasks(store, clock, actor="tester")
    assert (result.assigned, result.unassigned, result.moved) == (90, 0, 0)
    assert holdings(store) == {a: 60, b: 30}
    assert [(x.username, x.backlog) for x in result.loads] == [("amy", 60), ("bob", 30)]
    again = assign_open_tasks(store, clock, actor="tester")
    assert (again.assigned, again.moved, again.kept) == (0, 0, 90)
    assert holdings(store) == {a: 60, b: 30}
    with store.sessions() as s:
        actions = list(s.scalars(select(AuditEntry.action)))
    assert actions == ["tasks_assign"]  # the no-op run writes nothing


def test_only_tasks_needing_a_person_and_language_matching(
    store: Store, clock: SettableClock
) -> None:
    cid = seed(store, clock, n=4, language="zh-TW")
    seed(store, clock, n=5, handled_by="automated", slug="ivr")
    add_tasks(store, clock, cid, 3, language="ko", prefix="k")
    add_tasks(store, clock, cid, 2, language="ja", prefix="j")
    zh = agent(store, clock, "wang", 60, ("zh-TW",))
    ko = agent(store, clock, "kim", 60, ("ko",))
    result = assign_open_tasks(store, clock)
    assert result.considered == 9 and result.assigned == 7 and result.unassigned == 2
    assert result.reasons == {"no active agent speaks ja": 2}
    with store.sessions() as s:
        rows = s.execute(
            select(Customer.language, CallbackTask.agent_id).join(
                Customer, Customer.id == CallbackTask.customer_id
            )
        ).all()
    by_lang = Counter((lang, aid) for lang, aid in rows)
    assert by_lang[("ko", ko)] == 3 and by_lang[("zh-TW", zh)] == 4
    assert by_lang[("ja", None)] == 2
    assert sum(n for (lang, aid), n in by_lang.items() if aid is None) == 7  # 5 automated + 2 ja
    only = assign_open_tasks(store, clock, campaign_id=cid)
    assert only.assigned == 0 and only.unassigned == 2


def test_capacity_short_serves_members_first(store: Store, clock: SettableClock) -> None:
    cid = seed(store, clock, n=0)
    others = add_tasks(store, clock, cid, 6, language="zh-TW", prefix="o", priority=5)
    members = add_tasks(store, clock, cid, 4, language="zh-TW", prefix="m", member=True)
    agent(store, clock, "amy", 2)
    result = assign_open_tasks(store, clock, max_days=3)  # room for 6
    assert result.assigned == 6 and result.unassigned == 4
    with store.sessions() as s:
        held = set(s.scalars(select(CallbackTask.id).where(CallbackTask.agent_id.is_not(None))))
    assert set(members) <= held and len(held & set(others)) == 2


def test_deactivate_and_rebalance_moves_tasks_appointments_stay_unless_away(
    store: Store, clock: SettableClock
) -> None:
    seed(store, clock, n=40)
    a = agent(store, clock, "amy", 30)
    b = agent(store, clock, "bob", 30)
    assign_open_tasks(store, clock)
    assert holdings(store) == {a: 20, b: 20}
    # bob books an appointment; amy is away: everything of hers moves, appointments included.
    with store.transaction() as s:
        appt_a = s.scalars(select(CallbackTask).where(CallbackTask.agent_id == a)).first()
        appt_b = s.scalars(select(CallbackTask).where(CallbackTask.agent_id == b)).first()
        assert appt_a is not None and appt_b is not None
        appt_a.appointment_at = appt_b.appointment_at = clock.now() + timedelta(hours=2)
        appt_ids = (appt_a.id, appt_b.id)
        s.get_one(Agent, a).active = False
    c = agent(store, clock, "cat", 30)
    result = rebalance(store, clock)
    assert result.moved == 20 and result.unassigned == 0
    held = holdings(store)
    assert a not in held and held[b] + held[c] == 40
    with store.sessions() as s:
        assert s.get_one(CallbackTask, appt_ids[1]).agent_id == b  # bob's own appointment stays
        assert s.get_one(CallbackTask, appt_ids[0]).agent_id in (b, c)


def test_rebalance_sheds_least_urgent_of_agent_who_fell_behind(
    store: Store, clock: SettableClock
) -> None:
    cid = seed(store, clock, n=0)
    urgent = add_tasks(store, clock, cid, 10, language="zh-TW", prefix="u", member=True)
    calm = add_tasks(store, clock, cid, 20, language="zh-TW", prefix="c", priority=9)
    a = agent(store, clock, "amy", 10)
    assign_open_tasks(store, clock)  # amy alone: 30 tasks, cap 3 days = 30
    with store.transaction() as s:
        appt = s.get_one(CallbackTask, calm[-1])
        appt.appointment_at = clock.now() + timedelta(hours=1)
    b = agent(store, clock, "bob", 10)
    result = rebalance(store, clock, behind_days=2)  # amy may keep 20
    assert result.moved == 10
    with store.sessions() as s:
        owner = {tid: aid for tid, aid in s.execute(select(CallbackTask.id, CallbackTask.agent_id))}
    assert all(owner[t] == a for t in urgent)
    assert owner[calm[-1]] == a  # her own appointment stays
    assert Counter(owner.values()) == {a: 20, b: 10}
    again = rebalance(store, clock, behind_days=2)
    assert again.moved == 0 and again.assigned == 0


def test_closed_tasks_are_not_touched(store: Store, clock: SettableClock) -> None:
    seed(store, clock, n=3)
    with store.transaction() as s:
        for t in s.scalars(select(CallbackTask)):
            t.state = TaskState.REACHED
    agent(store, clock, "amy")
    assert assign_open_tasks(store, clock).considered == 0
    with store.sessions() as s:
        assert s.scalar(select(func.count()).where(CallbackTask.agent_id.is_not(None))) == 0
