"""Assignment meets working hours: a task goes only to an agent whose shift meets the customer's
calling window before the deadline, on SQLite and PostgreSQL.

Every expectation below is worked out by hand from these facts. Now is Monday 2026-11-23 02:00
UTC (10:00 in Taipei, Sunday 21:00 in New York, EST = UTC-5). Deadlines are now + 3 days
(Thursday 02:00 UTC = Wednesday 21:00 New York). The campaign calls Monday to Friday, no holiday
skipping, no rest hours; a call needs 3 min 30 s of window (ring 30 s + handle 3 min), so each
open span ends 3.5 minutes early. Agents work 09:00-18:00 Monday to Friday in their own zone.
- Taipei 09:00-18:00 is 01:00-10:00 UTC; New York 09:00-18:00 is 14:00-23:00 UTC; London
  09:00-18:00 is 09:00-18:00 UTC.
- A New York customer called 09:00-17:00 is open 14:00-21:56:30 UTC: Taipei never meets it.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from seeding import Shift, agents_definition, seed_agent, seed_campaign, seed_open_tasks
from sqlalchemy import select

from dialer.agents import AgentProfile
from dialer.assign import assign_open_tasks, rebalance
from dialer.balance import AgentInfo, Balancer, TaskInfo
from dialer.clock import SettableClock
from dialer.models import Agent, CallbackTask, Campaign
from dialer.plan_model import reachee
from dialer.reach import Reach, ReachBook, policy_of
from dialer.store import Store

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
WEEK = [0, 1, 2, 3, 4]
US_OUT_OF_HOURS = (
    "out of hours: no active agent speaking en with the skill after_service works while the "
    "customer can be called before the deadline"
)


def campaign(store: Store, hours: str = "09:00-17:00") -> int:
    return seed_campaign(store, NOW, agents_definition(hours))


def tasks(
    store: Store,
    cid: int,
    n: int,
    *,
    zone: str,
    region: str,
    language: str,
    quiet: str | None = None,
    deadline: datetime = NOW + timedelta(days=3),
    agent_id: int | None = None,
) -> list[int]:
    """n open tasks of customers in `zone`, deadlines one second apart (ids in urgency order)."""
    keys = [f"{zone}-{quiet}-{deadline:%d}-{agent_id}-{i}" for i in range(n)]
    return seed_open_tasks(
        store,
        NOW,
        cid,
        keys,
        language=language,
        region=region,
        zone=zone,
        quiet=quiet,
        deadline=deadline,
        agent_id=agent_id,
    )


def us(store: Store, cid: int, n: int, **kw: Any) -> list[int]:
    return tasks(store, cid, n, zone="America/New_York", region="US", language="en", **kw)


def tw(store: Store, cid: int, n: int, **kw: Any) -> list[int]:
    return tasks(store, cid, n, zone="Asia/Taipei", region="TW", language="zh-TW", **kw)


def agent(
    store: Store,
    name: str,
    zone: str,
    languages: list[str],
    hours: tuple[str, str] = ("09:00", "18:00"),
    capacity: int = 60,
) -> int:
    shift = Shift(zone, *hours)  # Monday to Friday (WEEK)
    return seed_agent(store, NOW, name, languages=languages, capacity=capacity, shift=shift)


def owners(store: Store, ids: list[int]) -> Counter[int | None]:
    with store.sessions() as s:
        return Counter(s.scalars(select(CallbackTask.agent_id).where(CallbackTask.id.in_(ids))))


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(NOW)


def test_us_customers_go_only_to_the_agent_whose_shift_meets_their_window(
    store: Store, clock: SettableClock
) -> None:
    """Taipei's bilingual agent would have taken half of the US tasks by language and load."""
    cid = campaign(store)
    american = us(store, cid, 10)
    taiwanese = tw(store, cid, 10)
    tpe = agent(store, "tpe", "Asia/Taipei", ["zh-TW", "en"])
    nyc = agent(store, "nyc", "America/New_York", ["en"])
    result = assign_open_tasks(store, clock)
    assert (result.assigned, result.unassigned, result.out_of_hours) == (20, 0, 0)
    assert owners(store, american) == {nyc: 10}
    assert owners(store, taiwanese) == {tpe: 10}  # nyc speaks no zh-TW


def test_task_no_shift_can_reach_in_time_stays_unassigned_and_is_reported(
    store: Store, clock: SettableClock
) -> None:
    cid = campaign(store)
    american = us(store, cid, 4)
    taiwanese = tw(store, cid, 3)
    tpe = agent(store, "tpe", "Asia/Taipei", ["zh-TW", "en"])
    result = assign_open_tasks(store, clock, actor="tester")
    assert (result.assigned, result.unassigned, result.out_of_hours) == (3, 4, 4)
    assert result.reasons == {US_OUT_OF_HOURS: 4}
    assert result.out_of_hours_tasks == american  # the most urgent (earliest deadline) first
    assert result.as_json()["out_of_hours"] == 4
    assert owners(store, american) == {None: 4}
    assert owners(store, taiwanese) == {tpe: 3}


