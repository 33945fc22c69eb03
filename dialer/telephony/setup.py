"""Which Twilio to talk to, decided once from Settings.

With credentials and no API base: Twilio itself, and then a public https base URL for the
webhooks is required (Twilio cannot post to a laptop). With `DIALER_TWILIO_API_BASE`: a sandbox
running elsewhere (`dialer sandbox`). With no credentials: None, and `dialer run` starts its own
sandbox.
"""

from __future__ import annotations

from dialer.config import Settings
from dialer.errors import ConfigError
from dialer.telephony.client import Telephony


def telephony_from_settings(settings: Settings, *, required: bool = True) -> Telephony | None:
    """The Telephony the settings describe, or None when there are no credentials."""
    if not settings.has_twilio_credentials:
        if required:
            raise ConfigError(
                "no Twilio credentials: set DIALER_TWILIO_ACCOUNT_SID and DIALER_TWILIO_AUTH_TOKEN "
                "(or run without them to use the bundled sandbox)"
            )
        return None
    assert settings.twilio_account_sid and settings.twilio_auth_token
    if settings.twilio_api_base is None:
        check_public_url(settings.public_base_url)
    return Telephony(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        base_url=settings.twilio_api_base,
    )


def check_public_url(url: str | None) -> str:
    """Twilio posts webhooks to this URL: it must be public https."""
    if not url or not url.startswith("https://"):
        raise ConfigError(
            "talking to Twilio needs DIALER_PUBLIC_BASE_URL set to the public https URL its "
            "webhooks reach this dialer at (e.g. https://dialer.example.com)"
        )
    return url.rstrip("/")
