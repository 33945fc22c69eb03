"""Holiday calendars against the installed `holidays` data: names, make-up workdays, zones."""

from __future__ import annotations

from datetime import date

import pytest

from dialer.calendars import (
    check_calendar,
    day_kind,
    has_calendar,
    is_holiday,
    is_makeup_workday,
    is_working_day,
    zone_country,
)
from dialer.errors import ConfigError


@pytest.mark.parametrize(
    ("d", "name"),
    [
        (date(2027, 2, 3), None),  # Wednesday before the break: an ordinary day
        (date(2027, 2, 4), "農曆除夕"),
        (date(2027, 2, 6), "春節"),
        (date(2027, 2, 9), "春節（補假）"),
        (date(2027, 2, 10), "春節（補假）"),
        (date(2027, 2, 11), None),
        (date(2026, 9, 25), "中秋節"),
        (date(2027, 12, 31), "中華民國開國紀念日（補假）"),  # observed for 2028-01-01, a Saturday
    ],
)
def test_taiwan_holidays_in_the_countrys_own_language(d: date, name: str | None) -> None:
    assert is_holiday("TW", None, d) == name


def test_korean_and_us_names() -> None:
    assert is_holiday("KR", None, date(2026, 2, 17)) == "설날"
    assert is_holiday("KR", None, date(2026, 9, 25)) == "추석"
    assert is_holiday("US", None, date(2026, 11, 26)) == "Thanksgiving Day"


def test_subdivision_holidays_only_with_the_subdivision() -> None:
    assert is_holiday("US", "CA", date(2026, 3, 31)) == "Cesar Chavez Day"
    assert is_holiday("US", None, date(2026, 3, 31)) is None


def test_china_make_up_workdays_and_the_rest_days_they_buy() -> None:
    saturday, sunday = date(2026, 2, 14), date(2026, 1, 4)
    assert saturday.weekday() == 5 and sunday.weekday() == 6
    for d in (saturday, sunday):
        assert is_working_day("CN", None, d)
        assert is_makeup_workday("CN", None, d)
        assert is_holiday("CN", None, d) is None
    friday = date(2026, 2, 20)
    assert is_holiday("CN", None, friday) == "休息日（由 2026-02-14 调休）"
    assert not is_working_day("CN", None, friday)
    assert not is_makeup_workday("CN", None, friday)
    # An ordinary Saturday is neither.
    assert not is_working_day("CN", None, date(2026, 3, 7))
    assert not is_makeup_workday("CN", None, date(2026, 3, 7))


def test_taiwan_has_no_make_up_saturdays_in_2026_2027() -> None:
    weekends = [
        date.fromordinal(o)
        for o in range(date(2026, 1, 1).toordinal(), date(2028, 1, 1).toordinal())
    ]
    assert not any(is_makeup_workday("TW", None, d) for d in weekends if d.weekday() >= 5)


def test_unknown_country_has_no_holidays_and_a_five_day_week() -> None:
    assert not has_calendar("XX")
    assert has_calendar("tw")
    assert is_holiday("XX", None, date(2026, 1, 1)) is None
    assert day_kind("XX", None, date(2026, 1, 3)) == (None, False)
    assert is_working_day("XX", None, date(2026, 1, 2))
    assert not is_working_day("XX", None, date(2026, 1, 3))


def test_check_calendar_names_the_bad_calendar() -> None:
    check_calendar("TW")
    check_calendar("US", "CA")
    with pytest.raises(ConfigError, match="XX"):
        check_calendar("XX")
    with pytest.raises(ConfigError, match="US/ZZ"):
        check_calendar("US", "ZZ")


@pytest.mark.parametrize(
    ("zone", "country"),
    [
        ("Asia/Taipei", "TW"),
        ("Asia/Seoul", "KR"),
        ("Asia/Shanghai", "CN"),
        ("Asia/Hong_Kong", "HK"),
        ("Asia/Tokyo", "JP"),
        ("America/New_York", "US"),
        ("Pacific/Honolulu", "US"),
        ("Europe/London", "GB"),
        ("Europe/Paris", "FR"),  # from the tz database's zone.tab
        ("Etc/GMT-8", None),
        ("UTC", None),
        ("Mars/Olympus_Mons", None),
    ],
)
def test_zone_country(zone: str, country: str | None) -> None:
    assert zone_country(zone) == country