def test_the_agents_who_can_reach_are_full_the_others_do_not_help(
    store: Store, clock: SettableClock
) -> None:
    """nyc shares 7.94 h of each 9 h day with the 09:00-17:00 window (Monday to Wednesday before
    the deadline): 0.88, rounded up to 1. At 2 a day and the 3-day cap nyc holds 6; tpe, free,
    cannot call New York at all, so the other two stay unassigned, and the reason says why."""
    cid = campaign(store)
    american = us(store, cid, 8)
    agent(store, "tpe", "Asia/Taipei", ["zh-TW", "en"])
    nyc = agent(store, "nyc", "America/New_York", ["en"], capacity=2)
    result = assign_open_tasks(store, clock, max_days=3)
    assert (result.assigned, result.unassigned, result.out_of_hours) == (6, 2, 0)
    assert result.reasons == {
        "every agent speaking en with the skill after_service is at capacity among those whose "
        "shift meets the customer's window": 2
    }
    assert owners(store, american[:6]) == {nyc: 6}
    assert owners(store, american[6:]) == {None: 2}  # the two latest deadlines wait


def test_a_late_task_goes_to_whoever_can_call_the_customer_soon(
    store: Store, clock: SettableClock
) -> None:
    """Past its deadline a task is still worth a call ("reached late"): judged on the next week."""
    cid = campaign(store)
    late = us(store, cid, 2, deadline=NOW - timedelta(days=1))
    agent(store, "tpe", "Asia/Taipei", ["zh-TW", "en"])
    alone = assign_open_tasks(store, clock)
    assert alone.unassigned == 2 and alone.out_of_hours == 2
    assert alone.reasons == {
        "out of hours: no active agent speaking en with the skill after_service works while the "
        "customer can be called in the next 7 days (deadline passed)": 2
    }
    nyc = agent(store, "nyc", "America/New_York", ["en"])
    helped = assign_open_tasks(store, clock)
    assert helped.assigned == 2 and helped.out_of_hours == 0
    assert owners(store, late) == {nyc: 2}


def test_partial_overlap_takes_load_in_proportion_to_its_share(
    store: Store, clock: SettableClock
) -> None:
    """Window 08:00-21:00 New York = 13:00-01:56:30 UTC.

    nyc (14:00-23:00 UTC) is inside it all day: share 1, capacity 60 a day.
    London (09:00-18:00 UTC) meets it 13:00-18:00, 5 of 9 hours; over Monday 09:00 UTC to the
    Thursday 02:00 UTC deadline it works Mon, Tue, Wed (27 h) and shares 15 h: 0.556, rounded up
    to eighths 5/8, so its capacity for these customers is 60 x 5/8 = 37.5.
    Taipei (01:00-10:00 UTC) meets it 01:00-01:56:30 UTC on Tuesday, Wednesday and Thursday
    (New York's Monday to Wednesday evenings): 2.83 h of its 27 working hours (Monday from 02:00),
    0.105, rounded up to 1/8: eligible, at 60/8 = 7.5 a day, but it speaks no English here.
    Eleven tasks, each to the lowest (load + 1) / capacity: nyc takes k=1..7 at 1/60 .. 7/60
    (0.117), London k=1..4 at 1/37.5 .. 4/37.5 (0.107); the next candidates are nyc 8/60 = 0.133
    and London 5/37.5 = 0.133, beyond the eleventh. So nyc 7, London 4.
    """
    cid = campaign(store, "08:00-21:00")
    american = us(store, cid, 11)
    nyc = agent(store, "nyc", "America/New_York", ["en"])
    lon = agent(store, "lon", "Europe/London", ["en"])
    agent(store, "tpe", "Asia/Taipei", ["zh-TW"])
    result = assign_open_tasks(store, clock)
    assert result.assigned == 11
    assert owners(store, american) == {nyc: 7, lon: 4}
    with store.sessions() as s:
        policy = policy_of(s.get_one(Campaign, cid).definition)
    profile = AgentProfile(hours=(time(9), time(18)), days=frozenset(WEEK))
    book = ReachBook(
        NOW,
        [
            (1, AgentProfile(hours=profile.hours, days=profile.days, time_zone="Asia/Taipei")),
            (2, AgentProfile(hours=profile.hours, days=profile.days, time_zone="America/New_York")),
            (3, AgentProfile(hours=profile.hours, days=profile.days, time_zone="Europe/London")),
        ],
        {cid: policy},
    )
    r = book.of(cid, reachee(("America/New_York",), None, "US", None), NOW + timedelta(days=3))
    assert r.share == {1: 1 / 8, 2: 1.0, 3: 5 / 8}
    # The first shared 15-minute slot: London 13:00 UTC Monday, nyc 14:00, Taipei Tuesday 01:00.
    assert r.first == {
        1: datetime(2026, 11, 24, 1, 0, tzinfo=UTC).timestamp(),
        2: datetime(2026, 11, 23, 14, 0, tzinfo=UTC).timestamp(),
        3: datetime(2026, 11, 23, 13, 0, tzinfo=UTC).timestamp(),
    }


