"""SMS through the unmodified Twilio SDK: queueing, delivery callbacks, replies, expiry, errors."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from dialer.telephony.sandbox.testing import SandboxHarness, WebhookReceiver

MakeSandbox = Callable[..., SandboxHarness]

SENDER = "+15005550006"
CUSTOMER = "+886912345678"


def test_delivery_callbacks_and_a_signed_reply(
    sandbox: SandboxHarness, twilio_client: Client, webhooks: WebhookReceiver
) -> None:
    sb = sandbox.sandbox
    sb.inbound_sms_url = webhooks.url("/sms-in")
    sb.person(CUSTOMER, sms_reply="服務很好")
    msg = twilio_client.messages.create(
        to=CUSTOMER, from_=SENDER, body="您好，感謝您的光臨！", status_callback=webhooks.url("/sms")
    )
    assert msg.sid.startswith("SM") and msg.status == "queued" and msg.num_segments == "1"
    assert msg.price is None and msg.direction == "outbound-api"
    sandbox.settle()
    statuses = webhooks.requests("/sms")
    assert [r.params["MessageStatus"] for r in statuses] == ["queued", "sent", "delivered"]
    assert all(r.params["MessageSid"] == r.params["SmsSid"] == msg.sid for r in statuses)
    (reply,) = webhooks.requests("/sms-in")
    assert reply.params["Body"] == "服務很好"
    assert reply.params["From"] == CUSTOMER and reply.params["To"] == SENDER
    assert reply.params["NumMedia"] == "0" and reply.params["NumSegments"] == "1"
    for r in webhooks.received:
        assert r.signed_by(sb.auth_token)
    assert twilio_client.messages(msg.sid).fetch().status == "delivered"
    (contact,) = sb.contacts(to=CUSTOMER, kind="sms")
    assert contact.sms_reply == "服務很好" and contact.rang_at is not None
    inbound = list(twilio_client.messages.list(from_=CUSTOMER))
    assert [m.direction for m in inbound] == ["inbound"] and inbound[0].body == "服務很好"


@pytest.mark.parametrize(("delivery", "code"), [("undelivered", "30003"), ("failed", "30008")])
def test_undelivered_and_failed(
    sandbox: SandboxHarness,
    twilio_client: Client,
    webhooks: WebhookReceiver,
    delivery: str,
    code: str,
) -> None:
    sandbox.sandbox.person(CUSTOMER, sms_delivery=delivery, sms_reply="1")  # type: ignore[arg-type]
    sandbox.sandbox.inbound_sms_url = webhooks.url("/sms-in")
    msg = twilio_client.messages.create(
        to=CUSTOMER, from_=SENDER, body="hi", status_callback=webhooks.url("/sms")
    )
    sandbox.settle()
    last = webhooks.requests("/sms")[-1].params
    assert last["MessageStatus"] == delivery and last["ErrorCode"] == code
    assert webhooks.requests("/sms-in") == []
    fetched = twilio_client.messages(msg.sid).fetch()
    assert fetched.error_code == int(code)
    assert sandbox.sandbox.contacts(kind="sms")[0].rang_at is None


def test_messages_are_paced_and_expire_past_their_validity_period(
    make_sandbox: MakeSandbox, webhooks: WebhookReceiver
) -> None:
    h = make_sandbox(mps=1.0)
    client = h.client()
    sids = [
        client.messages.create(
            to=f"+8869120000{i:02d}",
            from_=SENDER,
            body="hi",
            validity_period=2,
            status_callback=webhooks.url("/sms"),
        ).sid
        for i in range(4)
    ]
    h.settle()
    statuses = {sid: client.messages(sid).fetch() for sid in sids}
    assert [statuses[s].status for s in sids] == ["delivered", "delivered", "delivered", "failed"]
    assert statuses[sids[3]].error_code == 30001
    sent = sorted(c.started_at for c in h.sandbox.contacts(kind="sms") if c.started_at)
    assert [(b - a) for a, b in itertools.pairwise(sent)] == [timedelta(seconds=1)] * 2


def test_list_and_date_sent_filter(sandbox: SandboxHarness, twilio_client: Client) -> None:
    for i in range(5):
        twilio_client.messages.create(to=CUSTOMER, from_=SENDER, body=f"hi {i}")
    assert len(list(twilio_client.messages.list(to=CUSTOMER, page_size=2))) == 5
    today = sandbox.clock.now().date()
    assert list(twilio_client.messages.list(date_sent=today)) == []
    sandbox.settle()
    assert len(list(twilio_client.messages.list(date_sent=today, to=CUSTOMER, page_size=2))) == 5
    assert list(twilio_client.messages.list(date_sent_before=today - timedelta(days=1))) == []


def test_messaging_service_sid_instead_of_from(twilio_client: Client) -> None:
    service = "MG" + "a" * 32
    msg = twilio_client.messages.create(to=CUSTOMER, messaging_service_sid=service, body="hi")
    assert msg.messaging_service_sid == service


@pytest.mark.parametrize(
    ("to", "body", "code"),
    [
        ("+15005550001", "hi", 21211),
        ("+15005550002", "hi", 21612),
        ("+15005550003", "hi", 21408),
        ("+15005550004", "hi", 21610),
        ("+15005550009", "hi", 21614),
        ("not-a-number", "hi", 21211),
        (CUSTOMER, "", 21602),
    ],
)
def test_errors_surface_as_twilio_rest_exceptions(
    twilio_client: Client, to: str, body: str, code: int
) -> None:
    with pytest.raises(TwilioRestException) as info:
        twilio_client.messages.create(to=to, from_=SENDER, body=body)
    assert info.value.code == code and info.value.status == 400
    assert info.value.msg.startswith("Unable to create record: ")
