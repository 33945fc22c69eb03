"""The reaper adopts only a call that can be the lost claim's: one created at or after
`claimed_at - 5 s` (Twilio's clock and ours may differ that much) that no other attempt owns.
An older call, or one another attempt owns, is left alone: the attempt is released to be
dialled, and every SID stays with one attempt."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from seeding import seed
from sqlalchemy import func, select

from dialer import attempts as books
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher
from dialer.models import Attempt, AttemptState
from dialer.reconcile import SKEW
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox.testing import SandboxHarness

SPEC = load_campaign(Path(__file__).parents[2] / "campaigns" / "after-service-satisfaction.toml")
SENDER = "+15005550006"
NUMBER = "+886912345678"
LEASE = timedelta(minutes=2)


def _dispatcher(store: Store, clock: SettableClock, harness: SandboxHarness) -> Dispatcher:
    sb = harness.sandbox
    config = DispatchConfig(worker_id="reaper", public_base_url="http://127.0.0.1:9",
                            senders={"default": SENDER}, min_gap=timedelta(0))  # fmt: skip
    return Dispatcher(store, clock, Telephony(sb.account_sid, sb.auth_token,
                                              base_url=harness.base_url), config)  # fmt: skip


def _claim_all(store: Store, clock: SettableClock) -> list[int]:
    with store.transaction() as s:
        book = books.CampaignBook()
        book.refresh(s)
        books.schedule_due(s, book, clock.now(), {"default": SENDER})
        return sorted(books.claim(s, "dead-dispatcher", clock.now(), LEASE, 10))


def _call_at(harness: SandboxHarness, clock: SettableClock, at_offset: float) -> str:
    """A call to NUMBER from SENDER made `at_offset` seconds from now on the shared clock."""
    now = clock.now()
    clock.set(now + timedelta(seconds=at_offset))
    call = harness.client().calls.create(to=NUMBER, from_=SENDER, twiml="<Response/>")
    clock.set(now)
    return str(call.sid)


def _attempt(store: Store, attempt_id: int) -> Attempt:
    with store.sessions() as s:
        a = s.get(Attempt, attempt_id)
        assert a is not None
        return a


@pytest.mark.parametrize(("before", "adopted"), [(SKEW.total_seconds(), True),
                                                  (SKEW.total_seconds() + 1, False)])  # fmt: skip
def test_a_call_made_before_claimed_at_minus_5_s_is_not_adopted(
    store: Store, clock: SettableClock, make_sandbox: object, before: float, adopted: bool
) -> None:
    clock.set(clock.now().replace(hour=2, minute=0, second=0, microsecond=0))
    harness: SandboxHarness = make_sandbox()  # type: ignore[operator]
    seed(store, clock, SPEC, n=1, phones=((NUMBER, "mobile"),))
    [aid] = _claim_all(store, clock)
    assert _attempt(store, aid).claimed_at == clock.now()
    sid = _call_at(harness, clock, -before)  # an older call to the same number, same sender
    clock.advance(LEASE + timedelta(seconds=1))  # the claim's lease ran out: the reaper looks
    d = _dispatcher(store, clock, harness)
    try:
        assert d.reconciler.reap() == (1, 1 if adopted else 0)
    finally:
        d.close()
    a = _attempt(store, aid)
    if adopted:
        assert (a.state, a.provider_sid) == (AttemptState.PLACED, sid)
    else:
        assert (a.state, a.provider_sid) == (AttemptState.SCHEDULED, None)  # released


def test_a_call_another_attempt_owns_is_not_adopted_and_sids_stay_unique(
    store: Store, clock: SettableClock, make_sandbox: object
) -> None:
    clock.set(clock.now().replace(hour=2, minute=0, second=0, microsecond=0))
    harness: SandboxHarness = make_sandbox()  # type: ignore[operator]
    seed(store, clock, SPEC, n=1, phones=((NUMBER, "mobile"),), key_prefix="A")
    seed(store, clock, SPEC, n=1, phones=((NUMBER, "mobile"),), key_prefix="B")  # same number
    lost, owner = _claim_all(store, clock)
    sid = _call_at(harness, clock, 1)  # after both claims: it could be either's
    with store.transaction() as s:
        books.mark_placed(s, owner, sid, "queued", clock.now(), timedelta(hours=1))
    clock.advance(LEASE + timedelta(seconds=1))
    d = _dispatcher(store, clock, harness)
    try:
        assert d.reconciler.reap() == (1, 0)
    finally:
        d.close()
    a = _attempt(store, lost)
    assert (a.state, a.provider_sid) == (AttemptState.SCHEDULED, None)  # released, to be dialled
    assert _attempt(store, owner).provider_sid == sid
    with store.sessions() as s:
        assert s.scalar(select(func.count()).where(Attempt.provider_sid == sid)) == 1
