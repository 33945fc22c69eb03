"""A call whose callbacks are all lost is settled by asking Twilio: first at its ring deadline
(it is still live then: answered, on a long call), again every minute while Twilio says so, and
ended within the grace + a recheck of its real end (not 15 minutes later)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from seeding import seed

from dialer import attempts as books
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher
from dialer.models import Attempt, AttemptState
from dialer.settle import Settling
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox.testing import SandboxHarness

SPEC = load_campaign(Path(__file__).parents[2] / "campaigns" / "after-service-satisfaction.toml")
SENDER = "+15005550006"
NUMBER = "+886912345678"
LONG_CALL = '<Response><Pause length="150"/></Response>'


def test_a_long_call_with_every_callback_lost_is_settled_soon_after_it_ends(
    store: Store, clock: SettableClock, make_sandbox: object
) -> None:
    clock.set(clock.now().replace(hour=2, minute=0))
    harness: SandboxHarness = make_sandbox()  # type: ignore[operator]
    sb = harness.sandbox
    sb.person(NUMBER, "human", ring_seconds=5)
    seed(store, clock, SPEC, n=1, phones=((NUMBER, "mobile"),))
    settling = Settling()
    with store.transaction() as s:
        book = books.CampaignBook()
        book.refresh(s)
        books.schedule_due(s, book, clock.now(), {"default": SENDER})
        [aid] = books.claim(s, "w1", clock.now(), timedelta(minutes=2), 1)
        call = harness.client().calls.create(
            to=NUMBER, from_=SENDER, twiml=LONG_CALL, status_callback="http://127.0.0.1:9/lost"
        )
        first = settling.call_check(clock.now(), timedelta(0), timedelta(seconds=30))
        books.mark_placed(s, aid, str(call.sid), "queued", clock.now(), first - clock.now())
    config = DispatchConfig(worker_id="w1", public_base_url="http://127.0.0.1:9",
                            senders={"default": SENDER}, settling=settling)  # fmt: skip
    d = Dispatcher(store, clock, Telephony(sb.account_sid, sb.auth_token,
                                           base_url=harness.base_url), config)  # fmt: skip
    try:
        with store.sessions() as s:
            d.book.refresh(s)  # as its tick does before it reaps
        for _ in range(8 * 60):
            harness.advance(1)
            d.reconciler.reap()
    finally:
        d.close()
    rec = sb.calls.records[str(call.sid)]
    assert rec.status == "completed" and rec.ended_at is not None
    assert rec.answered_at is not None and rec.answered_at < first < rec.ended_at  # live at 1st
    with store.sessions() as s:
        a = s.get(Attempt, aid)
        assert a is not None and a.state == AttemptState.COMPLETED
        assert a.provider_status == "completed" and a.ended_at is not None
        assert a.ended_at - rec.ended_at <= settling.grace + settling.recheck
    fetches = len(sb.requests.get(("GET", "call"), []))
    assert 2 <= fetches <= 5  # the first check, a recheck or two, the end: no polling storm
