"""Sandbox fixtures, meant for every test that dials Twilio (the dispatcher's too).

- `sandbox`: a SandboxHarness — a `Sandbox` on the test `clock`, served over loopback HTTP;
  `.sandbox`, `.base_url`, `.clock`, and `.settle()` / `.advance(seconds)` to run virtual time.
- `twilio_client`: the real `twilio.rest.Client`, pointed at it by `RewritingHttpClient`.
- `webhooks`: a WebhookReceiver (real loopback server) that records callbacks and answers TwiML.
- `make_sandbox`: the factory behind `sandbox`, for a Sandbox with other options.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sandbox_webhooks import WebhookReceiver
from twilio.rest import Client

from dialer.clock import SettableClock
from dialer.telephony.http import RewritingHttpClient
from dialer.telephony.sandbox import Sandbox, SandboxServer

TEST_SID = "AC" + "0123456789abcdef" * 2
TEST_TOKEN = "sandbox-test-auth-token"


@dataclass
class SandboxHarness:
    """A served Sandbox plus the clock that drives it."""

    sandbox: Sandbox
    server: SandboxServer
    clock: SettableClock
    processed: int = field(default=0)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def client(self) -> Client:
        """A fresh real Twilio client for this sandbox."""
        return Client(
            self.sandbox.account_sid,
            self.sandbox.auth_token,
            http_client=RewritingHttpClient(self.base_url),
        )

    def advance(self, seconds: float) -> int:
        """Move the clock forward `seconds`, stopping at every due event on the way to run it."""
        end = self.clock.now() + timedelta(seconds=seconds)
        n = self.sandbox.pump()
        while (nxt := self.sandbox.next_event_at()) is not None and nxt <= end:
            if nxt > self.clock.now():
                self.clock.set(nxt)
            n += self.sandbox.pump()
        self.clock.set(max(end, self.clock.now()))
        n += self.sandbox.pump()
        self.processed += n
        return n

    def settle(self, limit: float = 24 * 3600) -> int:
        """Run events until none is left (at most `limit` virtual seconds ahead); returns how many."""
        start: datetime = self.clock.now()
        n = self.sandbox.pump()
        while (nxt := self.sandbox.next_event_at()) is not None:
            if (nxt - start).total_seconds() > limit:
                break
            if nxt > self.clock.now():
                self.clock.set(nxt)
            n += self.sandbox.pump()
        self.processed += n
        return n


@pytest.fixture
def make_sandbox(clock: SettableClock) -> Iterator[Callable[..., SandboxHarness]]:
    """Factory: `make_sandbox(cps=5, seed=3, ...)` → a started SandboxHarness (stopped after)."""
    made: list[SandboxHarness] = []

    def make(**options: Any) -> SandboxHarness:
        options.setdefault("account_sid", TEST_SID)
        options.setdefault("auth_token", TEST_TOKEN)
        sb = Sandbox(clock, **options)
        server = SandboxServer(sb).start()
        harness = SandboxHarness(sb, server, clock)
        made.append(harness)
        return harness

    yield make
    for h in made:
        h.server.stop()
        h.sandbox.close()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxHarness]) -> SandboxHarness:
    """The default sandbox: DOMAIN.md's population, seed 0, 1 call/s, on the test clock."""
    return make_sandbox()


@pytest.fixture
def twilio_client(sandbox: SandboxHarness) -> Client:
    """The unmodified Twilio SDK client, dialing the `sandbox` fixture."""
    return sandbox.client()


@pytest.fixture
def webhooks() -> Iterator[WebhookReceiver]:
    """A loopback application that records webhooks and answers the TwiML a test sets."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
