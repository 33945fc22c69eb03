"""Faults on demand: 429 with Retry-After, 5xx, latency, dropped/duplicated/reordered callbacks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from dialer.telephony.sandbox.testing import SandboxHarness, WebhookReceiver

MakeSandbox = Callable[..., SandboxHarness]

SENDER = "+15005550006"
EVENTS = ["initiated", "ringing", "answered", "completed"]


def test_fail_next_429_with_retry_after_then_recovers(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    sandbox.sandbox.fail_next(2, status=429, retry_after=7)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as info:
            twilio_client.calls.create(to="+886912345678", from_=SENDER, url=webhooks.url("/v"))
        assert (info.value.status, info.value.code) == (429, 20429)
        last = twilio_client.http_client._test_only_last_response
        assert last.headers["Retry-After"] == "7"
    assert twilio_client.calls.create(to="+886912345678", from_=SENDER, url=webhooks.url("/v"))
    # The failed requests still arrived (and count) but placed nothing.
    assert len(sandbox.sandbox.requests[("POST", "calls")]) == 3
    assert len(sandbox.sandbox.contacts()) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_fail_next_5xx(sandbox: SandboxHarness, twilio_client: Client, status: int) -> None:
    sandbox.sandbox.fail_next(1, status=status)
    with pytest.raises(TwilioRestException) as info:
        twilio_client.messages.create(to="+886912345678", from_=SENDER, body="hi")
    assert (info.value.status, info.value.code) == (status, 20500)
    assert sandbox.sandbox.contacts() == []


def test_fault_rates_are_rolled_per_request(sandbox: SandboxHarness, twilio_client: Client) -> None:
    sandbox.sandbox.faults.rate_429 = 0.5
    outcomes = []
    for _ in range(200):
        try:
            twilio_client.messages.create(to="+886912345678", from_=SENDER, body="hi")
            outcomes.append(True)
        except TwilioRestException as exc:
            assert exc.code == 20429
            outcomes.append(False)
    assert 60 < outcomes.count(False) < 140
    sandbox.sandbox.faults.rate_429 = 0.0
    assert twilio_client.messages.create(to="+886912345678", from_=SENDER, body="hi")


def test_latency_delays_responses_and_concurrent_requests_overlap(
    sandbox: SandboxHarness,
) -> None:
    """Measures real elapsed time of the sandbox's own sleep; the test itself never sleeps."""
    sandbox.sandbox.faults.latency = 0.3
    url = f"{sandbox.base_url}/2010-04-01/Accounts/{sandbox.sandbox.account_sid}/Calls.json"
    auth = (sandbox.sandbox.account_sid, sandbox.sandbox.auth_token)
    arrivals_before = sandbox.clock.now()
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda: requests.get(url, auth=auth, timeout=10)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.0  # four 0.3 s responses overlapped instead of taking 1.2 s
    assert sandbox.sandbox.requests[("GET", "calls")] == [arrivals_before] * 4


def _callback_statuses(webhooks: WebhookReceiver) -> list[str]:
    return [r.params["CallStatus"] for r in webhooks.requests("/status")]


def _place_many(h: SandboxHarness, webhooks: WebhookReceiver, n: int) -> None:
    client = h.client()
    for i in range(n):
        number = f"+8869120002{i:02d}"
        h.sandbox.person(number, "human")
        client.calls.create(
            to=number,
            from_=SENDER,
            url=webhooks.url("/voice"),
            status_callback=webhooks.url("/status"),
            status_callback_event=EVENTS,
        )
    h.settle()


def test_dropped_callbacks(make_sandbox: MakeSandbox, webhooks: WebhookReceiver) -> None:
    h = make_sandbox(cps=100.0)
    h.sandbox.faults.drop_callbacks = 0.5
    _place_many(h, webhooks, 20)
    assert 10 < len(_callback_statuses(webhooks)) < 70  # of 80 without faults


def test_duplicated_callbacks(make_sandbox: MakeSandbox, webhooks: WebhookReceiver) -> None:
    h = make_sandbox(cps=100.0)
    h.sandbox.faults.duplicate_callbacks = 1.0
    _place_many(h, webhooks, 3)
    received = webhooks.requests("/status")
    assert len(received) == 24
    keys = [(r.params["CallSid"], r.params["SequenceNumber"]) for r in received]
    assert len(set(keys)) == 12 and all(keys.count(k) == 2 for k in keys)
    tokens = [r.headers["I-Twilio-Idempotency-Token"] for r in received]
    assert len(set(tokens)) == 12  # a duplicate is the same delivery again


def test_reordered_callbacks(make_sandbox: MakeSandbox, webhooks: WebhookReceiver) -> None:
    h = make_sandbox(cps=100.0)
    h.sandbox.faults.reorder_callbacks = 1.0
    _place_many(h, webhooks, 5)
    by_call: dict[str, list[int]] = {}
    for r in webhooks.requests("/status"):
        by_call.setdefault(r.params["CallSid"], []).append(int(r.params["SequenceNumber"]))
    assert len(by_call) == 5
    for seqs in by_call.values():
        assert sorted(seqs) == [0, 1, 2, 3]  # nothing lost,
        assert seqs != [0, 1, 2, 3]  # but not in order
