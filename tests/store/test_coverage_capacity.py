"""At risk by capacity: hand-computed cases of `dialer.capacity_risk` through the slack refresh
and `dialer coverage`, on both engines.

The clock is Monday 2026-11-23 10:00 Asia/Taipei (02:00 UTC); customers are in Taipei, where the
shipped campaign's window is open 09:00-12:00 and 13:30-20:30, so every deadline below has hours
of open window left and the window rule alone finds nothing at risk.

Agent-handled (channels agent then SMS, 3 agent tries, handle time 3 min): one agent in Taipei working 09:00-18:00
Monday-Friday with daily_capacity 4, i.e. 4 x 3 min = 0.2 agent-hours left today, far less than
the 8 working hours left, so the daily cap binds. Each task has 2 of its 3 agent tries made:
1 expected call (expected_attempts(1) = 1), 0.05 agent-hours. Deadlines 15:00 and 20:00 Taipei
today, so only today's 4 calls count.

Automated (the shipped voice campaign, 3 voice tries), the dispatcher always on:
- deadline 20:00 Taipei, 1/7200 call/s: the window left is 10:00-11:56:30 (a call must end by
  12:00: 210 s) and 13:30-20:00, 30,390 s, so 4.22 calls. A task with no try made expects
  1 + 0.35 + 0.35^2 = 1.4725 calls: two need 2.945 (fit), three 4.4175 (> 4.22). Window slack
  30,390 s >= the 18,210 s three tries need: the window rule finds nothing.
- deadline 11:00 Taipei, 1/900 call/s = one call per 15-minute slot: [10:00, 11:00) holds 4.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from seeding import seed
from sqlalchemy import select, update

from dialer.attempts import CampaignBook
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.capacity import expected_attempts
from dialer.clock import SettableClock
from dialer.coverage import at_risk, coverage, refresh_slack
from dialer.models import Agent, CallbackTask
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SLUG = "after-service-satisfaction"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Asia/Taipei
H = timedelta(hours=1)
AT_15 = NOW + 5 * H  # 15:00 Taipei
AT_20 = NOW + 10 * H  # 20:00 Taipei


@pytest.fixture
def shipped() -> CampaignSpec:
    return load_campaign(CAMPAIGNS / f"{SLUG}.toml")


@pytest.fixture
def by_agents(shipped: CampaignSpec) -> CampaignSpec:
    """The shipped campaign handled by agents: the voice tries become the agent's."""
    d = shipped.as_definition()
    d |= {"channels": ["agent", "sms"], "handled_by": "agents"}
    d["attempts"]["agent"] = d["attempts"].pop("voice")
    return CampaignSpec.from_definition(d, slug=SLUG)


def _agent(store: Store, capacity: int = 4) -> None:
    with store.transaction() as s:
        s.add(
            Agent(
                username="mei",
                display_name="Mei",
                languages=["zh-TW"],
                daily_capacity=capacity,
                work_start="09:00",
                work_end="18:00",
                work_days=[0, 1, 2, 3, 4],
                time_zone="Asia/Taipei",
                created_at=NOW,
            )
        )


def _tasks(
    store: Store, clock: SettableClock, spec: CampaignSpec, rows: list[dict[str, Any]]
) -> list[int]:
    ids = seed(store, clock, spec, n=len(rows))
    with store.transaction() as s:
        for tid, values in zip(ids, rows, strict=True):
            s.execute(update(CallbackTask).where(CallbackTask.id == tid).values(**values))
    return ids


def _refresh(store: Store, cps: float = 1.0) -> int:
    with store.transaction() as s:
        return refresh_slack(s, CampaignBook(), NOW, cps=cps)


def _short(store: Store) -> set[int]:
    with store.sessions() as s:
        return set(s.scalars(select(CallbackTask.id).where(CallbackTask.capacity_short.is_(True))))