def test_customer_quiet_hours_count(store: Store, clock: SettableClock) -> None:
    """A Taipei customer at work 09:00-18:00 is open 18:00-20:56:30 (window 08:00-21:00): the
    day shift never meets it, the 13:00-22:00 shift does."""
    cid = campaign(store, "08:00-21:00")
    busy = tw(store, cid, 3, quiet="09:00-18:00")
    free = tw(store, cid, 2)
    day = agent(store, "day", "Asia/Taipei", ["zh-TW"])
    result = assign_open_tasks(store, clock)
    assert (result.assigned, result.out_of_hours) == (2, 3)
    assert owners(store, busy) == {None: 3} and owners(store, free) == {day: 2}
    eve = agent(store, "eve", "Asia/Taipei", ["zh-TW"], hours=("13:00", "22:00"))
    again = assign_open_tasks(store, clock)
    assert (again.assigned, again.unassigned) == (3, 0)
    assert owners(store, busy) == {eve: 3}


def test_rebalance_takes_tasks_off_an_agent_who_can_never_call_them(
    store: Store, clock: SettableClock
) -> None:
    cid = campaign(store)
    tpe = agent(store, "tpe", "Asia/Taipei", ["zh-TW", "en"])
    american = us(store, cid, 3, agent_id=tpe)  # handed out before hours counted
    taiwanese = tw(store, cid, 2, agent_id=tpe)
    appointment = us(store, cid, 1, agent_id=tpe, deadline=NOW + timedelta(days=2))
    with store.transaction() as s:
        s.get_one(CallbackTask, appointment[0]).appointment_at = NOW + timedelta(hours=30)
    # Nobody else: the three leave tpe and are reported; the appointment stays with tpe.
    alone = rebalance(store, clock)
    assert (alone.moved, alone.unassigned, alone.out_of_hours, alone.kept) == (0, 3, 3, 3)
    assert alone.out_of_hours_tasks == american
    assert owners(store, american) == {None: 3}
    assert owners(store, taiwanese + appointment) == {tpe: 3}
    # Back on tpe (say by hand), then nyc joins: rebalance moves them to nyc.
    with store.transaction() as s:
        for tid in american:
            s.get_one(CallbackTask, tid).agent_id = tpe
    nyc = agent(store, "nyc", "America/New_York", ["en"])
    result = rebalance(store, clock)
    assert (result.moved, result.unassigned, result.kept) == (3, 0, 3)
    assert owners(store, american) == {nyc: 3}
    assert owners(store, taiwanese + appointment) == {tpe: 3}


def test_balancer_prefers_the_sooner_overlap_on_equal_load() -> None:
    """Pure core: equal capacity and share, so the load ratios tie and the sooner shift wins."""
    agents = [AgentInfo(id=1, username="a"), AgentInfo(id=2, username="b")]
    reach = Reach(group=0, share={1: 1.0, 2: 1.0}, first={1: 200.0, 2: 100.0}, late=False)
    balancer = Balancer(agents)
    task = TaskInfo(id=1, kind="after_service")
    assert balancer.offer(task, reach) == (2, None)  # b's shift meets the customer first
    assert balancer.offer(TaskInfo(id=2, kind="after_service"), reach) == (1, None)
    nobody = Reach(group=1, share={}, first={}, late=False)
    chosen, why = balancer.offer(TaskInfo(id=3, kind="after_service", language="ko"), nobody)
    assert chosen is None and why == "no active agent speaks ko"
    chosen, why = balancer.offer(TaskInfo(id=4, kind="after_service"), nobody)
    assert chosen is None and why is not None and why.startswith("out of hours: ")


def test_an_away_agents_appointment_goes_to_an_agent_at_work_at_its_time(
    store: Store, clock: SettableClock
) -> None:
    """Tuesday 15:00 New York is 20:00 UTC: nyc (14:00-23:00 UTC) is at work, tpe (01:00-10:00
    UTC) is not, though tpe holds nothing and nyc five tasks. 07:00 New York (12:00 UTC): nobody."""
    cid = campaign(store)
    lon = agent(store, "lon", "Europe/London", ["en"])
    tpe = agent(store, "tpe", "Asia/Taipei", ["zh-TW", "en"])
    nyc = agent(store, "nyc", "America/New_York", ["en"])
    us(store, cid, 5, agent_id=nyc)
    booked, early = us(store, cid, 2, agent_id=lon, deadline=NOW + timedelta(days=2))
    with store.transaction() as s:
        s.get_one(CallbackTask, booked).appointment_at = datetime(2026, 11, 24, 20, tzinfo=UTC)
        s.get_one(CallbackTask, early).appointment_at = datetime(2026, 11, 24, 12, tzinfo=UTC)
        s.get_one(Agent, lon).active = False
    result = rebalance(store, clock)
    assert (result.moved, result.unassigned, result.out_of_hours) == (1, 1, 1)
    assert result.reasons == {
        "out of hours: no active agent speaking en with the skill after_service works while the "
        "customer can be called at the agreed appointment time": 1
    }
    assert owners(store, [booked]) == {nyc: 1}
    assert owners(store, [early]) == {lon: 1}  # stays with the away agent, reported
    assert tpe not in owners(store, [booked, early])
