"""Sandbox fixtures, meant for every test that dials Twilio (the dispatcher's too).

- `sandbox`: a SandboxHarness — a `Sandbox` on the test `clock`, served over loopback HTTP;
  `.sandbox`, `.base_url`, `.clock`, and `.settle()` / `.advance(seconds)` to run virtual time.
- `twilio_client`: the real `twilio.rest.Client`, pointed at it by `RewritingHttpClient`.
- `webhooks`: a WebhookReceiver (real loopback server) that records callbacks and answers TwiML.
- `make_sandbox`: the factory behind `sandbox`, for a Sandbox with other options.

The helpers live in `dialer.telephony.sandbox.testing`, so a conftest elsewhere can build the same
fixtures in a few lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twilio.rest import Client

from dialer.clock import SettableClock
from dialer.telephony.sandbox import Sandbox, SandboxServer
from dialer.telephony.sandbox.testing import SandboxHarness, WebhookReceiver

TEST_SID = "AC" + "0123456789abcdef" * 2
TEST_TOKEN = "sandbox-test-auth-token"


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
        h.close()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxHarness]) -> SandboxHarness:
    """The default sandbox: docs/definitions.md's population, seed 0, 1 call/s, test clock."""
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
