"""The sandbox retries a failed status callback as Twilio's connection overrides say, on its clock.

`#rc` retries at most, only on the failures `#rp` names, all inside `#tt`; every try is signed
over the URL without its fragment (what the application sees), with one idempotency token.
"""

from __future__ import annotations

from collections.abc import Callable

from twilio.request_validator import RequestValidator

from dialer.telephony.overrides import STATUS_CALLBACK, Overrides, parse, with_overrides
from dialer.telephony.sandbox.testing import SandboxHarness, WebhookReceiver

MakeSandbox = Callable[..., SandboxHarness]
SENDER = "+15005550006"
TOKEN = "sandbox-test-auth-token"


def _failing(times: int, status: int) -> Callable[[dict[str, str]], int | str]:
    """An answer that fails `times` times with `status`, then takes the callback."""
    left = [times]

    def answer(_: dict[str, str]) -> int | str:
        if left[0] > 0:
            left[0] -= 1
            return status
        return "<Response/>"

    return answer


def _call(h: SandboxHarness, webhooks: WebhookReceiver, fragment: str) -> None:
    h.client().calls.create(
        to="+886912345678",
        from_=SENDER,
        url=webhooks.url("/voice"),
        status_callback=f"{webhooks.url('/status')}#{fragment}",
    )


def test_a_5xx_is_retried_a_second_apart_on_the_clock_until_it_lands(
    make_sandbox: MakeSandbox, webhooks: WebhookReceiver
) -> None:
    h = make_sandbox(cps=100.0)
    webhooks.answer("/status", _failing(3, 503))
    _call(h, webhooks, "rc=5&rp=5xx&tt=15000")
    while not webhooks.requests("/status"):  # up to the final callback's first try
        h.advance(0.5)
    assert len(webhooks.requests("/status")) == 1
    due = h.sandbox.next_event_at()  # the retry waits on the clock, not in a sleep
    assert due is not None and 0 < (due - h.clock.now()).total_seconds() <= 1.0
    h.advance(10)
    tries = webhooks.requests("/status")
    assert len(tries) == 4  # three 503s, then taken; nothing more
    assert {t.headers["I-Twilio-Idempotency-Token"] for t in tries} == {
        tries[0].headers["I-Twilio-Idempotency-Token"]
    }
    assert all("#" not in t.url and t.signed_by(TOKEN) for t in tries)
    assert h.sandbox.webhooks.retried["5xx"] == 3


def test_a_4xx_is_retried_only_when_the_policy_names_it(
    make_sandbox: MakeSandbox, webhooks: WebhookReceiver
) -> None:
    h = make_sandbox(cps=100.0)
    webhooks.answer("/status", 403)
    _call(h, webhooks, "rc=3&rp=ct,rt,5xx")
    h.settle()
    assert len(webhooks.requests("/status")) == 1
    _call(h, webhooks, "rc=3&rp=all")
    h.settle()
    assert len(webhooks.requests("/status")) == 1 + 4


def test_retries_stop_at_the_retry_count_and_the_total_timeout(
    make_sandbox: MakeSandbox, webhooks: WebhookReceiver
) -> None:
    h = make_sandbox(cps=100.0)
    webhooks.answer("/status", 500)
    _call(h, webhooks, "rc=1&rp=5xx")
    h.settle()
    assert len(webhooks.requests("/status")) == 2  # one try, one retry
    _call(h, webhooks, "rc=5&rp=5xx&tt=2500")  # a second per failed try: 3 fit in 2.5 s
    h.settle()
    assert len(webhooks.requests("/status")) == 2 + 3
    assert h.sandbox.webhooks.given_up == 2


def test_the_signature_is_over_the_url_twilio_requests_not_the_fragment(
    make_sandbox: MakeSandbox, webhooks: WebhookReceiver
) -> None:
    h = make_sandbox(cps=100.0)
    _call(h, webhooks, STATUS_CALLBACK.fragment())
    h.settle()
    [final] = webhooks.requests("/status")
    validator = RequestValidator(TOKEN)
    signature = final.headers["X-Twilio-Signature"]
    assert validator.validate(webhooks.url("/status"), final.params, signature)
    with_fragment = with_overrides(webhooks.url("/status"), STATUS_CALLBACK)
    assert not validator.validate(with_fragment, final.params, signature)


def test_overrides_are_parsed_clamped_to_twilios_ranges_and_default_as_twilio_does() -> None:
    base, ov = parse("https://x.test/s?a=1#rc=9&rp=all&ct=50&rt=99999&tt=20000&e=ashburn")
    assert base == "https://x.test/s?a=1"
    assert ov == Overrides(rc=5, rp=frozenset({"ct", "rt", "4xx", "5xx"}), ct=100, rt=15000,
                           tt=15000)  # fmt: skip
    assert parse("https://x.test/s")[1] == Overrides()  # rc=1, rp=ct,rt, 5 s / 15 s / 15 s
    assert not Overrides().retries_on("5xx") and Overrides().retries_on("ct")
    again = with_overrides("https://x.test/s#old", STATUS_CALLBACK)
    assert parse(again) == ("https://x.test/s", STATUS_CALLBACK)
