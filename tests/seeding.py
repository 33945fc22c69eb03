"""Seeding for the store, telephony and CLI suites: customers with numbers and a due task each
(`seed`); for assignment, campaign rows, agents and open tasks written directly (`seed_campaign`,
`seed_agent`, `seed_open_tasks`), so each test states only what its expectations rest on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dialer.campaign_files import load_campaign
from dialer.campaigns import CampaignSpec
from dialer.clock import SettableClock
from dialer.models import Agent, CallbackTask, Campaign, Customer, CustomerPhone
from dialer.planner import upsert_campaign
from dialer.store import Store

SHIPPED_CAMPAIGNS = Path(__file__).parents[1] / "campaigns"


def seed(
    store: Store,
    clock: SettableClock,
    spec: CampaignSpec,
    n: int = 3,
    phones: tuple[tuple[str, str], ...] = (("+886912345678", "mobile"),),
    *,
    zone: str = "Asia/Taipei",
    region: str = "TW",
    plan_action: str | None = None,
    key_prefix: str = "C",
) -> list[int]:
    """`n` member customers, each with `phones`, and a task due now; the task ids in order.

    With several customers and one phone, each number's last digit is made the customer's index
    (+886912345670, +886912345671, ...) so the numbers differ."""
    now = clock.now()
    ids = []
    with store.transaction() as s:
        cid = upsert_campaign(s, spec, now)
        for i in range(n):
            cust = Customer(
                customer_key=f"{key_prefix}{i}",
                name=f"客戶{i}",
                member=True,
                time_zones=[zone],
                region=region,
                created_at=now,
                updated_at=now,
            )
            s.add(cust)
            s.flush()
            for rank, (e164, kind) in enumerate(phones):
                s.add(
                    CustomerPhone(
                        customer_id=cust.id,
                        e164=e164[:-1] + str(i) if n > 1 and len(phones) == 1 else e164,
                        phone_type=kind,
                        region=region,
                        rank=rank,
                        time_zones=[zone],
                    )
                )
            task = CallbackTask(
                campaign_id=cid,
                customer_id=cust.id,
                dedupe_key=f"svc:{i}",
                member=True,
                deadline=now + timedelta(days=3),
                next_attempt_at=now,
                plan_action=plan_action,
                created_at=now,
                updated_at=now,
            )
            s.add(task)
            s.flush()
            ids.append(task.id)
    return ids


def agents_definition(hours: str, *, monday_to_friday: bool = True) -> dict[str, Any]:
    """The shipped after-service campaign handled by agents (its voice tries become the agent's),
    calling `hours` with no rest hours; by default Monday to Friday with no holiday skipping, so
    hand-worked expectations do not rest on the shipped calendar."""
    d = load_campaign(SHIPPED_CAMPAIGNS / "after-service-satisfaction.toml").as_definition()
    d |= {"channels": ["agent", "sms"], "handled_by": "agents"}
    d["attempts"]["agent"] = d["attempts"].pop("voice")
    d["window"] |= {"hours": [hours], "rest": []}
    if monday_to_friday:
        d["window"] |= {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "skip_holidays": False}
    return d


def seed_campaign(
    store: Store,
    now: datetime,
    definition: dict[str, Any],
    *,
    slug: str = "after-service",
    name: str | None = None,
    kind: str = "after_service",
) -> int:
    """A service campaign row with `definition` as stored (not planned); its id."""
    with store.transaction() as s:
        camp = Campaign(
            slug=slug,
            name=name or slug,
            kind=kind,
            purpose="service",
            definition=definition,
            created_at=now,
            updated_at=now,
        )
        s.add(camp)
        s.flush()
        return camp.id


@dataclass(frozen=True)
class Shift:
    """An agent's working hours in their own zone (Monday = 0)."""

    zone: str
    start: str = "09:00"
    end: str = "18:00"
    days: tuple[int, ...] = (0, 1, 2, 3, 4)


def seed_agent(
    store: Store,
    now: datetime,
    name: str,
    *,
    languages: Sequence[str] = ("zh-TW",),
    capacity: int = 60,
    shift: Shift | None = None,
    active: bool = True,
) -> int:
    """An agent (no shift: any time counts as working time); its id."""
    with store.transaction() as s:
        a = Agent(
            username=name,
            display_name=name,
            languages=list(languages),
            daily_capacity=capacity,
            work_start=shift.start if shift else None,
            work_end=shift.end if shift else None,
            work_days=list(shift.days) if shift else None,
            time_zone=shift.zone if shift else None,
            active=active,
            created_at=now,
        )
        s.add(a)
        s.flush()
        return a.id


def seed_open_tasks(
    store: Store,
    now: datetime,
    campaign_id: int,
    keys: Sequence[str],
    *,
    language: str | None = None,
    region: str | None = None,
    zone: str | None = None,
    quiet: str | None = None,
    member: bool = False,
    priority: int = 0,
    deadline: datetime | None = None,
    agent_id: int | None = None,
    appointment: datetime | None = None,
) -> list[int]:
    """One customer per key (named after it) with one open task: deadlines `deadline` (default
    three days ahead) one second apart, so the ids come back in urgency order."""
    deadline = deadline or now + timedelta(days=3)
    ids = []
    with store.transaction() as s:
        for i, key in enumerate(keys):
            cust = Customer(
                customer_key=key,
                name=key,
                member=member,
                language=language,
                region=region,
                time_zones=[zone] if zone else [],
                quiet_hours=quiet,
                created_at=now,
                updated_at=now,
            )
            s.add(cust)
            s.flush()
            task = CallbackTask(
                campaign_id=campaign_id,
                customer_id=cust.id,
                dedupe_key=key,
                member=member,
                priority=priority,
                deadline=deadline + timedelta(seconds=i),
                agent_id=agent_id,
                appointment_at=appointment,
                created_at=now,
                updated_at=now,
            )
            s.add(task)
            s.flush()
            ids.append(task.id)
    return ids
