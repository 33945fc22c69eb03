"""Seeding for the agent console's tests: three people and five after-service tasks.

alice (agent, zh-TW) holds tasks 0-2, bob (agent, ko) holds 3-4, sue is the supervisor (en).
The clock fixture's 2026-11-23 02:00 UTC is Monday 10:00 in Taipei: the calling window is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from seeding import seed
from sqlalchemy import update

from dialer.agents import AgentSpec, add_agent
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.clock import SettableClock
from dialer.console_web.auth import set_password
from dialer.models import AgentRole, CallbackTask, Customer, ServiceEvent
from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[1] / "campaigns"
PASSWORD = "correct horse battery"
NUMBERS = tuple(f"+88691234567{i}" for i in range(5))


def after_service() -> CampaignSpec:
    return load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")


@dataclass(frozen=True)
class Seeded:
    spec: CampaignSpec
    alice: list[int]
    bob: list[int]
    ids: dict[str, int]  # username -> agent id


def seed_console(store: Store, clock: SettableClock, *, passwords: bool = False) -> Seeded:
    """With `passwords`, each person's password is PASSWORD (Argon2 takes a moment per hash)."""
    spec = after_service()
    tasks = seed(store, clock, spec, n=5)
    people = (
        ("alice", "Alice 陳", ("zh-TW",), AgentRole.AGENT, "+886911000001"),
        ("bob", "Bob 김", ("ko",), AgentRole.AGENT, "+886911000002"),
        ("sue", "Sue", ("en",), AgentRole.SUPERVISOR, None),
    )
    ids: dict[str, int] = {}
    with store.transaction() as s:
        for username, name, langs, role, phone in people:
            agent = add_agent(
                s,
                clock,
                AgentSpec(username, name, phone_e164=phone, languages=langs, role=role),
                actor="test",
            )
            if passwords:
                set_password(s, clock, username, PASSWORD, actor="test")
            ids[username] = agent.id
        for i, tid in enumerate(tasks):
            owner = ids["alice"] if i < 3 else ids["bob"]
            s.execute(
                update(CallbackTask)
                .where(CallbackTask.id == tid)
                .values(agent_id=owner, priority=i * 100, state="in_progress")
            )
        task = s.get(CallbackTask, tasks[0])
        assert task is not None
        event = ServiceEvent(
            customer_id=task.customer_id,
            event_key="e0",
            service_date=date(2026, 11, 21),
            service_type="定期保養",
            store="台北內湖店",
            created_at=clock.now(),
        )
        s.add(event)
        s.flush()
        task.service_event_id = event.id
        for tid, language in zip(tasks, ("zh-TW", "en", "ko", "ko", "zh-TW"), strict=True):
            t = s.get(CallbackTask, tid)
            assert t is not None
            s.execute(
                update(Customer).where(Customer.id == t.customer_id).values(language=language)
            )
    return Seeded(spec, tasks[:3], tasks[3:], ids)
