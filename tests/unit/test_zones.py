"""Never at night (issue 17): numbers whose zones disagree or are missing, state floors, SMS edge.

The fixed cases are the counterexamples the independent checks found. The property at the end
holds the window engine against a reference written here from zoneinfo and the statutes alone
(none of `dialer.windows`): no open instant is outside 08:00–21:00, or the state's floor, in any
candidate zone of the dialled number.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from gate_inputs import gate_input
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dialer.area_codes import AREA_CODE_STATES, number_subdivisions
from dialer.calendars import SUBDIVISION_FLOOR, safe_zones
from dialer.campaigns import CampaignError, load_campaign
from dialer.errors import ConfigError, RowError
from dialer.gate import MIN_SMS_VALIDITY, SMS_DELIVERY_MARGIN, GateInput, check
from dialer.phones import parse_phone
from dialer.plan_model import dialled_reachee
from dialer.subdivisions import STATE_ZONES, parse_subdivision
from dialer.windows import (
    Reachee,
    Span,
    WindowPolicy,
    closed_reason,
    effective_zones,
    is_open,
    next_open,
    open_intervals,
)

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
NYC = ZoneInfo("America/New_York")
TPE = ZoneInfo("Asia/Taipei")
SEL = ZoneInfo("Asia/Seoul")
BOI = ZoneInfo("America/Boise")
LAX = ZoneInfo("America/Los_Angeles")
ADK = ZoneInfo("America/Adak")
ANC = ZoneInfo("America/Anchorage")
EVERY_DAY = frozenset(range(7))
# The shipped after-service campaign's window, with Taipei as the default zone.
TAIPEI_CAMPAIGN = WindowPolicy(
    weekdays=frozenset(range(6)),
    hours=((time(9), time(12)), (time(13, 30), time(20, 30))),
    rest=((time(12), time(13, 30)), (time(21), time(9))),
    default_zone="Asia/Taipei",
)


def number(e164: str, customer: Reachee | None = None) -> Reachee:
    """The window of a call to `e164`, as the dispatcher builds it from the stored number."""
    parsed = parse_phone(e164, "US")
    return dialled_reachee(
        customer or Reachee(region=parsed.region),
        parsed.e164,
        parsed.time_zones,
        parsed.region,
        zone_explicit=False,
    )


def gate(who: Reachee, policy: WindowPolicy, **over: object) -> GateInput:
    return gate_input(who, policy, **{"contact_cap": 5, **over})


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)  # type: ignore[misc]


def week(who: Reachee, policy: WindowPolicy, start: datetime) -> list[tuple[datetime, datetime]]:
    return open_intervals(who, policy, start, start + timedelta(days=7))


# ------------------------------------------------------------------ the counterexamples


def test_new_york_mobile_and_taipei_landline_never_rings_at_night() -> None:
    customer = Reachee(("America/New_York", "Asia/Taipei"), region="US")
    night = local(NYC, 2027, 1, 12, 0, 30)  # the first try found: 00:30 New York
    # The plan's customer-wide window: the law of both zones, never Taipei alone.
    assert not is_open(customer, TAIPEI_CAMPAIGN, night)
    choice = effective_zones(customer, TAIPEI_CAMPAIGN)
    assert choice.zones == ("America/New_York", "Asia/Taipei") and choice.reason
    for a, b in week(customer, TAIPEI_CAMPAIGN, night):
        for t in (a, b - timedelta(microseconds=1)):
            assert time(8) <= t.astimezone(NYC).time() < time(21)
            assert time(8) <= t.astimezone(TPE).time() < time(21)
    # The call to the New York mobile rings in New York: its zone binds it, and the gate agrees.
    mobile = number("+12125550123", customer)
    assert mobile.time_zones == ("America/New_York",)
    decision = check(gate(mobile, TAIPEI_CAMPAIGN), night)
    assert decision.verdict == "defer" and decision.until is not None
    assert decision.until.astimezone(NYC) == datetime(2027, 1, 12, 9, tzinfo=NYC)
    landline = number("+886223456789", customer)
    assert check(gate(landline, TAIPEI_CAMPAIGN), local(TPE, 2027, 1, 12, 10)).verdict == "go"


def test_idaho_number_with_evening_hours_keeps_them_in_boise_and_the_law_in_los_angeles() -> None:
    boise = number("+12085550123")
    assert boise.time_zones == ("America/Boise", "America/Los_Angeles")
    evening = WindowPolicy(weekdays=EVERY_DAY, hours=((time(19), time(20)),))
    assert not is_open(boise, evening, local(BOI, 2027, 1, 12, 4))  # the 04:00 Boise found
    choice = effective_zones(boise, evening)
    assert choice.hours_in == ("America/Boise",)
    assert choice.reason is not None and "campaign hours in America/Boise" in choice.reason
    spans = week(boise, evening, local(BOI, 2027, 1, 11))
    assert len(spans) == 7
    for a, b in spans:
        assert a.astimezone(BOI).time() == time(19) and b.astimezone(BOI).time() == time(20)
        assert time(8) <= a.astimezone(LAX).time() and b.astimezone(LAX).time() <= time(21)


def test_alaska_number_on_a_monday_only_campaign_opens_on_monday_in_both_zones() -> None:
    alaska = number("+19075550123")
    assert alaska.time_zones == ("America/Adak", "America/Anchorage")
    mondays = WindowPolicy(weekdays=frozenset({0}), hours=((time(9), time(10)),))
    sunday = local(ADK, 2027, 1, 10, 14)  # the Sunday 14:00 Adak found
    assert not is_open(alaska, mondays, sunday)
    first = next_open(alaska, mondays, sunday)
    assert first is not None
    assert first.astimezone(ADK).weekday() == 0 and first.astimezone(ANC).weekday() == 0
    assert first.astimezone(ADK) == datetime(2027, 1, 11, 9, tzinfo=ADK)


@pytest.mark.parametrize(
    ("purpose", "end"), [("service", time(21)), ("marketing", time(20))], ids=["service", "mkt"]
)
def test_toll_free_only_customer_gets_the_country_safe_window(purpose: str, end: time) -> None:
    toll_free = number("+18005550123")
    assert toll_free.time_zones == () and toll_free.region == "US"
    wide = WindowPolicy(weekdays=EVERY_DAY, hours=((time(7), time(22)),), purpose=purpose)
    who = dataclasses.replace(toll_free, marketing_consent=True)
    choice = effective_zones(who, wide)
    assert choice.zones == ("America/New_York", "America/Los_Angeles")
    assert choice.reason is not None and "number has no time zone" in choice.reason
    assert not is_open(who, wide, local(NYC, 2027, 1, 12, 21, 30))  # the 21:30 New York found
    spans = week(who, wide, local(NYC, 2027, 1, 11))
    assert [(a.astimezone(NYC).time(), b.astimezone(NYC).time()) for a, b in spans] == [
        (time(11), end)
    ] * 7


def test_miami_number_at_20_15_is_closed_for_marketing_by_florida_law() -> None:
    miami = dataclasses.replace(number("+13055550123"), marketing_consent=True)
    assert miami.subdivisions == ("US-FL",)
    marketing = WindowPolicy(weekdays=EVERY_DAY, hours=((time(7), time(22)),), purpose="marketing")
    trigger = local(NYC, 2027, 1, 12, 20, 15, 5)
    assert not is_open(miami, marketing, trigger)
    reason = closed_reason(miami, marketing, trigger)
    assert reason is not None and "08:00–20:00" in reason and "US-FL" in reason
    decision = check(gate(miami, marketing), trigger)
    assert decision.verdict == "defer"
    assert decision.until == local(NYC, 2027, 1, 13, 8)
    # An after-service callback is not a telephone solicitation: the federal 21:00 stands.
    service = dataclasses.replace(marketing, purpose="service")
    assert is_open(miami, service, trigger)


def test_florida_caps_marketing_at_three_contacts_a_day() -> None:
    miami = dataclasses.replace(number("+13055550123"), marketing_consent=True)
    marketing = WindowPolicy(weekdays=EVERY_DAY, hours=((time(9), time(18)),), purpose="marketing")
    now = local(NYC, 2027, 1, 12, 12)
    last = now - timedelta(hours=2)
    capped = check(gate(miami, marketing, contacts_last_day=3, last_contact_at=last), now)
    assert capped.verdict == "defer" and "Fla. Stat. §501.616(6)(a)" in capped.reason
    two = check(gate(miami, marketing, contacts_last_day=2, last_contact_at=last), now)
    assert two.verdict == "go"
    new_york = dataclasses.replace(number("+12125550123"), marketing_consent=True)
    federal = check(gate(new_york, marketing, contacts_last_day=3, last_contact_at=last), now)
    assert federal.verdict == "go"  # no cap in New York below the configured 5


def test_korean_sms_at_20_59_50_waits_for_the_next_window() -> None:
    seoul = Reachee(("Asia/Seoul",), region="KR", marketing_consent=True)
    sms = WindowPolicy(weekdays=EVERY_DAY, hours=((time(9), time(21)),), purpose="marketing")
    late = local(SEL, 2027, 1, 12, 20, 59, 50)
    decision = check(gate(seoul, sms, channel="sms"), late)
    assert decision.verdict == "defer" and decision.sms_validity is None
    assert decision.until == local(SEL, 2027, 1, 13, 9)
    # Earlier the validity is what is left of the window minus the delivery margin.
    at = local(SEL, 2027, 1, 12, 20, 50)
    sent = check(gate(seoul, sms, channel="sms"), at)
    assert sent.verdict == "go"
    assert sent.sms_validity == timedelta(minutes=10) - SMS_DELIVERY_MARGIN
    assert at + sent.sms_validity + SMS_DELIVERY_MARGIN <= local(SEL, 2027, 1, 12, 21)
    edge = local(SEL, 2027, 1, 12, 21) - SMS_DELIVERY_MARGIN - MIN_SMS_VALIDITY
    assert check(gate(seoul, sms, channel="sms"), edge).sms_validity == MIN_SMS_VALIDITY
    after = edge + timedelta(microseconds=1)
    assert check(gate(seoul, sms, channel="sms"), after).verdict == "defer"


def test_zones_with_no_legal_moment_in_common_are_not_callable_and_say_so() -> None:
    marketing = WindowPolicy(weekdays=EVERY_DAY, hours=((time(9), time(18)),), purpose="marketing")
    apart = Reachee(("Pacific/Honolulu", "Asia/Seoul", "Europe/London"), marketing_consent=True)
    choice = effective_zones(apart, marketing)
    assert not choice.callable and choice.reason is not None and "not callable" in choice.reason
    now = datetime(2027, 1, 12, tzinfo=UTC)
    assert next_open(apart, marketing, now) is None
    assert closed_reason(apart, marketing, now) == choice.reason
    decision = check(gate(apart, marketing), now)
    assert decision.verdict == "cancel" and decision.reason == f"not callable: {choice.reason}"


def test_state_table_and_safe_zones_are_data_with_sources() -> None:
    assert number_subdivisions("+14055550123") == ("US-OK",)
    assert number_subdivisions("+12125550123") == ()
    assert len([c for c, s in AREA_CODE_STATES.items() if s == ("US-FL",)]) == 23
    for key in ("US-FL", "US-OK"):
        floor = SUBDIVISION_FLOOR[key]
        assert floor.marketing == ((time(8), time(20)),) and floor.marketing_cap == 3
        assert "§" in floor.source
    assert safe_zones("US") == ("America/New_York", "America/Los_Angeles")
    assert safe_zones("TW") == ("Asia/Taipei",)


# ------------------------------------------------------------------ the address's state

CHI = ZoneInfo("America/Chicago")
DEN = ZoneInfo("America/Denver")


def test_toll_free_number_of_a_texan_rings_in_central_and_mountain_not_new_york_to_la() -> None:
    toll_free = number("+18005550123", Reachee(region="US", address="US-TX"))
    wide = WindowPolicy(weekdays=EVERY_DAY, hours=((time(7), time(22)),))
    choice = effective_zones(toll_free, wide)
    assert choice.zones == ("America/Chicago", "America/Denver")
    assert choice.reason is not None and "from the address (US-TX" in choice.reason
    assert choice.floors == ()  # Texas is known: no need for Florida's floor
    # 21:30 New York is 20:30 in Chicago and 19:30 in Denver: open for a Texan, not the US-wide.
    evening = local(NYC, 2027, 1, 12, 21, 30)
    assert is_open(toll_free, wide, evening)
    assert not is_open(number("+18005550123"), wide, evening)
    spans = week(toll_free, wide, local(CHI, 2027, 1, 11))
    assert [(a.astimezone(CHI).time(), b.astimezone(CHI).time()) for a, b in spans] == [
        (time(9), time(21))  # 08:00 Denver to 21:00 Chicago
    ] * 7


def test_new_york_number_of_a_floridian_keeps_floridas_marketing_floor() -> None:
    floridian = Reachee(region="US", marketing_consent=True, address="US-FL")
    mobile = number("+12125550123", floridian)
    assert mobile.time_zones == ("America/New_York",) and mobile.subdivisions == ()
    marketing = WindowPolicy(weekdays=EVERY_DAY, hours=((time(7), time(22)),), purpose="marketing")
    at = local(NYC, 2027, 1, 12, 20, 15)
    assert not is_open(mobile, marketing, at)
    reason = closed_reason(mobile, marketing, at)
    assert reason is not None and "08:00–20:00" in reason and "US-FL" in reason
    decision = check(gate(mobile, marketing), at)
    assert decision.verdict == "defer" and decision.until == local(NYC, 2027, 1, 13, 8)
    spans = week(mobile, marketing, local(NYC, 2027, 1, 11))
    assert {(a.astimezone(NYC).time(), b.astimezone(NYC).time()) for a, b in spans} == {
        (time(8), time(20))
    }
    # Florida's cap of 3 marketing calls a day goes with the customer to the New York number.
    last = local(NYC, 2027, 1, 12, 10)
    capped = check(gate(mobile, marketing, contacts_last_day=3, last_contact_at=last), last)
    assert capped.verdict == "defer" and "Fla. Stat." in capped.reason
    # The same number without the address: the federal 21:00, no cap below the configured one.
    new_yorker = dataclasses.replace(number("+12125550123"), marketing_consent=True)
    assert is_open(new_yorker, marketing, at)


def test_address_narrows_the_campaign_hours_to_its_zone_and_keeps_the_law_in_every_zone() -> None:
    policy = WindowPolicy(weekdays=EVERY_DAY, hours=((time(9), time(20, 30)),))
    idaho = number("+12085550123")
    washingtonian = number("+12085550123", Reachee(region="US", address="US-WA"))
    choice = effective_zones(washingtonian, policy)
    assert choice.zones == ("America/Boise", "America/Los_Angeles")
    assert choice.hours_in == ("America/Los_Angeles",)
    assert choice.reason is not None and "from the address (US-WA)" in choice.reason
    day = local(LAX, 2027, 1, 11)

    # Without the address both zones' hours bind: 09:00-19:30 Los Angeles. With it the campaign
    # hours are Los Angeles', and Boise's 21:00 still ends the day at 20:00 Los Angeles.
    def in_la(who: Reachee) -> set[tuple[time, time]]:
        return {
            (a.astimezone(LAX).time(), b.astimezone(LAX).time()) for a, b in week(who, policy, day)
        }

    assert in_la(idaho) == {(time(9), time(19, 30))}
    assert in_la(washingtonian) == {(time(9), time(20))}


def test_explicit_zone_wins_over_the_address_and_a_foreign_state_gives_no_zones() -> None:
    texan = Reachee(("America/New_York",), region="US", address="US-TX")
    parsed = parse_phone("+18005550123", "US")
    explicit = dialled_reachee(texan, parsed.e164, parsed.time_zones, "US", zone_explicit=True)
    choice = effective_zones(explicit, TAIPEI_CAMPAIGN)
    assert choice.zones == ("America/New_York",) and choice.reason is None
    # A Korean province does not say where a US toll-free number rings: the US safe window.
    korean = number("+18005550123", Reachee(region="US", address="KR-11"))
    assert effective_zones(korean, TAIPEI_CAMPAIGN).zones == safe_zones("US")


def test_state_zones_are_data_with_a_source_and_cover_every_state() -> None:
    import pycountry

    from dialer import subdivisions

    states = {s.code for s in pycountry.subdivisions.get(country_code="US")}  # type: ignore[no-untyped-call]
    assert set(STATE_ZONES) == states - {"US-UM"}  # every state, DC and inhabited territory
    assert STATE_ZONES["US-FL"] == ("America/New_York", "America/Chicago")
    assert STATE_ZONES["US-TX"] == ("America/Chicago", "America/Denver")
    for zones in STATE_ZONES.values():
        assert zones and all(ZoneInfo(z) for z in zones)
    assert "49 CFR Part 71" in Path(subdivisions.__file__).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("cell", "country", "code"),
    [
        ("FL", "US", "US-FL"),
        ("us-fl", "TW", "US-FL"),
        ("Florida", None, "US-FL"),
        ("佛羅里達", "TW", "US-FL"),
        ("弗羅里達州", "US", "US-FL"),
        ("佛罗里达州", "US", "US-FL"),
        (" north carolina ", "US", "US-NC"),
        ("TX", None, "US-TX"),
        ("台北市", "TW", "TW-TPE"),
        ("서울특별시", "KR", "KR-11"),
        ("경기도", "KR", "KR-41"),
    ],
)
def test_state_cells_read_as_iso_3166_2(cell: str, country: str | None, code: str) -> None:
    assert parse_subdivision(cell, country) == code


@pytest.mark.parametrize(
    ("cell", "message"),
    [("Atlantis", "not a known state"), ("Chiayi", "more than one"), ("ZZ", "not a known state")],
)
def test_unknown_state_cells_are_one_clear_sentence(cell: str, message: str) -> None:
    with pytest.raises(RowError, match=message):
        parse_subdivision(cell, "TW")


# --------------------------------------------------------------------- the property

# Reference, from the statutes and zoneinfo only: the candidate zones of each number (the +1 800
# number may ring anywhere in the contiguous states, the zones the safe window is for)
# and the floor in them, per purpose.
CONTIGUOUS = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
              "America/Los_Angeles")  # fmt: skip
REFERENCE: dict[str, tuple[tuple[str, ...], dict[str, tuple[time, time]]]] = {
    "+12085550123": (("America/Boise", "America/Los_Angeles"), {}),
    "+16055550123": (("America/Denver", "America/Chicago"), {}),
    "+19075550123": (("America/Adak", "America/Anchorage"), {}),
    "+18005550123": (CONTIGUOUS, {"marketing": (time(8), time(20))}),  # maybe in Florida
    "+13055550123": (("America/New_York",), {"marketing": (time(8), time(20))}),  # Fla. Stat.
    "+14055550123": (("America/Chicago",), {"marketing": (time(8), time(20))}),  # Okla. Stat.
    "US+TW": (("America/New_York", "Asia/Taipei"), {}),
}
FEDERAL = (time(8), time(21))  # TCPA 47 CFR 64.1200(c)(1); Taiwan's default floor is the same
# The customer's state of residence: where a toll-free number of theirs rings (49 CFR Part 71's
# zones of the state), and whose telephone-solicitation law applies too (Fla. Stat. §501.616(6)(a),
# Okla. Stat. tit. 15 §775C.4: 08:00-20:00), whatever the number's area code.
ADDRESSES: dict[str | None, tuple[tuple[str, ...], dict[str, tuple[time, time]]]] = {
    None: ((), {}),
    "US-FL": (("America/New_York", "America/Chicago"), {"marketing": (time(8), time(20))}),
    "US-OK": (("America/Chicago",), {"marketing": (time(8), time(20))}),
    "US-TX": (("America/Chicago", "America/Denver"), {}),
    "US-NY": (("America/New_York",), {}),
    "US-WA": (("America/Los_Angeles",), {}),
}


def reference_allows(key: str, purpose: str, t: datetime, address: str | None = None) -> bool:
    zones, stricter = REFERENCE[key]
    home, home_law = ADDRESSES[address]
    if key == "+18005550123" and home:
        zones, stricter = home, {}  # the customer's state says where a toll-free number rings
    floors = [stricter.get(purpose, FEDERAL), home_law.get(purpose, FEDERAL)]
    start, end = max(f[0] for f in floors), min(f[1] for f in floors)  # the strictest of both
    return all(start <= t.astimezone(ZoneInfo(z)).time() < end for z in zones)


def whole_minute_spans() -> st.SearchStrategy[tuple[Span, ...]]:
    def span(start: int, length: int) -> Span:
        end = min(start + length, 24 * 60 - 1)
        return time(start // 60, start % 60), time(end // 60, end % 60)

    one = st.builds(span, st.integers(0, 23 * 60), st.integers(30, 16 * 60))
    return st.lists(one, min_size=1, max_size=2).map(tuple)


WIDE = ((time(7), time(22)),)


@settings(max_examples=300, deadline=None)
# The address's own cases always run: Florida's floor on an Idaho number, a Washingtonian's Idaho
# number (campaign hours in Los Angeles, Boise's law), a Texan's and a Floridian's toll-free one.
@example("+12085550123", WIDE, frozenset(range(7)), "marketing", timedelta(0), 0, 0, "US-FL")
@example("+12085550123", WIDE, frozenset(range(7)), "service", timedelta(0), 0, 0, "US-WA")
@example("+18005550123", WIDE, frozenset(range(7)), "service", timedelta(0), 0, 0, "US-TX")
@example("+18005550123", WIDE, frozenset(range(7)), "marketing", timedelta(0), 0, 0, "US-FL")
@given(
    key=st.sampled_from(sorted(REFERENCE)),
    hours=whole_minute_spans(),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    purpose=st.sampled_from(["service", "marketing"]),
    min_open=st.sampled_from([timedelta(0), timedelta(minutes=7)]),
    start=st.integers(0, 700 * 24 * 3600),
    probe=st.integers(0, 7 * 24 * 3600 - 1),
    address=st.sampled_from(list(ADDRESSES)),
)
def test_no_open_instant_outside_the_floor_in_any_candidate_zone(
    key: str,
    hours: tuple[Span, ...],
    days: frozenset[int],
    purpose: str,
    min_open: timedelta,
    start: int,
    probe: int,
    address: str | None,
) -> None:
    customer = Reachee(region="US", marketing_consent=True, address=address)
    if key == "US+TW":
        who = dataclasses.replace(customer, time_zones=("America/New_York", "Asia/Taipei"))
    else:
        who = number(key, customer)
    policy = WindowPolicy(
        weekdays=days, hours=hours, purpose=purpose, skip_holidays=False, min_open=min_open
    )
    s = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=start)
    tick = timedelta(microseconds=1)
    for a, b in week(who, policy, s):
        # Every instant a contact may start at, through the end of the contact it starts.
        for t in (a, a + (b - a) / 2, b - tick, b - tick + min_open):
            assert reference_allows(key, purpose, t, address), (
                key,
                address,
                t,
                effective_zones(who, policy),
            )
    t = s + timedelta(seconds=probe)
    if is_open(who, policy, t):
        assert reference_allows(key, purpose, t, address)
        assert reference_allows(key, purpose, t + min_open, address)
    nxt = next_open(who, policy, t, horizon=timedelta(days=10))
    if nxt is not None:
        assert reference_allows(key, purpose, nxt, address)


def test_a_campaign_can_configure_the_window_of_zone_less_numbers(tmp_path: Path) -> None:
    text = (CAMPAIGNS / "after-service-satisfaction.toml").read_text(encoding="utf-8")
    text = text.replace(
        "skip_holidays = true\n",
        'skip_holidays = true\nno_zone_time_zones = ["America/Chicago"]\n',
        1,
    )
    path = tmp_path / "central.toml"
    path.write_text(text, encoding="utf-8")
    policy = load_campaign(path).window_policy()
    assert policy.no_zone_zones == ("America/Chicago",)
    toll_free = number("+18005550123")
    choice = effective_zones(toll_free, policy)
    assert choice.zones == ("America/Chicago",) and choice.floors == ("US-FL", "US-OK")
    assert choice.reason is not None and "the campaign's window" in choice.reason
    first = next_open(toll_free, policy, local(ZoneInfo("America/Chicago"), 2027, 1, 12, 6))
    assert first == local(ZoneInfo("America/Chicago"), 2027, 1, 12, 9)
    with pytest.raises(ConfigError, match="Mars/Base"):
        dataclasses.replace(policy, no_zone_zones=("Mars/Base",))
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace('"America/Chicago"', '"Mars/Base"'), encoding="utf-8")
    with pytest.raises(CampaignError):
        load_campaign(broken)
