"""A 40 s web outage loses no status: Twilio's retries (connection overrides) carry the
callbacks that fail near its end, and the dispatcher asks Twilio about the rest at their settle
checks, each within two minutes of its call's end. On the test clock, over loopback HTTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from seeding import seed
from sqlalchemy import select

from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher
from dialer.models import Attempt, AttemptState
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.overrides import STATUS_CALLBACK, TWIML
from dialer.telephony.sandbox.testing import SandboxHarness
from dialer.webhooks import create_app

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SPEC = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
ENDED = {AttemptState.COMPLETED, AttemptState.FAILED}


def test_a_40_second_web_outage_loses_no_status(
    store: Store, clock: SettableClock, make_sandbox: object
) -> None:
    clock.set(clock.now().replace(hour=2, minute=0))  # Monday 10:00 in Taipei
    harness: SandboxHarness = make_sandbox(cps=2.0, seed=5)  # type: ignore[operator]
    sb = harness.sandbox
    seed(store, clock, SPEC, n=30)
    web = AppServer(create_app(store, clock, sb.auth_token)).start()
    port = web.port
    telephony = Telephony(sb.account_sid, sb.auth_token, base_url=harness.base_url)
    config = DispatchConfig(
        worker_id="w1",
        public_base_url=web.base_url,
        senders={"default": "+15005550006"},
        cps=2.0,
        max_in_flight=4,
        min_gap=timedelta(0),
    )
    d = Dispatcher(store, clock, telephony, config)
    start = clock.now()
    down_at, up_at = start + timedelta(seconds=20), start + timedelta(seconds=60)
    try:
        while clock.now() < start + timedelta(minutes=12):
            if web is not None and down_at <= clock.now() < up_at:
                web.stop()
                web = None
            if web is None and clock.now() >= up_at:
                web = AppServer(create_app(store, clock, sb.auth_token), port=port).start()
            d.tick()
            harness.advance(1.0)
    finally:
        d.close()
        if web is not None:
            web.stop()
    records = {r.sid: r for r in sb.calls.records.values()}
    assert len(records) == 30
    assert all(r.status_callback and r.status_callback.endswith("#" + STATUS_CALLBACK.fragment())
               and r.url and r.url.endswith("#" + TWIML.fragment()) for r in records.values())  # fmt: skip
    assert sb.webhooks.given_up > 0  # the outage did cost callbacks,
    assert sb.webhooks.retried["ct"] > 0  # and retries carried some over its end
    ended_during = 0
    with store.sessions() as s:
        for a in s.scalars(select(Attempt)):
            rec = records[a.provider_sid]
            assert a.state in ENDED and a.provider_status == rec.status  # no status lost
            assert rec.ended_at is not None and a.ended_at is not None
            assert a.ended_at - rec.ended_at <= timedelta(minutes=2)
            ended_during += down_at <= rec.ended_at < up_at
    assert ended_during >= 5  # the outage hit calls as they ended
