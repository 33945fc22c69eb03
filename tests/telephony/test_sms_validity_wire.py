"""An SMS sent at 08:00 with the window open till 21:00: the request Twilio receives carries
ValidityPeriod 36000 (10 hours, Twilio's ceiling), not the 13 hours the window would allow.
Read from the sandbox's own record of the request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from seeding import seed

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox.testing import SandboxHarness
from dialer.webhooks import create_app

CAMPAIGN = Path(__file__).parents[2] / "campaigns" / "after-service-satisfaction.toml"


def test_an_sms_at_0800_goes_out_valid_for_36000_seconds(
    store: Store, clock: SettableClock, make_sandbox: object, tmp_path: Path
) -> None:
    text = CAMPAIGN.read_text(encoding="utf-8")
    text = text.replace('hours = ["09:00-12:00", "13:30-20:30"]', 'hours = ["08:00-21:00"]')
    text = text.replace('rest = ["12:00-13:30", "21:00-09:00"]', 'rest = ["21:00-08:00"]')
    assert 'hours = ["08:00-21:00"]' in text and 'rest = ["21:00-08:00"]' in text
    day = tmp_path / "sms-day.toml"
    day.write_text(text, encoding="utf-8")
    spec = load_campaign(day)
    clock.set(clock.now().replace(hour=0, minute=0))  # Monday 08:00 in Taipei
    harness: SandboxHarness = make_sandbox()  # type: ignore[operator]
    sb = harness.sandbox
    seed(store, clock, spec, n=1, plan_action="sms")
    with AppServer(create_app(store, clock, sb.auth_token)) as hooks:
        config = DispatchConfig(worker_id="w1", public_base_url=hooks.base_url,
                                senders={"default": "+15005550006"}, min_gap=timedelta(0))  # fmt: skip
        telephony = Telephony(sb.account_sid, sb.auth_token, base_url=harness.base_url)
        d = Dispatcher(store, clock, telephony, config)
        try:
            assert d.tick().placed == 1
        finally:
            d.close()
    [message] = sb.messages.records.values()
    assert message.validity_period == 36000
