"""The gate before every request: stops, consent, do-not-contact, caps, windows, appointments."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gate_inputs import gate_input
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.gate import SMS_DELIVERY_MARGIN, GateInput, check
from dialer.windows import Reachee, WindowPolicy, open_seconds

TPE = ZoneInfo("Asia/Taipei")
POLICY = WindowPolicy(
    weekdays=frozenset(range(6)),
    hours=((time(9), time(12)), (time(13, 30), time(20, 30))),
    rest=((time(12), time(13, 30)),),
    min_open=timedelta(minutes=33),
)
SMS_POLICY = dataclasses.replace(POLICY, min_open=timedelta(0))
WHO = Reachee(("Asia/Taipei",), region="TW", marketing_consent=None)


def local(d: int, h: int, m: int = 0, s: int = 0) -> datetime:
    return datetime(2026, 11, d, h, m, s, tzinfo=TPE).astimezone(UTC)


def gate(**over: object) -> GateInput:
    return gate_input(**{"who": WHO, "policy": POLICY, **over})


def test_open_window_goes() -> None:
    assert check(gate(), local(24, 10)).verdict == "go"


def test_stops_come_first() -> None:
    now = local(24, 10)
    assert check(gate(halted=True), now).verdict == "hold"
    assert check(gate(campaign_status="paused"), now).verdict == "hold"
    stopped = check(gate(campaign_status="stopped"), now)
    assert stopped.verdict == "cancel" and "stopped" in stopped.reason


def test_marketing_needs_consent_and_dnc_cancels() -> None:
    now = local(24, 10)
    no = check(gate(purpose="marketing"), now)
    assert (no.verdict, no.outcome) == ("cancel", "not_contactable")
    yes = dataclasses.replace(WHO, marketing_consent=True)
    assert check(gate(purpose="marketing", who=yes), now).verdict == "go"
    dnc = check(gate(blocked_channels=frozenset({"voice"})), now)
    assert (dnc.verdict, dnc.outcome) == ("cancel", "opted_out")
    assert check(gate(blocked_channels=frozenset({"sms"})), now).verdict == "go"
    assert check(gate(number_ok=False), now).verdict == "cancel"


def test_contact_cap_and_gap_defer() -> None:
    now = local(24, 10)
    capped = check(gate(contacts_last_day=3, last_contact_at=now - timedelta(hours=1)), now)
    assert capped.verdict == "defer" and capped.until is not None and capped.until > now
    gap = check(gate(contacts_last_day=1, last_contact_at=now - timedelta(minutes=10)), now)
    assert gap.verdict == "defer" and gap.until == now + timedelta(minutes=20)


def test_window_edges_to_the_second() -> None:
    before = check(gate(channel="sms", policy=SMS_POLICY), local(24, 8, 59, 59))
    assert before.verdict == "defer" and before.until == local(24, 9)
    assert check(gate(channel="sms", policy=SMS_POLICY), local(24, 9)).verdict == "go"
    # A call needs 33 open minutes: it must start before 11:27 to end by the 12:00 lunch rest.
    assert check(gate(), local(24, 11, 26, 59)).verdict == "go"
    late = check(gate(), local(24, 11, 27))
    assert late.verdict == "defer" and late.until == local(24, 13, 30)
    # Sunday is closed: Saturday evening defers to Monday 09:00.
    sunday = check(gate(), local(28, 20, 0))
    assert sunday.verdict == "defer" and sunday.until == local(30, 9)


def test_appointment_inside_the_legal_floor_is_kept_outside_campaign_hours() -> None:
    appointment = local(24, 20, 45)  # after the campaign's 20:30 but inside 08:00-21:00
    assert check(gate(), appointment).verdict == "defer"
    assert check(gate(appointment_at=appointment), appointment).verdict == "go"
    night = local(24, 21, 30)
    assert check(gate(appointment_at=night), night).verdict == "defer"


def test_sms_validity_is_capped_at_the_window_left() -> None:
    d = check(gate(channel="sms", policy=SMS_POLICY), local(24, 11, 0))
    assert d.verdict == "go" and d.sms_validity == timedelta(hours=1) - SMS_DELIVERY_MARGIN


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=14 * 24 * 3600))
def test_a_call_that_goes_finds_its_whole_call_inside_the_window(offset: int) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC) + timedelta(seconds=offset)
    decision = check(gate(), now)
    if decision.verdict == "go":
        need = POLICY.min_open
        open_policy = dataclasses.replace(POLICY, min_open=timedelta(0))
        assert open_seconds(WHO, open_policy, now, now + need) == need.total_seconds()
    else:
        assert decision.verdict == "defer" and decision.until is not None
        assert check(gate(), decision.until).verdict == "go"
