"""Seeding shared by the benchmarks: member customers with one mobile each and a task due now.

Raw bulk inserts (no import, no planner) so that seeding stays out of what is measured.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def due_members(
    s: Any,
    campaign_id: int,
    n: int,
    now: datetime,
    *,
    key: str,
    prefix: str,
    offset: int = 0,
    zone: str = "Asia/Taipei",
    region: str = "TW",
) -> list[int]:
    """Insert `n` member customers (keys `key`+i, numbers `prefix` + 8 digits) and their tasks."""
    from sqlalchemy import insert, select

    from dialer.models import CallbackTask, Customer, CustomerPhone

    s.execute(
        insert(Customer),
        [
            {
                "customer_key": f"{key}{offset + i}",
                "name": f"Bench {i}",
                "member": True,
                "time_zones": [zone],
                "region": region,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ],
    )
    ids = list(s.scalars(select(Customer.id).order_by(Customer.id)).all()[-n:])
    s.execute(
        insert(CustomerPhone),
        [
            {
                "customer_id": c,
                "e164": f"{prefix}{offset + i:08d}",
                "phone_type": "mobile",
                "region": region,
                "time_zones": [zone],
                "rank": 0,
            }
            for i, c in enumerate(ids)
        ],
    )
    s.execute(
        insert(CallbackTask),
        [
            {
                "campaign_id": campaign_id,
                "customer_id": c,
                "dedupe_key": "bench",
                "member": True,
                "deadline": now + timedelta(days=3),
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for c in ids
        ],
    )
    return ids
