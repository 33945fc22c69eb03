"""A campaign with hand-set attempts, outcomes, agents and a complaint, for the report tests.

Six member tasks created at NOW (deadline NOW + 3 days) in the shipped after-service campaign:

| task | attempts (channel, agent, duration)              | end                        |
|------|--------------------------------------------------|----------------------------|
| 0    | voice -, voice 王小明 120 s                      | reached +1 h, satisfied    |
| 1    | voice 王小明 180 s                               | reached +2 h, unsatisfied "waiting time" (complaint, open) |
| 2    | voice Bob 60 s (+ a cancelled attempt by Bob)    | reached +2 h, average "price" |
| 3    | voice -, voice -, voice -, sms -                 | notified +3 h, not_reached (exhausted) at +5 h |
| 4    | voice Bob 30 s                                   | reached +4 h, refused "busy" |
| 5    | none                                             | not_contactable at +5 h    |

The outcomes of tasks 0 and 1 are recorded by 王小明, of tasks 2 and 4 by Bob.

So at NOW + 1 day: tasks 6, tried 5, reached 4, notified only 1, exhausted 1, not contactable 1,
attempts 9 (voice 8, sms 1), attempts per reach 2.25; satisfied / average / unsatisfied one
each (1/3); member coverage 4 in time ÷ 5 decided = 80% (task 3 is at risk, not decided).
Agents: 王小明 2 tasks, 2 attempts, 2 reached, 150 s, 1 satisfied 1 unsatisfied (50%);
Bob 2 tasks, 2 attempts, 2 reached, 45 s, 1 average (0%).
Curve (6 h steps from NOW to NOW + 1 day): NOW, +6 h, +12 h, +18 h, +24 h → 5 points,
progress 0, then 4/6 from +6 h on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from seeding import seed
from sqlalchemy import update

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.models import Agent, Attempt, CallbackTask, FollowUpCase, Outcome
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[1] / "campaigns"
SLUG = "after-service-satisfaction"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 Asia/Taipei
H = timedelta(hours=1)
EVIL_REASON = '=HYPERLINK("http://evil.example","x")'


def seed_report(store: Store, clock: SettableClock, *, evil: bool = False) -> list[int]:
    """The table above; with `evil`, task 4's refusal reason looks like a formula."""
    clock.set(NOW)
    spec = load_campaign(CAMPAIGNS / f"{SLUG}.toml")
    tasks = seed(store, clock, spec, n=6)
    with store.transaction() as s:
        wang = Agent(username="wang", display_name="王小明", created_at=NOW)
        bob = Agent(username="bob", display_name="Bob", created_at=NOW)
        s.add_all([wang, bob])
        s.flush()
        numbers: dict[int, int] = {}

        def attempt(i: int, channel: str, agent: Agent | None, secs: int | None, **kw: Any) -> Any:
            numbers[i] = numbers.get(i, 0) + 1
            a = Attempt(
                task_id=tasks[i],
                customer_id=s.get(CallbackTask, tasks[i]).customer_id,  # type: ignore[union-attr]
                number=numbers[i],
                channel=channel,
                phone_e164=f"+88691234567{i}",
                state=kw.get("state", "completed"),
                due_at=NOW,
                created_at=NOW + numbers[i] * timedelta(minutes=10),
                placed_at=NOW + numbers[i] * timedelta(minutes=10),
                duration_seconds=secs,
                agent_id=agent.id if agent else None,
            )
            s.add(a)
            s.flush()
            return a

        def outcome(
            i: int, name: str, at: datetime, reason: str | None = None, by: Agent | None = None
        ) -> Outcome:
            o = Outcome(
                task_id=tasks[i],
                name=name,
                channel="voice",
                reason=reason,
                recorded_at=at,
                agent_id=by.id if by else None,
            )
            s.add(o)
            s.flush()
            return o

        def task(i: int, **values: Any) -> None:
            s.execute(update(CallbackTask).where(CallbackTask.id == tasks[i]).values(**values))

        attempt(0, "voice", None, None)
        attempt(0, "voice", wang, 120)
        task(0, state="reached", reached_at=NOW + H, outcome="satisfied", updated_at=NOW + H)
        outcome(0, "satisfied", NOW + H, by=wang)
        attempt(1, "voice", wang, 180)
        task(1, state="reached", reached_at=NOW + 2 * H, outcome="unsatisfied")
        complaint = outcome(1, "unsatisfied", NOW + 2 * H, "waiting time", wang)
        attempt(2, "voice", bob, 60)
        attempt(2, "voice", bob, None, state="cancelled")
        task(2, state="reached", reached_at=NOW + 2 * H, outcome="average")
        outcome(2, "average", NOW + 2 * H, "price", bob)
        for _ in range(3):
            attempt(3, "voice", None, None)
        attempt(3, "sms", None, None)
        task(3, state="not_reached", notified_at=NOW + 3 * H, outcome="not_reached")
        task(3, updated_at=NOW + 5 * H)
        outcome(3, "not_reached", NOW + 5 * H)
        attempt(4, "voice", bob, 30)
        task(4, state="reached", reached_at=NOW + 4 * H, outcome="refused")
        outcome(4, "refused", NOW + 4 * H, EVIL_REASON if evil else "busy", bob)
        task(5, state="not_contactable", outcome="not_contactable", updated_at=NOW + 5 * H)
        outcome(5, "not_contactable", NOW + 5 * H)
        s.add(
            FollowUpCase(
                task_id=tasks[1],
                customer_id=s.get(CallbackTask, tasks[1]).customer_id,  # type: ignore[union-attr]
                outcome_id=complaint.id,
                reason="waiting time",
                opened_at=NOW + 2 * H,
            )
        )
    clock.set(NOW + 24 * H)
    return tasks
