"""The gate's rules no other test pinned down, each to the second: do-not-contact on the SMS
channel and on `all` stops an SMS; an agreed time is kept from 15 minutes before it to an hour
after it, not a second more; an SMS sent at 08:00 with the window open till 21:00 is valid for
Twilio's 10 hours, not the 13 the window would give."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from gate_inputs import gate_input

from dialer.gate import MAX_SMS_VALIDITY, SMS_DELIVERY_MARGIN, GateInput, check
from dialer.windows import Reachee, WindowPolicy

TPE = ZoneInfo("Asia/Taipei")
# A narrow campaign window, so appointments at 17:00-19:00 fall outside it (inside the 08:00-21:00
# legal floor): only the appointment rule can let those calls go.
NARROW = WindowPolicy(
    weekdays=frozenset(range(6)),
    hours=((time(13, 30), time(14)),),
    rest=(),
    min_open=timedelta(minutes=5),
)
SMS_DAY = WindowPolicy(
    weekdays=frozenset(range(6)), hours=((time(8), time(21)),), rest=(), min_open=timedelta(0)
)
WHO = Reachee(("Asia/Taipei",), region="TW", marketing_consent=None)


def local(h: int, m: int = 0, s: int = 0) -> datetime:
    return datetime(2026, 11, 24, h, m, s, tzinfo=TPE).astimezone(UTC)  # a Tuesday


def gate(**over: object) -> GateInput:
    return gate_input(**{"who": WHO, "policy": NARROW, **over})


@pytest.mark.parametrize("entry", ["sms", "all"])
def test_an_sms_to_a_customer_whose_sms_or_all_channel_is_on_the_dnc_list_is_cancelled(
    entry: str,
) -> None:
    now = local(10)
    sms = gate(channel="sms", policy=SMS_DAY)
    assert check(sms, now).verdict == "go"  # the same SMS without the entry goes
    stopped = check(dataclasses.replace(sms, blocked_channels=frozenset({entry})), now)
    assert (stopped.verdict, stopped.outcome) == ("cancel", "opted_out")


def test_a_voice_only_entry_leaves_the_sms_and_an_all_entry_stops_the_call() -> None:
    now = local(10)
    sms = gate(channel="sms", policy=SMS_DAY, blocked_channels=frozenset({"voice"}))
    assert check(sms, now).verdict == "go"
    call = gate(policy=SMS_DAY, blocked_channels=frozenset({"all"}))
    assert (check(call, now).verdict, check(call, now).outcome) == ("cancel", "opted_out")


def test_an_appointment_goes_from_15_minutes_before_to_an_hour_after_and_not_a_second_more() -> (
    None
):
    at = local(18)  # outside the campaign's window, inside the legal floor
    kept = gate(appointment_at=at)
    assert check(gate(), at).verdict == "defer"  # without the appointment: not now
    assert check(kept, at - timedelta(minutes=15)).verdict == "go"
    assert check(kept, at + timedelta(minutes=60)).verdict == "go"
    early = check(kept, at - timedelta(minutes=15, seconds=1))
    late = check(kept, at + timedelta(minutes=60, seconds=1))
    assert early.verdict == "defer" and late.verdict == "defer"


def test_an_sms_at_0800_with_the_window_open_till_2100_is_valid_for_10_hours_not_13() -> None:
    d = check(gate(channel="sms", policy=SMS_DAY), local(8))
    assert d.verdict == "go"
    assert d.sms_validity == MAX_SMS_VALIDITY == timedelta(hours=10)
    assert d.sms_validity.total_seconds() <= 36000  # Twilio's ValidityPeriod ceiling
    later = check(gate(channel="sms", policy=SMS_DAY), local(12))  # 9 hours left, less the margin
    assert later.sms_validity == timedelta(hours=9) - SMS_DELIVERY_MARGIN
