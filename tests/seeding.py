"""Seeding for the store and telephony suites: customers with numbers and a due task each."""

from __future__ import annotations

from datetime import timedelta

from dialer.campaigns import CampaignSpec
from dialer.clock import SettableClock
from dialer.models import CallbackTask, Customer, CustomerPhone
from dialer.planner import upsert_campaign
from dialer.store import Store


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
