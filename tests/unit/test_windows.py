"""The calling window: exact edges, rest and quiet hours, holidays, DST, zones, consent, floors.

Every instant is an explicit aware datetime. The hypothesis half checks the engine against a
slow oracle written straight from the definition (local date and time of day in each zone, the
`holidays` package asked directly), and the promises of `next_open` and `open_seconds`.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.calendars import legal_floor
from dialer.errors import ConfigError
from dialer.windows import (
    DEFAULT_FLOOR,
    LEGAL_FLOOR,
    PURPOSES,
    Reachee,
    Span,
    WindowPolicy,
    ZoneChoice,
    _wall_to_utc,
    appointment_ok,
    closed_reason,
    effective_zones,
    fmt_spans,
    is_open,
    next_open,
    open_intervals,
    open_seconds,
    sms_label,
)

TPE = ZoneInfo("Asia/Taipei")
SEL = ZoneInfo("Asia/Seoul")
SHA = ZoneInfo("Asia/Shanghai")
NYC = ZoneInfo("America/New_York")
LAX = ZoneInfo("America/Los_Angeles")
LON = ZoneInfo("Europe/London")
H = 3600.0
US_ = timedelta(microseconds=1)
S_ = timedelta(seconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

WEEK = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
OFFICE = WindowPolicy(weekdays=WEEK, hours=((time(9), time(12)), (time(13, 30), time(20, 30))))
TAIPEI = Reachee(("Asia/Taipei",), region="TW")
SHANGHAI = Reachee(("Asia/Shanghai",), region="CN")


def at(
    tz: tzinfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0
) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=tz)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return at(UTC, y, mo, d, h, mi, s)


# --------------------------------------------------------------------------- exact edges


@pytest.mark.parametrize(
    ("hms", "expected"),
    [
        ((8, 59, 59), False),
        ((9, 0, 0), True),
        ((11, 59, 59), True),
        ((12, 0, 0), False),
        ((13, 29, 59), False),
        ((13, 30, 0), True),
        ((20, 29, 59), True),
        ((20, 30, 0), False),
    ],
)
def test_exact_boundary_seconds(hms: tuple[int, int, int], expected: bool) -> None:
    moment = at(TPE, 2026, 11, 23, *hms)  # a Monday
    assert is_open(TAIPEI, OFFICE, moment) is expected
    assert (next_open(TAIPEI, OFFICE, moment) == moment) is expected
    assert (closed_reason(TAIPEI, OFFICE, moment) is None) is expected


def test_last_microsecond_of_a_span_is_open() -> None:
    assert is_open(TAIPEI, OFFICE, at(TPE, 2026, 11, 23, 11, 59, 59, 999_999))
    assert closed_reason(TAIPEI, OFFICE, at(TPE, 2026, 11, 23, 12)) == (
        "outside calling hours 09:00–12:00, 13:30–20:30 Asia/Taipei"
    )


def test_min_open_pushes_the_last_open_instant_earlier() -> None:
    policy = WindowPolicy(weekdays=WEEK, hours=OFFICE.hours, min_open=timedelta(minutes=10))
    assert is_open(TAIPEI, policy, at(TPE, 2026, 11, 23, 9))
    assert is_open(TAIPEI, policy, at(TPE, 2026, 11, 23, 11, 49, 59))
    # Intervals stay half-open: a call starting exactly 10 minutes before the close is refused.
    assert not is_open(TAIPEI, policy, at(TPE, 2026, 11, 23, 11, 50))
    assert closed_reason(TAIPEI, policy, at(TPE, 2026, 11, 23, 11, 55)) == (
        "window closes at 12:00 Asia/Taipei, less than 10 min after this moment"
    )
    assert next_open(TAIPEI, policy, at(TPE, 2026, 11, 23, 11, 55)) == at(TPE, 2026, 11, 23, 13, 30)
    day = (at(TPE, 2026, 11, 23), at(TPE, 2026, 11, 24))
    assert open_seconds(TAIPEI, policy, *day) == (3 + 7) * H - 2 * 600


def test_min_open_counts_the_window_beyond_the_range_end() -> None:
    policy = WindowPolicy(weekdays=WEEK, hours=OFFICE.hours, min_open=timedelta(minutes=10))
    start, end = at(TPE, 2026, 11, 23, 10), at(TPE, 2026, 11, 23, 11)
    # The window goes on until 12:00, so 10:59 may still start a 10-minute contact.
    assert open_intervals(TAIPEI, policy, start, end) == [(start, end)]
    assert open_intervals(TAIPEI, policy, start, at(TPE, 2026, 11, 23, 11, 55)) == [
        (start, at(TPE, 2026, 11, 23, 11, 50))
    ]


def test_open_intervals_of_three_days_in_utc() -> None:
    start, end = at(TPE, 2026, 11, 27), at(TPE, 2026, 11, 30, 12)
    got = open_intervals(TAIPEI, OFFICE, start, end)
    # Friday both spans, the weekend closed, Monday morning clipped at 12:00 by the range end.
    assert got == [
        (utc(2026, 11, 27, 1), utc(2026, 11, 27, 4)),
        (utc(2026, 11, 27, 5, 30), utc(2026, 11, 27, 12, 30)),
        (utc(2026, 11, 30, 1), utc(2026, 11, 30, 4)),
    ]
    assert all(a.tzinfo is UTC and b.tzinfo is UTC for a, b in got)
    assert open_seconds(TAIPEI, OFFICE, start, end) == 13 * H


def test_ranges_are_clipped_and_empty_ranges_are_empty() -> None:
    start, end = at(TPE, 2026, 11, 23, 10, 15), at(TPE, 2026, 11, 23, 10, 45)
    assert open_intervals(TAIPEI, OFFICE, start, end) == [(start, end)]
    assert open_intervals(TAIPEI, OFFICE, end, start) == []
    assert open_seconds(TAIPEI, OFFICE, end, end) == 0.0


def test_naive_datetimes_are_refused() -> None:
    naive = at(TPE, 2026, 11, 23, 10).replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive"):
        is_open(TAIPEI, OFFICE, naive)
    with pytest.raises(ValueError, match="naive"):
        appointment_ok(TAIPEI, OFFICE, naive)


# ---------------------------------------------------------------------- rest and quiet hours


def test_lunch_rest_inside_the_hours() -> None:
    policy = WindowPolicy(
        weekdays=WEEK, hours=((time(9), time(18)),), rest=((time(12), time(13, 30)),)
    )
    assert is_open(TAIPEI, policy, at(TPE, 2026, 11, 23, 11, 59, 59))
    assert not is_open(TAIPEI, policy, at(TPE, 2026, 11, 23, 12))
    assert closed_reason(TAIPEI, policy, at(TPE, 2026, 11, 23, 12)) == "rest hours 12:00–13:30"
    assert next_open(TAIPEI, policy, at(TPE, 2026, 11, 23, 12)) == at(TPE, 2026, 11, 23, 13, 30)


def test_night_rest_wrapping_midnight() -> None:
    policy = WindowPolicy(
        weekdays=EVERY_DAY, hours=((time(8), time(22)),), rest=((time(20), time(9, 30)),)
    )
    day = (2026, 11, 23)
    assert not is_open(TAIPEI, policy, at(TPE, *day, 9, 29, 59))
    assert closed_reason(TAIPEI, policy, at(TPE, *day, 9, 29, 59)) == "rest hours 20:00–09:30"
    assert is_open(TAIPEI, policy, at(TPE, *day, 9, 30))
    assert is_open(TAIPEI, policy, at(TPE, *day, 19, 59, 59))
    assert not is_open(TAIPEI, policy, at(TPE, *day, 20))
    assert open_seconds(TAIPEI, policy, at(TPE, *day), at(TPE, 2026, 11, 24)) == 10.5 * H


def test_customer_quiet_hours() -> None:
    napper = Reachee(("Asia/Taipei",), quiet_hours=((time(14), time(15, 30)),))
    assert is_open(napper, OFFICE, at(TPE, 2026, 11, 23, 13, 59, 59))
    assert not is_open(napper, OFFICE, at(TPE, 2026, 11, 23, 14))
    assert closed_reason(napper, OFFICE, at(TPE, 2026, 11, 23, 15)) == (
        "customer's quiet hours 14:00–15:30"
    )
    assert next_open(napper, OFFICE, at(TPE, 2026, 11, 23, 14)) == at(TPE, 2026, 11, 23, 15, 30)
    night_owl = Reachee(("Asia/Taipei",), quiet_hours=((time(19), time(10)),))
    assert not is_open(night_owl, OFFICE, at(TPE, 2026, 11, 23, 9, 30))
    assert closed_reason(night_owl, OFFICE, at(TPE, 2026, 11, 23, 19, 30)) == (
        "customer's quiet hours 19:00–10:00"
    )
    day = (at(TPE, 2026, 11, 23), at(TPE, 2026, 11, 24))
    assert open_seconds(night_owl, OFFICE, *day) == (2 + 5.5) * H


# ------------------------------------------------------------------------------- weekdays


def test_weekend_is_closed_and_next_open_is_monday_morning() -> None:
    saturday = at(TPE, 2026, 11, 28, 10)
    assert not is_open(TAIPEI, OFFICE, saturday)
    assert closed_reason(TAIPEI, OFFICE, saturday) == "Saturday is not a calling day (Asia/Taipei)"
    friday_close = at(TPE, 2026, 11, 27, 20, 30)
    assert next_open(TAIPEI, OFFICE, friday_close) == at(TPE, 2026, 11, 30, 9)


def test_the_day_gate_is_the_local_date_of_the_moment() -> None:
    # Hours 20:00-10:00 wrap midnight (the floor cuts them to 08:00-10:00 and 20:00-21:00).
    policy = WindowPolicy(weekdays=frozenset({0}), hours=((time(20), time(10)),))
    assert is_open(TAIPEI, policy, at(TPE, 2026, 11, 23, 9))  # Monday morning
    assert is_open(TAIPEI, policy, at(TPE, 2026, 11, 23, 20, 30))  # Monday evening
    assert not is_open(TAIPEI, policy, at(TPE, 2026, 11, 24, 9))  # Tuesday morning


def test_next_open_gives_up_at_the_horizon() -> None:
    mondays = WindowPolicy(weekdays=frozenset({0}), hours=OFFICE.hours)
    tuesday = at(TPE, 2026, 11, 24, 10)
    assert next_open(TAIPEI, mondays, tuesday, horizon=timedelta(days=2)) is None
    assert next_open(TAIPEI, mondays, tuesday) == at(TPE, 2026, 11, 30, 9)
    never = WindowPolicy(weekdays=WEEK, hours=((time(9), time(12)),), rest=((time(8), time(13)),))
    assert next_open(TAIPEI, never, tuesday) is None
    assert open_seconds(TAIPEI, never, tuesday, tuesday + timedelta(days=30)) == 0.0


# ------------------------------------------------------------------------------- holidays


def test_taiwan_lunar_new_year_2027() -> None:
    assert is_open(TAIPEI, OFFICE, at(TPE, 2027, 2, 3, 10))
    for day in (4, 5, 8, 9, 10):
        assert not is_open(TAIPEI, OFFICE, at(TPE, 2027, 2, day, 10)), day
    assert closed_reason(TAIPEI, OFFICE, at(TPE, 2027, 2, 4, 10)) == "public holiday 農曆除夕 (TW)"
    assert closed_reason(TAIPEI, OFFICE, at(TPE, 2027, 2, 9, 10)) == (
        "public holiday 春節（補假） (TW)"
    )
    assert next_open(TAIPEI, OFFICE, at(TPE, 2027, 2, 3, 20, 30)) == at(TPE, 2027, 2, 11, 9)
    # Mon-Wed before the break and Thu-Fri after it: five working days of ten hours.
    assert open_seconds(TAIPEI, OFFICE, at(TPE, 2027, 2, 1), at(TPE, 2027, 2, 15)) == 50 * H


def test_holidays_count_only_when_the_campaign_skips_them() -> None:
    calls_on_holidays = WindowPolicy(weekdays=WEEK, hours=OFFICE.hours, skip_holidays=False)
    assert is_open(TAIPEI, calls_on_holidays, at(TPE, 2027, 2, 4, 10))
    assert closed_reason(TAIPEI, OFFICE, at(TPE, 2026, 9, 25, 10)) == "public holiday 中秋節 (TW)"


def test_china_make_up_saturday_is_a_working_day() -> None:
    saturday = at(SHA, 2026, 2, 14, 10)
    assert is_open(SHANGHAI, OFFICE, saturday)
    assert closed_reason(SHANGHAI, OFFICE, saturday) is None
    # ...and the Friday it pays for is a rest day.
    friday = at(SHA, 2026, 2, 20, 10)
    assert not is_open(SHANGHAI, OFFICE, friday)
    assert closed_reason(SHANGHAI, OFFICE, friday) == (
        "public holiday 休息日（由 2026-02-14 调休） (CN)"
    )
    assert not is_open(SHANGHAI, OFFICE, at(SHA, 2026, 3, 7, 10))  # an ordinary Saturday


def test_make_up_days_need_a_full_working_week_and_skip_holidays() -> None:
    saturday = at(SHA, 2026, 2, 14, 10)
    part_week = WindowPolicy(weekdays=frozenset({0, 1, 2}), hours=OFFICE.hours)
    assert not is_open(SHANGHAI, part_week, saturday)
    assert closed_reason(SHANGHAI, part_week, saturday) == (
        "Saturday is not a calling day (Asia/Shanghai)"
    )
    plain = WindowPolicy(weekdays=WEEK, hours=OFFICE.hours, skip_holidays=False)
    assert not is_open(SHANGHAI, plain, saturday)
    assert is_open(SHANGHAI, plain, at(SHA, 2026, 2, 20, 10))


def test_holidays_close_calling_weekends_too() -> None:
    every_day = WindowPolicy(weekdays=EVERY_DAY, hours=OFFICE.hours)
    assert closed_reason(SHANGHAI, every_day, at(SHA, 2026, 10, 3, 10)) == (
        "public holiday 国庆节 (CN)"
    )
    assert is_open(SHANGHAI, every_day, at(SHA, 2026, 10, 10, 10))  # a make-up Saturday


def test_which_calendar_applies() -> None:
    # The customer's region wins over the zone: a Taiwanese customer in Los Angeles.
    abroad = Reachee(("America/Los_Angeles",), region="TW")
    assert closed_reason(abroad, OFFICE, at(LAX, 2026, 9, 25, 10)) == "public holiday 中秋節 (TW)"
    # Without a region, the zone's country.
    assert closed_reason(Reachee(("Asia/Seoul",)), OFFICE, at(SEL, 2026, 2, 17, 10)) == (
        "public holiday 설날 (KR)"
    )
    # The campaign's calendar wins over both, with its subdivision.
    californian = Reachee(("America/Los_Angeles",), region="US")
    ca = WindowPolicy(
        weekdays=WEEK, hours=OFFICE.hours, holiday_country="US", holiday_subdivision="CA"
    )
    chavez = at(LAX, 2026, 3, 31, 10)
    assert closed_reason(californian, ca, chavez) == "public holiday Cesar Chavez Day (US)"
    assert is_open(californian, WindowPolicy(weekdays=WEEK, hours=OFFICE.hours), chavez)
    tw_calendar = WindowPolicy(weekdays=WEEK, hours=OFFICE.hours, holiday_country="tw")
    assert not is_open(californian, tw_calendar, at(LAX, 2026, 9, 25, 10))
    # No country at all: no holidays.
    assert is_open(Reachee(("Etc/GMT-8",)), OFFICE, at(TPE, 2026, 2, 17, 10))


# ------------------------------------------------------------------------------------ DST


def test_new_york_fall_back_2026_11_01() -> None:
    ny = Reachee(("America/New_York",))
    policy = WindowPolicy(weekdays=EVERY_DAY, hours=((time(9), time(20)),))
    got = open_intervals(ny, policy, at(NYC, 2026, 10, 31), at(NYC, 2026, 11, 2))
    assert got == [
        (utc(2026, 10, 31, 13), utc(2026, 11, 1, 0)),  # EDT, UTC-4
        (utc(2026, 11, 1, 14), utc(2026, 11, 2, 1)),  # EST, UTC-5
    ]
    assert not is_open(ny, policy, utc(2026, 11, 1, 13, 59, 59))
    assert is_open(ny, policy, utc(2026, 11, 1, 14))
    assert is_open(ny, policy, utc(2026, 11, 2, 0, 59, 59))
    assert not is_open(ny, policy, utc(2026, 11, 2, 1))
    # 01:30 happens twice; both are closed and both lead to 09:00 EST.
    first, second = utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)
    assert first.astimezone(NYC).time() == second.astimezone(NYC).time() == time(1, 30)
    for moment in (first, second):
        assert next_open(ny, policy, moment) == utc(2026, 11, 1, 14)
        assert (
            closed_reason(ny, policy, moment)
            == "outside calling hours 09:00–20:00 America/New_York"
        )


def test_london_spring_forward_2027_03_28() -> None:
    london = Reachee(("Europe/London",))
    policy = WindowPolicy(weekdays=EVERY_DAY, hours=((time(9), time(20)),))
    got = open_intervals(london, policy, at(LON, 2027, 3, 27), at(LON, 2027, 3, 29))
    assert got == [
        (utc(2027, 3, 27, 9), utc(2027, 3, 27, 20)),  # GMT
        (utc(2027, 3, 28, 8), utc(2027, 3, 28, 19)),  # BST
    ]
    assert next_open(london, policy, utc(2027, 3, 28, 1, 30)) == at(LON, 2027, 3, 28, 9)
    # A whole-day campaign is still held to the 08:00-21:00 floor: 13 real hours both days.
    all_day = WindowPolicy(weekdays=EVERY_DAY, hours=((time(0), time(0)),))
    assert open_seconds(london, all_day, at(LON, 2027, 3, 28), at(LON, 2027, 3, 29)) == 13 * H


def _us(dt: datetime) -> int:
    return (dt - EPOCH) // US_


def _tod(h: int, m: int = 0) -> int:
    return (h * 60 + m) * 60 * 1_000_000


def _real(zone: str, d: date, *spans: tuple[int, int]) -> list[tuple[datetime, datetime]]:
    return [(EPOCH + a * US_, EPOCH + b * US_) for a, b in _wall_to_utc(zone, d.toordinal(), spans)]


# The legal floor keeps every campaign out of the night hours where clocks change, so the
# gap/repeat mapping is checked on the converter every window is built with.
def test_repeated_hour_counts_twice() -> None:
    nov1 = date(2026, 11, 1)
    assert _real("America/New_York", nov1, (_tod(0, 30), _tod(2, 30))) == [
        (utc(2026, 11, 1, 4, 30), utc(2026, 11, 1, 7, 30))  # three real hours
    ]
    assert _real("Europe/London", date(2026, 10, 25), (_tod(1), _tod(2))) == [
        (utc(2026, 10, 25, 0), utc(2026, 10, 25, 2))
    ]
    assert _real("America/New_York", nov1, (0, _tod(24))) == [
        (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))  # a 25-hour day
    ]


def test_span_starting_in_the_gap_starts_at_the_first_instant_after_it() -> None:
    assert _real("America/New_York", date(2027, 3, 14), (_tod(2, 30), _tod(3, 30))) == [
        (utc(2027, 3, 14, 7), utc(2027, 3, 14, 7, 30))  # 03:00-03:30 EDT
    ]
    assert _real("Europe/London", date(2027, 3, 28), (_tod(1, 30), _tod(3))) == [
        (utc(2027, 3, 28, 1), utc(2027, 3, 28, 2))  # 02:00-03:00 BST
    ]
    assert _real("Europe/London", date(2027, 3, 28), (_tod(1, 15), _tod(1, 45))) == []
    assert _real("Europe/London", date(2027, 3, 28), (0, _tod(24))) == [
        (utc(2027, 3, 28, 0), utc(2027, 3, 28, 23))  # a 23-hour day
    ]


@pytest.mark.parametrize("month", [1, 7])
def test_taipei_and_seoul_have_no_dst(month: int) -> None:
    policy = WindowPolicy(weekdays=EVERY_DAY, hours=((time(9), time(18)),), skip_holidays=False)
    for zone, start in (("Asia/Taipei", 1), ("Asia/Seoul", 0)):
        who = Reachee((zone,))
        got = open_intervals(who, policy, utc(2027, month, 12), utc(2027, month, 13))
        assert got == [(utc(2027, month, 12, start), utc(2027, month, 12, start + 9))], zone
    seoul = Reachee(("Asia/Seoul",))
    assert not is_open(seoul, policy, at(SEL, 2027, 7, 12, 8, 59, 59))
    assert is_open(seoul, policy, at(SEL, 2027, 7, 12, 9))


# ---------------------------------------------------------------------------------- zones


def test_several_zones_get_the_intersection() -> None:
    both = Reachee(("Asia/Taipei", "Asia/Seoul"))
    policy = WindowPolicy(weekdays=WEEK, hours=((time(9), time(18)),))
    assert effective_zones(both, policy) == ZoneChoice(("Asia/Taipei", "Asia/Seoul"))
    got = open_intervals(both, policy, utc(2026, 11, 23), utc(2026, 11, 24))
    assert got == [(utc(2026, 11, 23, 1), utc(2026, 11, 23, 9))]
    late = utc(2026, 11, 23, 9, 30)  # 17:30 in Taipei, 18:30 in Seoul
    assert closed_reason(both, policy, late) == "outside calling hours 09:00–18:00 Asia/Seoul"


def test_zones_without_a_shared_window_keep_the_law_of_both_never_the_default() -> None:
    far_apart = Reachee(("Asia/Taipei", "America/New_York"))
    policy = WindowPolicy(weekdays=WEEK, hours=((time(9), time(12)),), default_zone="Asia/Tokyo")
    choice = effective_zones(far_apart, policy)
    assert choice.zones == ("Asia/Taipei", "America/New_York") and choice.hours_in == ()
    assert choice.reason is not None and "only the legal floor" in choice.reason
    assert not is_open(far_apart, policy, at(TPE, 2026, 11, 24, 7, 59))  # 18:59 New York
    assert is_open(far_apart, policy, at(TPE, 2026, 11, 24, 8))  # 19:00 New York
    assert is_open(far_apart, policy, at(TPE, 2026, 11, 24, 9, 59))  # 20:59 New York
    assert not is_open(far_apart, policy, at(TPE, 2026, 11, 24, 10))  # 21:00 New York
    assert is_open(Reachee(("Asia/Tokyo",)), policy, at(TPE, 2026, 11, 24, 10))


def test_a_customer_closed_in_every_zone_keeps_their_zones() -> None:
    # Nothing is shared because nothing is open at all: the default zone would not help.
    never = Reachee(("Asia/Taipei", "Asia/Seoul"), quiet_hours=((time(7), time(22)),))
    assert effective_zones(never, OFFICE) == ZoneChoice(("Asia/Taipei", "Asia/Seoul"))
    assert next_open(never, OFFICE, at(TPE, 2026, 11, 23, 9)) is None


def test_no_zone_or_unknown_zone_uses_the_safe_window_of_the_country() -> None:
    assert effective_zones(Reachee(), OFFICE) == ZoneChoice(
        ("Asia/Taipei",),
        "number has no time zone: the safe window of TW (Asia/Taipei, strictest floor)",
    )
    assert effective_zones(Reachee(("Mars/Base",)), OFFICE) == ZoneChoice(
        ("Asia/Taipei",),
        "time zone Mars/Base is unknown: the safe window of TW (Asia/Taipei, strictest floor)",
    )
    assert is_open(Reachee(), OFFICE, at(TPE, 2026, 11, 23, 9))
    twice = Reachee(("Asia/Seoul", "Asia/Seoul", "Mars/Base"))
    assert effective_zones(twice, OFFICE) == ZoneChoice(("Asia/Seoul",))
    nowhere = effective_zones(Reachee(), dataclasses.replace(OFFICE, default_zone="UTC"))
    assert not nowhere.callable and nowhere.zones == ()


# --------------------------------------------------------------- consent, floors, labels


@pytest.mark.parametrize("consent", [None, False])
def test_marketing_needs_consent(consent: bool | None) -> None:
    marketing = WindowPolicy(weekdays=WEEK, hours=OFFICE.hours, purpose="marketing")
    who = Reachee(("Asia/Taipei",), marketing_consent=consent)
    moment = at(TPE, 2026, 11, 23, 10)
    assert not is_open(who, marketing, moment)
    assert next_open(who, marketing, moment) is None
    assert open_seconds(who, marketing, moment, moment + timedelta(days=3)) == 0.0
    assert closed_reason(who, marketing, moment) == "no marketing consent"
    assert not appointment_ok(who, marketing, moment)
    consented = Reachee(("Asia/Taipei",), marketing_consent=True)
    assert is_open(consented, marketing, moment)
    assert appointment_ok(consented, marketing, moment)
    assert is_open(who, OFFICE, moment)  # service calls need no consent


def test_no_campaign_can_widen_the_legal_floor() -> None:
    greedy = WindowPolicy(weekdays=EVERY_DAY, hours=((time(7), time(22)),))
    assert closed_reason(TAIPEI, greedy, at(TPE, 2026, 11, 23, 7, 59, 59)) == (
        "legal floor 08:00–21:00 (TW service) Asia/Taipei"
    )
    assert is_open(TAIPEI, greedy, at(TPE, 2026, 11, 23, 8))
    assert is_open(TAIPEI, greedy, at(TPE, 2026, 11, 23, 20, 59, 59))
    assert not is_open(TAIPEI, greedy, at(TPE, 2026, 11, 23, 21))
    nowhere = Reachee(("Etc/GMT-8",))
    assert closed_reason(nowhere, greedy, at(TPE, 2026, 11, 23, 21)) == (
        "legal floor 08:00–21:00 (service) Etc/GMT-8"
    )


def test_korean_marketing_night_ban() -> None:
    ads = WindowPolicy(weekdays=EVERY_DAY, hours=((time(7), time(23)),), purpose="marketing")
    korean = Reachee(("Asia/Seoul",), region="KR", marketing_consent=True)
    assert is_open(korean, ads, at(SEL, 2026, 11, 23, 20, 59, 59))
    assert closed_reason(korean, ads, at(SEL, 2026, 11, 23, 21)) == (
        "legal floor 08:00–21:00 (KR marketing) Asia/Seoul"
    )
    assert next_open(korean, ads, at(SEL, 2026, 11, 23, 21)) == at(SEL, 2026, 11, 24, 8)


def test_legal_floor_table() -> None:
    assert {"KR", "TW", "CN", "US", "JP", "HK"} <= set(LEGAL_FLOOR)
    for floor in (*LEGAL_FLOOR.values(), DEFAULT_FLOOR):
        for purpose in PURPOSES:
            assert floor.spans(purpose) == ((time(8), time(21)),)
    assert "TCPA" in LEGAL_FLOOR["US"].source
    with pytest.raises(TypeError):
        LEGAL_FLOOR["TW"] = DEFAULT_FLOOR  # type: ignore[index]


def test_sms_label() -> None:
    assert sms_label("KR", "marketing") == "(광고)"
    assert sms_label("kr", "marketing") == "(광고)"
    assert sms_label("KR", "service") is None
    assert sms_label("TW", "marketing") is None
    assert sms_label(None, "marketing") is None


# ------------------------------------------------------------------------------ appointments


def test_appointments_need_only_the_legal_floor() -> None:
    napper = Reachee(("Asia/Taipei",), quiet_hours=((time(18), time(20)),))
    saturday = (2026, 11, 28)
    assert appointment_ok(napper, OFFICE, at(TPE, *saturday, 19))  # weekend, quiet hours: agreed
    assert appointment_ok(napper, OFFICE, at(TPE, *saturday, 20, 59, 59))
    assert not appointment_ok(napper, OFFICE, at(TPE, *saturday, 21))
    assert not appointment_ok(napper, OFFICE, at(TPE, *saturday, 7, 59))
    assert appointment_ok(napper, OFFICE, at(TPE, 2027, 2, 4, 10))  # a holiday: agreed
    both = Reachee(("Asia/Taipei", "Asia/Seoul"))
    assert appointment_ok(both, OFFICE, at(TPE, 2026, 11, 23, 19, 59))
    assert not appointment_ok(both, OFFICE, at(TPE, 2026, 11, 23, 20, 30))  # 21:30 in Seoul


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weekdays": frozenset({7})}, "weekdays"),
        ({"purpose": "sales"}, "purpose"),
        ({"min_open": timedelta(seconds=-1)}, "min_open"),
        ({"default_zone": "Mars/Base"}, "Mars/Base"),
    ],
)
def test_policy_validation(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"weekdays": WEEK, "hours": OFFICE.hours, **kwargs}
    with pytest.raises(ConfigError, match=message):
        WindowPolicy(**fields)


def test_fmt_spans() -> None:
    assert fmt_spans(((time(20), time(0)), (time(9, 0, 30), time(9, 5)))) == (
        "20:00–24:00, 09:00:30–09:05"
    )


# ------------------------------------------------------------------ properties and an oracle

ZONES = [
    "Asia/Taipei",
    "Asia/Seoul",
    "Asia/Shanghai",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",  # half-hour DST
    "Asia/Kolkata",
    "Etc/GMT-8",
]
ZONE_COUNTRY = {
    "Asia/Taipei": "TW",
    "Asia/Seoul": "KR",
    "Asia/Shanghai": "CN",
    "America/New_York": "US",
    "America/Los_Angeles": "US",
    "Europe/London": "GB",
    "Australia/Lord_Howe": "AU",
    "Asia/Kolkata": "IN",
    "Asia/Tokyo": "JP",
}
BASE = utc(2026, 1, 1)
TWO_YEARS = 730 * 24 * 3600
# Days where the rules are easiest to get wrong, with the zone they are special in.
SPECIAL_DAYS = [
    ("America/New_York", utc(2026, 11, 1, 6)),  # fall back
    ("America/New_York", utc(2027, 3, 14, 7)),  # spring forward
    ("America/Los_Angeles", utc(2026, 11, 1, 9)),
    ("Europe/London", utc(2027, 3, 28, 1)),
    ("Europe/London", utc(2026, 10, 25, 1)),
    ("Australia/Lord_Howe", utc(2026, 10, 3, 15, 30)),  # +10:30 -> +11:00
    ("Asia/Shanghai", utc(2026, 2, 14, 2)),  # make-up Saturday
    ("Asia/Shanghai", utc(2026, 2, 20, 2)),  # the rest day it pays for
    ("Asia/Taipei", utc(2027, 2, 4, 2)),  # Lunar New Year
    ("Asia/Seoul", utc(2026, 2, 17, 1)),  # 설날
]


@cache
def _calendar(country: str, subdiv: str | None, year: int) -> Any:
    return holidays.country_holidays(country, subdiv=subdiv, years=year)


def _in(t: time, span: Span) -> bool:
    start, end = span
    return start <= t < end if start < end else (t >= start or t < end)


def _point_open(who: Reachee, policy: WindowPolicy, choice: ZoneChoice, t: datetime) -> bool:
    """The definition, read literally, at one instant (min_open aside)."""
    if not choice.callable:
        return False
    for zone in choice.zones:
        local = t.astimezone(ZoneInfo(zone))
        d, tod = local.date(), local.time()
        country = ZONE_COUNTRY.get(zone)
        cal_country: str | None
        if policy.holiday_country:
            cal_country, subdiv = policy.holiday_country.upper(), policy.holiday_subdivision
        else:
            cal_country, subdiv = who.region or country, None
        calling_day = d.weekday() in policy.weekdays
        if policy.skip_holidays and cal_country:
            cal = _calendar(cal_country, subdiv, d.year)
            if d in cal:
                return False
            if d.weekday() in cal.weekend and cal.is_working_day(d) and policy.weekdays >= WEEK:
                calling_day = True
        hours_here = choice.hours_in is None or zone in choice.hours_in
        if not calling_day or (hours_here and not any(_in(tod, s) for s in policy.hours)):
            return False
        if any(_in(tod, s) for s in policy.rest + who.quiet_hours):
            return False
        keys = {c for c in (country, who.region, *who.subdivisions, *choice.floors) if c}
        for cc in keys or {""}:
            floor = legal_floor(cc).spans(policy.purpose)
            if not any(_in(tod, s) for s in floor):
                return False
    return True


def oracle_open(who: Reachee, policy: WindowPolicy, t: datetime) -> bool:
    """Open at t and (spans being whole minutes) at every minute mark in (t, t + min_open]."""
    if policy.purpose == "marketing" and who.marketing_consent is not True:
        return False
    zones = effective_zones(who, policy)
    if not _point_open(who, policy, zones, t):
        return False
    mark = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while mark <= t + policy.min_open:
        if not _point_open(who, policy, zones, mark):
            return False
        mark += timedelta(minutes=1)
    return True


def _spans(shortest: int, longest: int) -> st.SearchStrategy[Span]:
    """Whole-minute spans of a given length; some wrap past midnight."""

    def build(start: int, length: int) -> Span:
        end = (start + length) % (24 * 60)
        return time(start // 60, start % 60), time(end // 60, end % 60)

    return st.builds(build, st.integers(0, 24 * 60 - 1), st.integers(shortest, longest))


policies = st.builds(
    WindowPolicy,
    weekdays=st.one_of(
        st.just(WEEK), st.just(EVERY_DAY), st.frozensets(st.integers(0, 6), min_size=1)
    ),
    hours=st.one_of(
        st.just(OFFICE.hours),
        st.just(((time(0), time(0)),)),
        st.just(((time(19), time(11)),)),
        st.lists(_spans(30, 16 * 60), min_size=1, max_size=3).map(tuple),
    ),
    rest=st.lists(_spans(1, 4 * 60) | _spans(8 * 60, 12 * 60), max_size=2).map(tuple),
    purpose=st.sampled_from(PURPOSES),
    skip_holidays=st.booleans(),
    holiday_country=st.sampled_from([None, None, "TW", "CN", "KR", "US"]),
    default_zone=st.sampled_from(ZONES),
    min_open=st.integers(0, 30).map(lambda m: timedelta(minutes=m)),
)
reachees = st.builds(
    Reachee,
    time_zones=st.lists(st.sampled_from(ZONES), max_size=2, unique=True).map(tuple),
    quiet_hours=st.lists(_spans(1, 4 * 60), max_size=2).map(tuple),
    region=st.sampled_from([None, "TW", "KR", "CN", "US"]),
    marketing_consent=st.sampled_from([True, True, None, False]),
)
instants = st.one_of(
    st.integers(0, TWO_YEARS * 1_000_000).map(lambda us: BASE + us * US_),
    st.integers(0, TWO_YEARS // 60).map(lambda m: BASE + timedelta(minutes=m)),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Reachee, WindowPolicy, datetime]:
    """A customer, a policy and an instant; half the time near a special day in its own zone."""
    who, policy = draw(reachees), draw(policies)
    if not draw(st.booleans()):
        return who, policy, draw(instants)
    zone, day = draw(st.sampled_from(SPECIAL_DAYS))
    zones = (zone, *(z for z in who.time_zones[1:] if z != zone))
    region = draw(st.sampled_from([None, ZONE_COUNTRY[zone]]))
    who = dataclasses.replace(who, time_zones=zones, region=region)
    return who, policy, day + timedelta(minutes=draw(st.integers(-12 * 60, 24 * 60)))


PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(cases())
def test_is_open_matches_the_definition(case: tuple[Reachee, WindowPolicy, datetime]) -> None:
    who, policy, t = case
    assert is_open(who, policy, t) == oracle_open(who, policy, t)


@PROPERTY
@given(cases())
def test_next_open_promises(case: tuple[Reachee, WindowPolicy, datetime]) -> None:
    who, policy, after = case
    horizon = timedelta(days=10)
    found = next_open(who, policy, after, horizon=horizon)
    if is_open(who, policy, after):
        assert found == after
    end = after + horizon
    if found is not None:
        assert after <= found < end
        assert is_open(who, policy, found)
        assert oracle_open(who, policy, found)
        if found > after:
            assert not is_open(who, policy, found - US_)
        end = found
    else:
        assert open_seconds(who, policy, after, end) == 0.0
    # No open minute before it: every minute of the first six hours, then 200 spread samples.
    gap = end - after
    samples = [
        after + timedelta(minutes=k) for k in range(min(360, int(gap / timedelta(minutes=1))))
    ]
    samples += [after + gap * k / 200 for k in range(200)]
    assert not any(is_open(who, policy, t) for t in samples if t < end)


@PROPERTY
@given(
    cases(),
    st.integers(0, 4 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    st.integers(0, 4 * 24 * 3600).map(lambda s: timedelta(seconds=s)),
)
def test_open_seconds_sums_intervals_and_adds_up(
    case: tuple[Reachee, WindowPolicy, datetime], first: timedelta, second: timedelta
) -> None:
    who, policy, start = case
    middle, end = start + first, start + first + second
    intervals = open_intervals(who, policy, start, end)
    total = open_seconds(who, policy, start, end)
    assert total == pytest.approx(sum((b - a).total_seconds() for a, b in intervals), abs=1e-6)
    assert total == pytest.approx(
        open_seconds(who, policy, start, middle) + open_seconds(who, policy, middle, end), abs=1e-6
    )
    for k, (a, b) in enumerate(intervals):
        assert start <= a < b <= end
        assert k == 0 or intervals[k - 1][1] < a  # merged: never touching
        assert is_open(who, policy, a) and is_open(who, policy, b - US_)
        if b < end:
            assert not is_open(who, policy, b)


@PROPERTY
@given(cases(), st.integers(0, 40 * 60))
def test_min_open_near_each_close_matches_the_definition(
    case: tuple[Reachee, WindowPolicy, datetime], before: int
) -> None:
    who, policy, start = case
    plain = dataclasses.replace(policy, min_open=timedelta(0))
    for _, close in open_intervals(who, plain, start, start + timedelta(days=3))[:3]:
        for t in (close - policy.min_open, close - policy.min_open - US_, close - before * S_):
            assert is_open(who, policy, t) == oracle_open(who, policy, t), t


@PROPERTY
@given(
    policies,
    st.sampled_from(SPECIAL_DAYS),
    st.booleans(),
    st.booleans(),
    st.lists(_spans(1, 4 * 60), max_size=1).map(tuple),
    st.integers(0, 1799),
)
def test_special_days_match_the_definition_all_day(
    policy: WindowPolicy,
    special: tuple[str, datetime],
    with_region: bool,
    office_week: bool,
    quiet: tuple[Span, ...],
    jitter: int,
) -> None:
    zone, day = special
    if office_week:  # the campaigns holidays and make-up days matter to
        policy = dataclasses.replace(
            policy, weekdays=WEEK, skip_holidays=True, holiday_country=None
        )
    who = Reachee((zone,), quiet, ZONE_COUNTRY[zone] if with_region else None, True)
    start = day - timedelta(hours=12) + jitter * S_
    for k in range(72):
        t = start + k * timedelta(minutes=30)
        assert is_open(who, policy, t) == oracle_open(who, policy, t), t
