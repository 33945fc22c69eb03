"""How one dispatcher behaves, and what one tick did: plain data shared by its modules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from dialer.settle import Settling


@dataclass(frozen=True)
class DispatchConfig:
    """How one dispatcher behaves; built from Settings and the command line."""

    worker_id: str
    public_base_url: str
    senders: Mapping[str, str] = field(default_factory=dict)
    cps: float = 1.0  # calls per second for the account (Twilio's default is 1)
    mps: float = 10.0  # messages per second
    sender_cps: float | None = None  # per caller ID; defaults to the account's
    max_in_flight: int = 16
    claim_batch: int = 100
    lease: timedelta = timedelta(minutes=2)
    # When a placed attempt whose final status has not come is asked about (dialer.settle).
    settling: Settling = field(default_factory=Settling)
    contact_cap: int = 3  # contacts per customer in any 24 hours, across channels and campaigns
    min_gap: timedelta = timedelta(minutes=30)
    machine_detection: bool = True
    company: str = ""
    fleet_pacing: bool = False  # the pacing budget in the database, shared by every dispatcher
    crash_point: str | None = None  # tests: "after_sdk_return" dies between API call and record
    # Which due attempts go first when there are more than the pipe takes (attempts.claim_order_by):
    # The priority of docs/definitions.md, or first in, first out in file order (`dialer
    # simulate`'s comparison).
    claim_order: Literal["priority", "fifo"] = "priority"


@dataclass
class TickReport:
    reaped: int = 0
    adopted: int = 0
    scheduled: int = 0
    exhausted: int = 0
    claimed: int = 0
    placed: int = 0
    deferred: int = 0
    held: int = 0
    cancelled: int = 0
    failed: int = 0
    retried: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: TickReport) -> None:
        for name in ("reaped", "adopted", "scheduled", "exhausted", "claimed", "placed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("deferred", "held", "cancelled", "failed", "retried"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.reasons.items():
            self.reasons[k] += v
