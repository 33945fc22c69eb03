"""The agent console in the browser (mounted at /console of the webhook app): `create_console_app`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dialer.clock import Clock
from dialer.console_web.app import ClickToCall, create_console_app
from dialer.store import Store

__all__ = ["PATH", "ClickToCall", "create_console_app", "mount_console"]

PATH = "/console"


def mount_console(
    app: Any,
    store: Store,
    clock: Clock,
    *,
    company: str = "",
    click_to_call: ClickToCall | None = None,
    public_base_url: str | None = None,
    auth_token: str | None = None,
    senders: Mapping[str, str] | None = None,
) -> None:
    """Serve the console at /console of `app` (cookies Secure when the public URL is https);
    with `click_to_call` (and Twilio's `auth_token` for its bridge TwiML) agents' calls ring
    their own phone first, else they dial the number shown."""
    secure = bool(public_base_url and public_base_url.startswith("https://"))
    console = create_console_app(
        store, clock, company=company, click_to_call=click_to_call, secure_cookies=secure,
        auth_token=auth_token, public_base_url=public_base_url, senders=senders,
    )  # fmt: skip
    app.mount(PATH, console)
