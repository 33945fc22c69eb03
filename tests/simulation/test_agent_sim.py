"""Simulated agents on a campaign handled by agents: the real assignment gives them tasks, they
call within their hours and the customers' windows at the handle time, and every outcome goes
through `record_outcome` with their agent id."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sim_population import START, source_db
from sqlalchemy import select

from dialer.agent_sim import SimulatedAgents
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.config import Settings
from dialer.models import Attempt, CallbackTask, Outcome
from dialer.sim_scratch import build_template
from dialer.simulate import SimOptions, simulate
from dialer.store import Store
from dialer.telephony.sandbox import Sandbox

SHIPPED = Path(__file__).parents[2] / "campaigns" / "after-service-satisfaction.toml"
TAIPEI = ZoneInfo("Asia/Taipei")
# The shipped campaign's own table for the person's calls (dropped where a variant makes its own).
AGENT_ATTEMPTS = '[attempts.agent]\nmax_attempts = 2\nspacing = "1h"\nring_timeout = "30s"\n'


@pytest.fixture
def agent_campaign(tmp_path: Path) -> tuple[Path, CampaignSpec]:
    """The shipped after-service campaign, handled by agents (agent calls, then SMS)."""
    folder = tmp_path / "campaigns"
    folder.mkdir()
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace('handled_by = "automated"', 'handled_by = "agents"')
    text = text.replace('channels = ["voice", "sms", "agent"]', 'channels = ["agent", "sms"]')
    text = text.replace(AGENT_ATTEMPTS, "").replace("[attempts.voice]", "[attempts.agent]")
    path = folder / "after-service-satisfaction.toml"
    path.write_text(text, encoding="utf-8")
    return folder, load_campaign(path)


def test_agents_work_their_queue_and_record_outcomes_with_their_id(
    tmp_path: Path, agent_campaign: tuple[Path, CampaignSpec]
) -> None:
    _, spec = agent_campaign
    source = source_db(tmp_path, 30)
    try:
        build_template(source, spec, tmp_path / "scratch.db", START)
    finally:
        source.close()
    store = Store.open(f"sqlite:///{tmp_path / 'scratch.db'}", upgrade=False)
    clock = SettableClock(START)
    sandbox = Sandbox(clock, seed=3)
    try:
        people = SimulatedAgents(store, clock, spec, sandbox, count=2)
        assert people.count == 2
        for _ in range(6 * 24):  # one day in ten-minute steps
            people.work(clock.now())
            clock.advance(timedelta(minutes=10))
        with store.sessions() as s:
            calls = s.scalars(select(Attempt).where(Attempt.channel == "agent")).all()
            outcomes = s.scalars(select(Outcome)).all()
            reached = s.scalars(select(CallbackTask).where(CallbackTask.reached_at.is_not(None)))
            reached_ids = {t.id for t in reached}
    finally:
        sandbox.close()
        store.close()
    assert len(calls) == people.calls > 0
    agent_ids = {a.agent_id for a in calls}
    assert len(agent_ids) == 2 and None not in agent_ids
    for a in calls:  # within the agents' default hours (09:00-18:00 Taipei), not at lunch
        assert a.placed_at is not None
        local = a.placed_at.astimezone(TAIPEI).time()
        assert local.hour >= 9 and (local.hour, local.minute) < (18, 0)
        assert not ((12, 0) <= (local.hour, local.minute) < (13, 30))
    answered = [o for o in outcomes if o.name != "not_reached"]
    assert answered and all(o.agent_id in agent_ids and o.channel == "agent" for o in outcomes)
    assert {o.task_id for o in answered} <= reached_ids


@pytest.mark.slow
def test_simulate_an_agent_campaign_finds_the_agents_needed(
    tmp_path: Path, agent_campaign: tuple[Path, CampaignSpec]
) -> None:
    folder, spec = agent_campaign
    source = source_db(tmp_path, 30)
    try:
        none = simulate(
            Settings(), source, spec, folder,
            SimOptions(runs=1, agents=0, compare_fifo=False, search_runs=3), start=START,
        )  # fmt: skip
    finally:
        source.close()
    [run] = none.runs
    assert run.agents == 0 and run.members_in_time == 0 and run.members_reachable > 0
    assert none.needed is not None and none.needed.unit == "agents"
    assert none.needed.value is not None and none.needed.value >= 1
    assert (none.needed.value, True) in none.needed.probes  # found by a simulated run
