"""Click-to-call against the sandbox over real HTTP (SQLite and PostgreSQL): the agent's phone is
rung first through the official SDK, its TwiML (the console's signed bridge route) dials the
customer, the sandbox simulates both legs and the bridge, and the Dial's action tells the
attempt how the customer leg ended."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from console_seeding import NUMBERS, seed_console
from fastapi import FastAPI

from dialer import agent_work as work
from dialer.attempts import CampaignBook
from dialer.clock import SettableClock
from dialer.console_web import mount_console
from dialer.console_web.bridge import Ringer
from dialer.models import Attempt
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox.testing import SandboxHarness

ALICE_PHONE = "+886911000001"


@pytest.mark.parametrize(
    ("customer", "status", "talk"), [("human", "completed", 90), ("busy", "busy", None)]
)
def test_the_agent_is_rung_first_then_bridged_to_the_customer(
    store: Store,
    clock: SettableClock,
    make_sandbox: Callable[..., SandboxHarness],
    customer: str,
    status: str,
    talk: int | None,
) -> None:
    seeded = seed_console(store, clock)
    h = make_sandbox()
    h.sandbox.person(ALICE_PHONE, "human", ring_seconds=3)
    h.sandbox.person(NUMBERS[0], customer, ring_seconds=4)  # type: ignore[arg-type]
    sb = h.sandbox
    telephony = Telephony(sb.account_sid, sb.auth_token, base_url=h.base_url)
    parent = FastAPI()
    base: list[str] = []
    ring = Ringer(telephony, lambda: base[0], {})
    mount_console(parent, store, clock, auth_token=sb.auth_token, click_to_call=ring)
    with AppServer(parent) as server:
        base.append(server.base_url)
        unsigned = httpx.post(f"{server.base_url}/console/twilio/bridge/1", data={"a": "b"})
        assert unsigned.status_code == 403
        with store.transaction() as s:
            alice = work.actor_named(s, "alice")
            started = work.start_call(s, CampaignBook(), clock, alice, seeded.alice[0])
        assert started.agent_phone == ALICE_PHONE and started.number and started.attempt_id
        ring(started.agent_phone, started.number, started.attempt_id)
        h.settle()
    legs = sorted(h.sandbox.calls.records.values(), key=lambda r: r.requested_at)
    agent_leg, customer_leg = legs
    assert agent_leg.to == ALICE_PHONE and agent_leg.status == "completed"
    assert customer_leg.to == NUMBERS[0] and customer_leg.parent_call_sid == agent_leg.sid
    assert customer_leg.status == status
    assert customer_leg.as_json()["direction"] == "outbound-dial"
    assert agent_leg.answered_at is not None
    if talk is not None:
        assert (
            customer_leg.answered_at is not None
            and agent_leg.answered_at < customer_leg.answered_at
        )
        assert customer_leg.duration == talk
    with store.sessions() as s:
        attempt = s.get(Attempt, started.attempt_id)
    assert attempt is not None and attempt.provider_status == status
    assert attempt.state == "placed"  # the agent still records what the customer said
    if talk is not None:
        assert attempt.duration_seconds == talk
