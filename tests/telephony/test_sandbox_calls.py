"""Calls through the unmodified Twilio SDK against the sandbox, over real loopback HTTP."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.rest.api.v2010.account.call import CallInstance

from dialer.errors import PermanentTelephonyError
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox.testing import SandboxHarness, WebhookReceiver

MakeSandbox = Callable[..., SandboxHarness]

SENDER = "+15005550006"
CUSTOMER = "+886912345678"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]

VOICE = (
    '<Response><Gather action="/convenience" numDigits="1" timeout="5">'
    "<Say>您好，請問您現在方便通話嗎？方便請按1，改時間請按2。</Say></Gather>"
    "<Say>No input, goodbye.</Say></Response>"
)
CONVENIENCE = (
    '<Response><Gather action="/satisfaction" numDigits="1">'
    "<Say>滿意請按1，普通請按2，不滿意請按3。</Say></Gather></Response>"
)
THANKS = "<Response><Say>Thank you, goodbye!</Say><Hangup/></Response>"


def script(webhooks: WebhookReceiver) -> None:
    webhooks.answer("/voice", VOICE)
    webhooks.answer("/convenience", CONVENIENCE)
    webhooks.answer("/satisfaction", THANKS)


def place(
    client: Client, webhooks: WebhookReceiver, to: str = CUSTOMER, **extra: Any
) -> CallInstance:
    return client.calls.create(
        to=to,
        from_=SENDER,
        url=webhooks.url("/voice"),
        status_callback=webhooks.url("/status"),
        status_callback_event=ALL_EVENTS,
        **extra,
    )


def test_create_returns_a_queued_call_twilio_shaped(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    call = place(twilio_client, webhooks)
    assert call.sid.startswith("CA") and len(call.sid) == 34
    assert call.status == "queued"
    assert call.account_sid == sandbox.sandbox.account_sid
    assert call.to == CUSTOMER and call._from == SENDER
    assert call.date_created == sandbox.clock.now().replace(microsecond=0)
    assert call.uri.endswith(f"/Calls/{call.sid}.json")
    assert twilio_client.calls(call.sid).fetch().status == "queued"


def test_a_person_answers_presses_digits_and_callbacks_arrive_signed_in_order(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    script(webhooks)
    sandbox.sandbox.person(CUSTOMER, "human", digits=["1", "3"])
    call = place(twilio_client, webhooks, machine_detection="Enable")
    sandbox.settle()

    statuses = webhooks.requests("/status")
    assert [r.params["CallStatus"] for r in statuses] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [r.params["SequenceNumber"] for r in statuses] == ["0", "1", "2", "3"]
    token = sandbox.sandbox.auth_token
    for r in webhooks.received:
        assert r.signed_by(token), r
        assert r.params["CallSid"] == call.sid
        assert r.params["AccountSid"] == sandbox.sandbox.account_sid
    done = statuses[-1].params
    assert done["CallbackSource"] == "call-progress-events"
    assert done["AnsweredBy"] == "human"
    assert int(done["CallDuration"]) > 0 and done["Duration"] == done["CallDuration"]
    assert done["Called"] == CUSTOMER and done["Caller"] == SENDER
    assert done["Direction"] == "outbound-api" and done["ApiVersion"] == "2010-04-01"
    assert done["Timestamp"].endswith("+0000")

    voice = webhooks.requests("/voice")[0].params
    assert voice["CallStatus"] == "in-progress" and voice["AnsweredBy"] == "human"
    assert webhooks.requests("/convenience")[0].params["Digits"] == "1"
    assert webhooks.requests("/satisfaction")[0].params["Digits"] == "3"
    fetched = twilio_client.calls(call.sid).fetch()
    assert fetched.status == "completed" and fetched.answered_by == "human"
    assert int(fetched.duration) == int(done["CallDuration"])
    (contact,) = sandbox.sandbox.contacts(to=CUSTOMER)
    assert contact.digits == ("1", "3") and contact.status == "completed"
    assert contact.rang_at is not None and contact.answered_by == "human"


def test_silence_falls_through_the_gather(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    script(webhooks)
    sandbox.sandbox.person(CUSTOMER, "human", digits=[""])
    place(twilio_client, webhooks)
    sandbox.settle()
    assert webhooks.requests("/convenience") == []
    assert webhooks.requests("/status")[-1].params["CallStatus"] == "completed"


def test_redirect_relative_url_and_unknown_verbs(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    webhooks.answer("/voice", "<Response><Record/><Redirect>/next</Redirect></Response>")
    webhooks.answer("/next", "<Response><Pause length='3'/></Response>")
    sandbox.sandbox.person(CUSTOMER, "human")
    place(twilio_client, webhooks)
    sandbox.settle()
    assert len(webhooks.requests("/next")) == 1
    assert webhooks.requests("/status")[-1].params["CallStatus"] == "completed"


@pytest.mark.parametrize(
    ("kind", "final", "rings"),
    [("busy", "busy", False), ("no_answer", "no-answer", True), ("failed", "failed", False)],
)
def test_unanswered_outcomes(
    sandbox: SandboxHarness,
    twilio_client: Client,
    webhooks: WebhookReceiver,
    kind: str,
    final: str,
    rings: bool,
) -> None:
    sandbox.sandbox.person(CUSTOMER, kind)  # type: ignore[arg-type]
    call = place(twilio_client, webhooks, timeout=25)
    start = sandbox.clock.now()
    sandbox.settle()
    statuses = [r.params["CallStatus"] for r in webhooks.requests("/status")]
    assert statuses[-1] == final
    assert ("ringing" in statuses) is rings
    assert webhooks.requests("/voice") == []
    fetched = twilio_client.calls(call.sid).fetch()
    assert fetched.status == final
    (contact,) = sandbox.sandbox.contacts(to=CUSTOMER)
    assert (contact.rang_at is not None) is rings
    if kind == "no_answer":
        assert contact.ended_at == start + timedelta(seconds=25)
    if kind == "failed":
        assert webhooks.requests("/status")[-1].params["ErrorCode"]


def test_answering_machine_hears_the_script_but_presses_nothing(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    script(webhooks)
    sandbox.sandbox.person(CUSTOMER, "machine")
    place(twilio_client, webhooks, machine_detection="Enable")
    sandbox.settle()
    assert webhooks.requests("/voice")[0].params["AnsweredBy"] == "machine_start"
    assert webhooks.requests("/convenience") == []
    assert sandbox.sandbox.contacts(to=CUSTOMER)[0].answered_by == "machine"


def test_only_the_final_callback_without_status_callback_event(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    sandbox.sandbox.person(CUSTOMER, "busy")
    twilio_client.calls.create(
        to=CUSTOMER, from_=SENDER, url=webhooks.url("/voice"), status_callback=webhooks.url("/s")
    )
    sandbox.settle()
    assert [r.params["CallStatus"] for r in webhooks.requests("/s")] == ["busy"]
    assert "AnsweredBy" not in webhooks.requests("/s")[0].params


def test_broken_webhook_ends_the_call(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    webhooks.answer("/voice", 500)
    sandbox.sandbox.person(CUSTOMER, "human")
    call = place(twilio_client, webhooks)
    sandbox.settle()
    assert twilio_client.calls(call.sid).fetch().status == "completed"
    assert sandbox.sandbox.contacts(to=CUSTOMER)[0].error == "11200"


def test_calls_are_queued_at_the_account_cps(
    make_sandbox: MakeSandbox, webhooks: WebhookReceiver
) -> None:
    h = make_sandbox(cps=2.0)
    client = h.client()
    t0 = h.clock.now()
    numbers = [f"+8869120000{i:02d}" for i in range(6)]
    for n in numbers:
        h.sandbox.person(n, "busy")
        client.calls.create(to=n, from_=SENDER, url=webhooks.url("/voice"))
    queue_times = [int(c.queue_time) for c in client.calls.list()]
    assert sorted(queue_times) == [0, 500, 1000, 1500, 2000, 2500]
    h.settle()
    starts = sorted(c.started_at for c in h.sandbox.contacts() if c.started_at)
    assert starts[0] == t0
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert all(g >= 0.5 for g in gaps)


def test_ring_times_spaced_by_cps_while_the_clock_moves(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    numbers = [f"+8869120001{i:02d}" for i in range(4)]
    for n in numbers:
        sandbox.sandbox.person(n, "no_answer")
        twilio_client.calls.create(to=n, from_=SENDER, url=webhooks.url("/voice"))
        sandbox.advance(0.25)
    sandbox.settle()
    rang = sorted(c.rang_at for c in sandbox.sandbox.contacts() if c.rang_at)
    assert len(rang) == 4
    assert all((b - a).total_seconds() >= 1.0 for a, b in itertools.pairwise(rang))


def test_cancel_a_queued_call_and_hang_up_a_live_one(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    script(webhooks)
    sandbox.sandbox.person(CUSTOMER, "human")
    sandbox.sandbox.person("+886912000999", "human", ring_seconds=5)
    first = place(twilio_client, webhooks, to="+886912000999")
    queued = place(twilio_client, webhooks)
    assert queued.queue_time == "1000"
    canceled = twilio_client.calls(queued.sid).update(status="canceled")
    assert canceled.status == "canceled"
    sandbox.advance(6)
    assert twilio_client.calls(first.sid).fetch().status == "in-progress"
    assert twilio_client.calls(first.sid).update(status="completed").status == "completed"
    sandbox.settle()
    assert [
        r.params["CallStatus"]
        for r in webhooks.requests("/status")
        if r.params["CallSid"] == queued.sid
    ] == ["canceled"]
    assert sandbox.sandbox.contacts(to=CUSTOMER)[0].rang_at is None
    finals = [
        r.params["CallStatus"]
        for r in webhooks.requests("/status")
        if r.params["CallSid"] == first.sid
    ]
    assert finals[-1] == "completed" and finals.count("completed") == 1


def test_list_filters_and_pages_through_the_sdk(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    for _i in range(7):
        twilio_client.calls.create(to=CUSTOMER, from_=SENDER, url=webhooks.url("/v"))
    for _i in range(3):
        twilio_client.calls.create(to="+886912000002", from_="+15005550007", url=webhooks.url("/v"))
    mine = list(twilio_client.calls.list(to=CUSTOMER, page_size=3))
    assert len(mine) == 7 and len({c.sid for c in mine}) == 7
    assert len(list(twilio_client.calls.list(from_="+15005550007", page_size=2))) == 3
    assert len(list(twilio_client.calls.list(page_size=4))) == 10
    page = twilio_client.calls.page(page_size=4)
    assert page.next_page_url is not None
    second = page.next_page()
    assert len(list(second)) == 4 and second.previous_page_url is not None
    assert twilio_client.calls.list(status="queued", limit=100)
    # StartTime filters see only calls that have started (docs/calls.md, never twice: queued calls
    # are missed).
    today = sandbox.clock.now().date()
    assert len(list(twilio_client.calls.list(start_time=today))) == 0
    sandbox.settle()
    assert len(list(twilio_client.calls.list(start_time_after=today, to=CUSTOMER))) == 7
    assert len(list(twilio_client.calls.list(start_time_before=today - timedelta(days=1)))) == 0


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", 21217),
        ("+15005550002", 21214),
        ("+15005550003", 21215),
        ("+15005550004", 21216),
        ("0912345678", 21211),
    ],
)
def test_test_numbers_raise_their_error_codes(
    twilio_client: Client, webhooks: WebhookReceiver, to: str, code: int
) -> None:
    with pytest.raises(TwilioRestException) as info:
        twilio_client.calls.create(to=to, from_=SENDER, url=webhooks.url("/v"))
    assert info.value.code == code and info.value.status == 400
    assert info.value.uri.endswith("/Calls.json")


def test_twilios_message_quoting_the_number_is_masked_at_the_boundary(
    sandbox: SandboxHarness, webhooks: WebhookReceiver
) -> None:
    sb = sandbox.sandbox
    telephony = Telephony(sb.account_sid, sb.auth_token, base_url=sandbox.base_url)
    with pytest.raises(PermanentTelephonyError) as info:
        telephony.place_call(
            to="0912345678", from_=SENDER, url=webhooks.url("/v"),
            status_callback=webhooks.url("/s"), ring_timeout=30,
        )  # fmt: skip
    assert info.value.code == 21211 and "Invalid 'To' Phone Number" in str(info.value)
    assert "0912345678" not in str(info.value) and "0••••••678" in str(info.value)


def test_missing_url_and_unknown_sid(twilio_client: Client) -> None:
    with pytest.raises(TwilioRestException) as info:
        twilio_client.calls.create(to=CUSTOMER, from_=SENDER)
    assert info.value.code == 21205
    with pytest.raises(TwilioRestException) as info:
        twilio_client.calls("CA" + "0" * 32).fetch()
    assert (info.value.status, info.value.code) == (404, 20404)


def test_wrong_credentials_are_refused(sandbox: SandboxHarness) -> None:
    from dialer.telephony.http import RewritingHttpClient

    bad = Client(
        sandbox.sandbox.account_sid, "wrong", http_client=RewritingHttpClient(sandbox.base_url)
    )
    with pytest.raises(TwilioRestException) as info:
        bad.calls.create(to=CUSTOMER, from_=SENDER, url="http://127.0.0.1:9/v")
    assert (info.value.status, info.value.code) == (401, 20003)
    assert sandbox.sandbox.contacts() == []


def test_the_log_tells_who_rang_when_and_how_often(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    sandbox.sandbox.person(CUSTOMER, "no_answer")
    for _ in range(3):
        place(twilio_client, webhooks)
        sandbox.settle()
        sandbox.advance(3600)
    contacts = sandbox.sandbox.contacts(to=CUSTOMER, kind="call")
    rings = [c.rang_at for c in contacts if c.rang_at is not None]
    assert len(contacts) == len(rings) == 3
    assert rings[1] - rings[0] >= timedelta(hours=1)
    assert sandbox.sandbox.requests[("POST", "calls")][0] <= rings[0]

    auth = (sandbox.sandbox.account_sid, sandbox.sandbox.auth_token)
    log = requests.get(f"{sandbox.base_url}/sandbox/log.json", auth=auth, timeout=5).json()
    assert [c["rang_at"] for c in log["contacts"]] == [r.isoformat() for r in rings]
    assert {"method": "POST", "resource": "calls", "count": 3} in [
        {k: v for k, v in r.items() if k != "arrivals"} for r in log["requests"]
    ]


def test_speed_runs_simulated_durations_faster(
    make_sandbox: Callable[..., SandboxHarness], webhooks: WebhookReceiver
) -> None:
    h = make_sandbox(speed=60.0)
    h.sandbox.person(CUSTOMER, "no_answer")
    h.client().calls.create(to=CUSTOMER, from_=SENDER, url=webhooks.url("/v"), timeout=60)
    h.settle()
    (contact,) = h.sandbox.contacts()
    assert contact.status == "no-answer"
    assert contact.ended_at is not None and contact.rang_at is not None
    assert contact.ended_at - contact.rang_at == timedelta(seconds=1)


def test_background_pumping_in_real_time_mode(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    """The pump thread runs due events by itself; the test waits for the callback, not for time."""
    sandbox.sandbox.person(CUSTOMER, "busy")
    sandbox.sandbox.run_in_background(interval=0.005)
    try:
        twilio_client.calls.create(
            to=CUSTOMER, from_=SENDER, url=webhooks.url("/v"), status_callback=webhooks.url("/s")
        )
        sandbox.clock.advance(60)
        (done,) = webhooks.wait_for("/s", 1, timeout=10)
    finally:
        sandbox.sandbox.stop_background()
    assert done.params["CallStatus"] == "busy"


def test_a_late_pump_keeps_the_virtual_timeline(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    """One pump after a one-hour jump runs the whole call at the times it was due."""
    script(webhooks)
    sandbox.sandbox.person(CUSTOMER, "human", digits=["1", "2"], ring_seconds=7)
    t0 = sandbox.clock.now()
    place(twilio_client, webhooks)
    sandbox.clock.advance(3600)
    assert sandbox.sandbox.pump() > 5
    assert sandbox.sandbox.next_event_at() is None
    (contact,) = sandbox.sandbox.contacts()
    assert contact.rang_at == t0 and contact.answered_at == t0 + timedelta(seconds=7)
    assert contact.ended_at is not None and contact.ended_at < t0 + timedelta(minutes=2)
    stamps = [r.params["Timestamp"] for r in webhooks.requests("/status")]
    assert stamps[0] == "Mon, 23 Nov 2026 02:00:00 +0000"


def test_updating_a_live_call_with_twiml_or_url_redirects_it(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    webhooks.answer("/voice", "<Response><Pause length='600'/></Response>")
    webhooks.answer("/moved", "<Response><Say>moved</Say><Hangup/></Response>")
    sandbox.sandbox.person(CUSTOMER, "human", ring_seconds=5)
    call = place(twilio_client, webhooks)
    sandbox.advance(10)
    assert twilio_client.calls(call.sid).fetch().status == "in-progress"
    twilio_client.calls(call.sid).update(url=webhooks.url("/moved"))
    sandbox.advance(30)  # well before the 600 s pause would have ended
    assert len(webhooks.requests("/moved")) == 1
    assert twilio_client.calls(call.sid).fetch().status == "completed"
    sandbox.settle()  # the old document's pending pause is dropped, not played on
    assert [r.params["CallStatus"] for r in webhooks.requests("/status")].count("completed") == 1
    assert len(webhooks.requests("/voice")) == 1


def test_a_redirect_loop_ends_the_call_instead_of_spinning(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    webhooks.answer("/voice", "<Response><Redirect>/voice</Redirect></Response>")
    sandbox.sandbox.person(CUSTOMER, "human")
    call = place(twilio_client, webhooks)
    sandbox.settle()
    assert len(webhooks.requests("/voice")) == 101  # the 101st document is refused
    assert twilio_client.calls(call.sid).fetch().status == "completed"
    assert sandbox.sandbox.contacts()[0].error == "12100"


def test_an_endless_menu_hangs_up_at_the_four_hour_limit(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    webhooks.answer(
        "/voice",
        "<Response><Gather timeout='bogus'><Pause length='3000'/></Gather>"
        "<Redirect method='POST'>/voice</Redirect></Response>",
    )
    sandbox.sandbox.person(CUSTOMER, "human", digits=[])
    place(twilio_client, webhooks)
    sandbox.settle()
    (contact,) = sandbox.sandbox.contacts()
    assert contact.status == "completed" and contact.duration is not None
    assert 4 * 3600 <= contact.duration < 4 * 3600 + 3600
