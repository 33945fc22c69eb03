"""One way to build the gate's input in unit tests: an open, active campaign with nothing blocking,
so each test states only what it changes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from dialer.gate import GateInput
from dialer.windows import Reachee, WindowPolicy


def gate_input(who: Reachee, policy: WindowPolicy, **over: object) -> GateInput:
    """A voice attempt of the policy's purpose, nothing stopped or blocked, cap 3, gap 30 min;
    `over` replaces any field (the purpose too)."""
    base = GateInput(
        channel="voice",
        purpose=policy.purpose,
        who=who,
        policy=policy,
        campaign_status="active",
        halted=False,
        blocked_channels=frozenset(),
        number_ok=True,
        contacts_last_day=0,
        last_contact_at=None,
        contact_cap=3,
        min_gap=timedelta(minutes=30),
    )
    return dataclasses.replace(base, **over)  # type: ignore[arg-type]