def _agent_rows(extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base: list[dict[str, Any]] = [
        {"member": True, "deadline": AT_15},
        {"member": False, "deadline": AT_15},
        {"member": True, "deadline": AT_20},
        {"member": False, "deadline": AT_20},
    ]
    return [{"attempts_made": 2} | r for r in [*base, *extra]]


def test_agents_fit_exactly(store: Store, clock: SettableClock, by_agents: CampaignSpec) -> None:
    """Four calls needed, four calls left today: nobody is short."""
    _agent(store)
    _tasks(store, clock, by_agents, _agent_rows([]))
    _refresh(store)
    assert _short(store) == set()
    with store.sessions() as s:
        (c,) = coverage(s, CampaignBook(), NOW, campaign=SLUG).campaigns
    assert dict(c.members) == {"pending": 2} and dict(c.non_members) == {"pending": 2}
    assert not c.failing


def test_agents_one_too_many(store: Store, clock: SettableClock, by_agents: CampaignSpec) -> None:
    """A fifth task (a member due 20:00): members first (3 calls), then the non-members by
    deadline: the 15:00 one takes the last call, the 20:00 non-member is short."""
    _agent(store)
    ids = _tasks(store, clock, by_agents, _agent_rows([{"member": True, "deadline": AT_20}]))
    changed = _refresh(store)
    assert _short(store) == {ids[3]}
    assert changed >= 1
    with store.sessions() as s:
        (c,) = coverage(s, CampaignBook(), NOW, campaign=SLUG).campaigns
        found = at_risk(s, CampaignBook(), NOW, campaign=SLUG)
    assert dict(c.members) == {"pending": 3}
    assert dict(c.non_members) == {"pending": 1, "at_risk": 1}
    assert dict(c.at_risk_capacity) == {"non_members": 1}
    assert not c.failing  # no member at risk
    assert c.as_json()["at_risk_by_capacity"] == {"members": 0, "non_members": 1}
    (entry,) = found
    assert entry.task_id == ids[3] and entry.causes == ("capacity",)
    assert entry.reason.startswith("capacity: the campaign's active agents with the skill")


def test_members_are_served_first(
    store: Store, clock: SettableClock, by_agents: CampaignSpec
) -> None:
    """Two calls left: two members due 20:00 take them before a non-member due 15:00 (the
    dispatcher's order, docs/definitions.md's priority), so the non-member is short; then a third
    member makes the latest member short too (by id within the class), and `failing` says so. Once
    the agent may take 3 calls a day, the non-member is still short and no member is."""
    _agent(store, capacity=2)
    rows = [
        {"member": False, "deadline": AT_15},
        {"member": True, "deadline": AT_20},
        {"member": True, "deadline": AT_20},
        {"member": True, "deadline": AT_20},
    ]
    ids = _tasks(store, clock, by_agents, [{"attempts_made": 2} | r for r in rows])
    _refresh(store)
    assert _short(store) == {ids[0], ids[3]}
    with store.sessions() as s:
        (c,) = coverage(s, CampaignBook(), NOW, campaign=SLUG).campaigns
    assert c.members["at_risk"] == 1 and c.non_members["at_risk"] == 1 and c.failing
    with store.transaction() as s:
        s.execute(update(Agent).values(daily_capacity=3))
    _refresh(store)
    assert _short(store) == {ids[0]}  # the flag is cleared when capacity comes back


def test_no_agent_means_every_open_task_is_short(
    store: Store, clock: SettableClock, by_agents: CampaignSpec
) -> None:
    ids = _tasks(store, clock, by_agents, _agent_rows([]))
    reached = {"state": "reached", "reached_at": NOW}
    with store.transaction() as s:
        s.execute(update(CallbackTask).where(CallbackTask.id == ids[0]).values(**reached))
    _refresh(store)
    assert _short(store) == set(ids[1:])  # the reached one is not open: not modelled


def test_automated_low_cps(store: Store, clock: SettableClock, shipped: CampaignSpec) -> None:
    assert expected_attempts(3) == pytest.approx(1.4725)
    ids = _tasks(store, clock, shipped, [{"deadline": AT_20}] * 3)
    _refresh(store, cps=1 / 7200)
    assert _short(store) == {ids[2]}  # 3 x 1.4725 = 4.4175 calls > 4.22: the last one is short
    with store.sessions() as s:
        (c,) = coverage(s, CampaignBook(), NOW, campaign=SLUG).campaigns
        found = at_risk(s, CampaignBook(), NOW, campaign=SLUG)
    assert dict(c.members) == {"pending": 2, "at_risk": 1} and c.failing
    assert [e.task_id for e in found] == [ids[2]]
    assert "the dispatcher's calls per second" in found[0].reason
    # At the default 1 call/s the hour holds 3,600 calls: nobody is short any more.
    _refresh(store, cps=1.0)
    assert _short(store) == set()


def test_automated_tries_made_lower_the_demand(
    store: Store, clock: SettableClock, shipped: CampaignSpec
) -> None:
    """Deadline 11:00, one call per slot: with 2 of 3 tries made a task expects 1 more call
    (its window needs only 210 s): four fit in the 4 calls, a fifth not."""
    ids = _tasks(store, clock, shipped, [{"deadline": NOW + H, "attempts_made": 2}] * 5)
    _refresh(store, cps=1 / 900)
    assert _short(store) == {ids[4]}


def test_window_and_capacity_both_named(
    store: Store, clock: SettableClock, shipped: CampaignSpec
) -> None:
    """A task short of both window slack (3 tries need 18,210 s, the hour holds 3,600) and
    capacity lists both causes; history mode applies the window rule only."""
    ids = _tasks(store, clock, shipped, [{"deadline": NOW + H}] * 3)
    _refresh(store, cps=1 / 900)
    with store.sessions() as s:
        found = {e.task_id: e for e in at_risk(s, CampaignBook(), NOW, campaign=SLUG)}
        past = at_risk(s, CampaignBook(), NOW + H / 2, campaign=SLUG, at=NOW)
    assert set(found) == set(ids)
    assert found[ids[0]].causes == ("window",)
    assert found[ids[2]].causes == ("window", "capacity")
    assert "of open window left" in found[ids[2]].reason and "capacity:" in found[ids[2]].reason
    assert all(e.causes == ("window",) for e in past)
