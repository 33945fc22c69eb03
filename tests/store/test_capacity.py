"""The capacity model: agents' hours x customers' windows x languages, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from dialer.agents import AgentProfile
from dialer.balance import AgentInfo
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.capacity import PlanLoad, expected_attempts, plan_capacity
from dialer.clock import SettableClock
from dialer.ingest import Importer
from dialer.models import Agent, Customer
from dialer.planner import plan_campaign
from dialer.store import Store
from dialer.windows import Reachee

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
HEADER = "customer id,name,phone,member,consent,service date,service time,service\n"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Asia/Taipei


@pytest.fixture
def by_agents() -> CampaignSpec:
    spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    return spec.model_copy(update={"handled_by": "agents", "channels": ["agent", "sms"]})


def per_task_hours(spec: CampaignSpec) -> float:
    calls = expected_attempts(spec.attempt_policy("agent").max_attempts)
    return calls * spec.handle_time / timedelta(hours=1)


def staff(*agents: tuple[str, int, str]) -> list[tuple[AgentInfo, AgentProfile]]:
    """(language, daily capacity, zone) per agent, working 09:00-18:00 Monday to Friday."""
    return [
        (
            AgentInfo(id=i, username=f"a{i}", languages=frozenset({lang}), daily_capacity=cap),
            AgentProfile(time_zone=zone),
        )
        for i, (lang, cap, zone) in enumerate(agents)
    ]


def test_customers_windows_limit_agent_hours(by_agents: CampaignSpec) -> None:
    # New York evenings overlap Taipei working mornings by half an hour a day at most, so the same
    # 100 tasks that Taipei customers' windows let four agents handle are short for New York ones.
    deadline = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    agents = staff(*[("en", 500, "Asia/Taipei")] * 4)
    taipei, new_york = PlanLoad(), PlanLoad()
    for _ in range(100):
        taipei.add("en", Reachee(("Asia/Taipei",)), deadline, True)
        new_york.add("en", Reachee(("America/New_York",)), deadline, True)
    near = plan_capacity(by_agents, taipei, agents, NOW)
    far = plan_capacity(by_agents, new_york, agents, NOW)
    required = 100 * per_task_hours(by_agents)
    assert near.verdict == "sufficient" and near.shortfall_agent_hours == 0
    assert abs(near.required_agent_hours - required) < 1e-6
    assert far.verdict.startswith("short by")
    assert 0 < far.available_agent_hours <= 4 * 3 * 0.5  # 4 agents, <= 30 min on 3 mornings
    assert abs(far.shortfall_agent_hours - (required - far.available_agent_hours)) < 1e-6
    assert far.members_shortfall_agent_hours == pytest.approx(far.shortfall_agent_hours)
    assert far.binding_deadline == deadline


def test_members_can_be_covered_when_others_cannot(by_agents: CampaignSpec) -> None:
    deadline = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday 18:00 Taipei: 8 agent-hours
    load = PlanLoad()
    who = Reachee(("Asia/Taipei",))
    members = int(4 / per_task_hours(by_agents))
    for i in range(3 * members):
        load.add(None, who, deadline, i < members)
    verdict = plan_capacity(by_agents, load, staff(("zh-TW", 1000, "Asia/Taipei")), NOW)
    assert verdict.members_shortfall_agent_hours == 0
    assert verdict.shortfall_agent_hours > 0 and "members 0.0" in verdict.verdict
    assert verdict.shortfall_by_language == {"any": pytest.approx(verdict.shortfall_agent_hours)}


def test_automated_campaign_counts_dispatch_hours() -> None:
    spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    load = PlanLoad()
    deadline = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    for _ in range(10):
        load.add(None, Reachee(("Asia/Taipei",)), deadline, True)
    verdict = plan_capacity(spec, load, staff(("zh-TW", 60, "Asia/Taipei")), NOW)
    assert verdict.verdict == "sufficient" and verdict.dispatch is not None
    assert verdict.dispatch["cps"] == 1.0 and verdict.dispatch["available_hours"] > 5


def test_automated_campaign_counts_agents_for_the_share_that_falls_through() -> None:
    """The shipped campaign: 3 calls (65% answered), 1 SMS (40% replied), then a person.

    Falls through: 0.35^3 x 0.6 = 0.025725 of the tasks; each takes 1 + 0.35 = 1.35 agent calls
    (2 tries) of 3 min: 10 tasks need 10 x 0.025725 x 1.35 x 0.05 h = 0.017364375 agent-hours.
    1000 tasks need 1.7364375, more than one agent can give before 18:00 Taipei on Monday: the
    window (10:00-11:56:30, 13:30-18:00: 6.44 h) is capped by 20 calls x 3 min = 1.0 h a day.
    """
    spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    deadline = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday 18:00 Taipei
    few, many = PlanLoad(), PlanLoad()
    for _ in range(10):
        few.add(None, Reachee(("Asia/Taipei",)), deadline, True)
    for _ in range(1000):
        many.add(None, Reachee(("Asia/Taipei",)), deadline, True)
    nobody = plan_capacity(spec, few, [], NOW)
    assert nobody.required_agent_hours == pytest.approx(0.017364375)
    assert nobody.available_agent_hours == 0
    assert nobody.verdict == "agent fallback short by 0.02 agent-hours (members 0.02)"
    assert nobody.as_json()["sufficient"] is False
    fb = nobody.as_json()["agent_fallback"]
    assert fb["share"] == 0.025725 and fb["tasks"] == 0.26 and fb["agents"] == 0
    assert "2.57% of tasks expected to fall through" in nobody.basis
    assert "agent hours not needed" not in nobody.basis

    one = staff(("zh-TW", 20, "Asia/Taipei"))
    helped = plan_capacity(spec, few, one, NOW)
    assert helped.verdict == "sufficient" and helped.as_json()["agent_fallback"]["sufficient"]
    assert helped.available_agent_hours == pytest.approx(1.0)
    assert helped.shortfall_agent_hours == 0

    busy = plan_capacity(spec, many, one, NOW)
    assert busy.required_agent_hours == pytest.approx(1.7364375)
    assert busy.shortfall_agent_hours == pytest.approx(0.7364375)
    assert busy.verdict == "agent fallback short by 0.74 agent-hours (members 0.74)"
    assert busy.dispatch is not None and busy.dispatch["shortfall_hours"] == 0
    # A campaign without an agent channel has no fallback to count.
    sms_only = spec.model_copy(update={"channels": ["voice", "sms"]})
    plain = plan_capacity(sms_only, few, [], NOW)
    assert plain.fallback is None and plain.verdict == "sufficient"
    assert plain.required_agent_hours == 0 and "agent hours not needed" in plain.basis


def test_plan_says_which_language_is_short(
    store: Store, clock: SettableClock, tmp_path: Path, by_agents: CampaignSpec
) -> None:
    rows = "".join(f"K{i},Name {i},09123450{i:02d},yes,,2026/11/22,10:00,oil\n" for i in range(20))
    path = tmp_path / "f.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    Importer(store, clock, default_region="TW", actor="t").run(path)
    with store.transaction() as s:
        s.execute(
            update(Customer)
            .where(Customer.customer_key.in_([f"K{i}" for i in range(10)]))
            .values(language="ko")
        )
        s.execute(
            update(Customer)
            .where(Customer.customer_key.in_([f"K{i}" for i in range(10, 20)]))
            .values(language="zh-TW")
        )
        s.add(
            Agent(
                username="mei",
                display_name="Mei",
                languages=["zh-TW"],
                daily_capacity=100,
                created_at=clock.now(),
            )
        )
        s.add(  # inactive: does not count
            Agent(
                username="kim",
                display_name="Kim",
                languages=["ko"],
                daily_capacity=100,
                active=False,
                created_at=clock.now(),
            )
        )
    result = plan_campaign(store, clock, by_agents)
    assert result.created == 20 and result.capacity is not None
    cap = result.as_json()["capacity"]
    assert cap["sufficient"] is False
    assert set(cap["shortfall_by_language"]) == {"ko"}
    assert cap["shortfall_by_language"]["ko"] == pytest.approx(10 * per_task_hours(by_agents), 0.01)
    assert cap["members_shortfall_agent_hours"] == cap["shortfall_agent_hours"]
    # a re-plan creates nothing but still judges the open tasks
    again = plan_campaign(store, clock, by_agents)
    assert again.created == 0 and again.capacity is not None
    assert again.capacity.shortfall_by_language == result.capacity.shortfall_by_language
