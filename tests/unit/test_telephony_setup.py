"""Which Twilio to talk to: real Twilio needs a public https URL; no credentials, no client."""

from __future__ import annotations

import pytest

from dialer.config import Settings
from dialer.errors import ConfigError
from dialer.telephony.client import Telephony
from dialer.telephony.setup import check_public_url, telephony_from_settings

SID = "AC" + "1" * 32


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_no_credentials_means_the_sandbox() -> None:
    assert telephony_from_settings(settings(), required=False) is None
    with pytest.raises(ConfigError, match="no Twilio credentials"):
        telephony_from_settings(settings())


def test_real_twilio_refuses_without_a_public_https_url() -> None:
    with pytest.raises(ConfigError, match="public https URL"):
        telephony_from_settings(settings(twilio_account_sid=SID, twilio_auth_token="t"))
    with pytest.raises(ConfigError, match="public https URL"):
        telephony_from_settings(
            settings(
                twilio_account_sid=SID, twilio_auth_token="t", public_base_url="http://x.example"
            )
        )
    ok = telephony_from_settings(
        settings(
            twilio_account_sid=SID,
            twilio_auth_token="t",
            public_base_url="https://dialer.example.com/",
        )
    )
    assert isinstance(ok, Telephony) and ok.base_url is None
    assert check_public_url("https://dialer.example.com/") == "https://dialer.example.com"


def test_a_sandbox_elsewhere_needs_no_public_url() -> None:
    t = telephony_from_settings(
        settings(
            twilio_account_sid=SID, twilio_auth_token="t", twilio_api_base="http://127.0.0.1:9"
        )
    )
    assert (
        isinstance(t, Telephony)
        and t.http.rewrite("https://api.twilio.com/x") == "http://127.0.0.1:9/x"
    )
