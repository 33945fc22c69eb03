"""RewritingHttpClient: only Twilio's hosts are rewritten, and the SDK's requests really go there."""

from __future__ import annotations

import pytest
from twilio.rest import Client

from dialer.telephony.http import RewritingHttpClient
from dialer.telephony.sandbox.testing import SandboxHarness


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json",
            "http://127.0.0.1:8765/2010-04-01/Accounts/AC1/Calls.json",
        ),
        ("https://api.sydney.au1.twilio.com/x", "http://127.0.0.1:8765/x"),
        ("https://messaging.twilio.com:443/v1/S", "http://127.0.0.1:8765/v1/S"),
        ("https://twilio.com", "http://127.0.0.1:8765"),
        ("https://eviltwilio.com/x", "https://eviltwilio.com/x"),
        ("https://api.twilio.com.example.org/x", "https://api.twilio.com.example.org/x"),
        ("http://api.twilio.com/x", "http://api.twilio.com/x"),
    ],
)
def test_rewrite(url: str, expected: str) -> None:
    assert RewritingHttpClient("http://127.0.0.1:8765/").rewrite(url) == expected


def test_sdk_with_a_region_and_edge_reaches_the_sandbox(sandbox: SandboxHarness) -> None:
    sb = sandbox.sandbox
    client = Client(
        sb.account_sid,
        sb.auth_token,
        region="au1",
        edge="sydney",
        http_client=RewritingHttpClient(sandbox.base_url),
    )
    msg = client.messages.create(to="+61412345678", from_="+15005550006", body="hi")
    assert client.messages(msg.sid).fetch().to == "+61412345678"
    session = client.http_client.session
    assert session is not None and session.trust_env is False  # no proxy for loopback
