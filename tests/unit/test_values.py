"""Cell-value parsers: what people type in CJK and English exports, and the reasons for bad cells."""

from __future__ import annotations

from datetime import date, time

import pytest

from dialer.errors import RowError
from dialer.values import (
    parse_country,
    parse_date,
    parse_flag,
    parse_int,
    parse_language,
    parse_optional_flag,
    parse_quiet_hours,
    parse_time,
    parse_time_zone,
)


def rejected(fn: object, *args: object, **kwargs: object) -> RowError:
    assert callable(fn)
    with pytest.raises(RowError) as info:
        fn(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------------------ flags


@pytest.mark.parametrize(
    "text",
    ["是", "Y", "y", "yes", "YES", "true", "True", "1", "會員", "会员", "회원", "예", "O", "o", "✓",
     " 是 ", "Ｙ", "金卡會員", "VIP회원", "1.0", "네"],
)  # fmt: skip
def test_flag_yes(text: str) -> None:
    assert parse_flag(text, "member") is True
    assert parse_optional_flag(text, "consent") is True


@pytest.mark.parametrize(
    "text",
    ["否", "N", "no", "No", "false", "0", "非會員", "非会员", "비회원", "아니오", "아니요", "X", "x",
     "✗", "不同意", "미동의"],
)  # fmt: skip
def test_flag_no(text: str) -> None:
    assert parse_flag(text, "member") is False
    assert parse_optional_flag(text, "consent") is False


def test_flag_empty_is_no_but_optional_flag_empty_is_unknown() -> None:
    assert parse_flag("", "member") is False
    assert parse_flag("  ", "member") is False
    assert parse_optional_flag("", "consent") is None
    assert parse_optional_flag("-", "consent") is None


def test_flag_rejects_other_text_quoting_it() -> None:
    err = rejected(parse_flag, "maybe", "member")
    assert err.reason == "member must be yes or no, got 'maybe'"
    assert (err.column, err.value) == ("member", "maybe")
    err = rejected(parse_optional_flag, "看情況", "consent")
    assert err.reason == "marketing consent must be yes or no, got '看情況'"
    err = rejected(parse_flag, "2", "vip", what="VIP")
    assert err.reason == "VIP must be yes or no, got '2'"


# ------------------------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20",
        "2026/11/20",
        "2026.11.20",
        "20261120",
        "2026年11月20日",
        "2026 年 11 月 20 日",
        "2026年11月20日(五)",
        "2026년 11월 20일",
        "115/11/20",
        "115.11.20",
        "民國115年11月20日",
        "民国115年11月20日",
        "115年11月20日",
        "民國115/11/20",
        "11/20/2026",
        "20/11/2026",
        "2026-11-20T14:30:00",
        "2026-11-20T14:30:00Z",
        "2026-11-20 14:30",
        "2026/11/20 下午 02:30:00",
        "20 Nov 2026",
        "Nov 20, 2026",
        "November 20 2026",
        "46346",
        "２０２６－１１－２０",
    ],
)
def test_date_formats(text: str) -> None:
    assert parse_date(text, "service_date") == date(2026, 11, 20)


def test_date_ambiguous_day_month_follows_dayfirst() -> None:
    assert parse_date("03/04/2026", "service_date") == date(2026, 3, 4)
    assert parse_date("03/04/2026", "service_date", dayfirst=True) == date(2026, 4, 3)
    err = rejected(parse_date, "03/04/2026", "service_date", dayfirst=None)
    assert "'03/04/2026' is ambiguous" in err.reason
    # unambiguous whatever dayfirst says
    assert parse_date("13/04/2026", "service_date", dayfirst=False) == date(2026, 4, 13)
    assert parse_date("04/13/2026", "service_date", dayfirst=True) == date(2026, 4, 13)
    assert parse_date("04/04/2026", "service_date", dayfirst=None) == date(2026, 4, 4)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-02-30", "service date '2026-02-30' is not a real date"),
        ("2026-13-01", "service date '2026-13-01' is not a real date"),
        ("115/02/30", "service date '115/02/30' is not a real date"),
        ("next week", "service date must be a date like 2026-11-20, got 'next week'"),
        ("2026-11-20 junk", "service date must be a date like 2026-11-20, got '2026-11-20 junk'"),
        ("99/1/1", "service date must be a date like 2026-11-20, got '99/1/1'"),
        ("0026-11-20", "service date '0026-11-20' has an implausible year 26"),
        ("", "service date is empty"),
    ],
)
def test_date_rejections(text: str, reason: str) -> None:
    err = rejected(parse_date, text, "service_date")
    assert err.reason == reason
    assert (err.column, err.value) == ("service_date", text)


def test_date_two_digit_cjk_year_is_refused() -> None:
    err = rejected(parse_date, "26年11月20日", "service_date")
    assert "two-digit year" in err.reason and "'26年11月20日'" in err.reason


# ------------------------------------------------------------------------------------ times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:30", time(14, 30)),
        ("14:30:00", time(14, 30)),
        ("9:05", time(9, 5)),
        ("下午2:30", time(14, 30)),
        ("上午10:00", time(10, 0)),
        ("晚上8點", time(20, 0)),
        ("下午2點半", time(14, 30)),
        ("中午12:30", time(12, 30)),
        ("中午1點", time(13, 0)),
        ("凌晨12:10", time(0, 10)),
        ("오후 2:30", time(14, 30)),
        ("오전 9시 30분", time(9, 30)),
        ("2:30 PM", time(14, 30)),
        ("2:30pm", time(14, 30)),
        ("12:15 AM", time(0, 15)),
        ("12 PM", time(12, 0)),
        ("14時30分", time(14, 30)),
        ("14时30分15秒", time(14, 30, 15)),
        ("0930", time(9, 30)),
        ("１４：３０", time(14, 30)),
        ("2026-11-20 14:30", time(14, 30)),
        ("2026-11-20T14:30:00+08:00", time(14, 30)),
    ],
)
def test_time_formats(text: str, expected: time) -> None:
    assert parse_time(text, "service_time") == expected


def test_time_empty_is_none() -> None:
    assert parse_time("", "service_time") is None
    assert parse_time("   ", "service_time") is None


@pytest.mark.parametrize("text", ["25:00", "14:60", "13 PM", "下午13:00", "soon", "14:30:99"])
def test_time_rejections(text: str) -> None:
    err = rejected(parse_time, text, "service_time")
    assert err.reason == f"service time must be a time like 14:30, got '{text}'"
    assert err.value == text


# ---------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12345", 12345),
        ("12,345", 12345),
        ("12,345 km", 12345),
        ("12345公里", 12345),
        ("12345 KM", 12345),
        ("1,234,567", 1234567),
        ("12345.0", 12345),
        ("12345.6", 12346),
        ("１２３４５", 12345),
        ("12 345 킬로", 12345),
    ],
)
def test_int_formats(text: str, expected: int) -> None:
    assert parse_int(text, "mileage") == expected


@pytest.mark.parametrize("text", ["abc", "12,34", "12 miles", "", "1.2.3"])
def test_int_rejections(text: str) -> None:
    err = rejected(parse_int, text, "mileage")
    assert err.reason == f"mileage must be a whole number, got '{text}'"


def test_int_negative() -> None:
    err = rejected(parse_int, "-5", "mileage")
    assert err.reason == "mileage must not be negative, got '-5'"
    assert parse_int("-5", "offset", allow_negative=True) == -5


# ------------------------------------------------------------------------------ quiet hours


def test_quiet_hours() -> None:
    assert parse_quiet_hours("12:00-13:30", "quiet_hours") == [(time(12), time(13, 30))]
    assert parse_quiet_hours("22:00~08:00", "quiet_hours") == [(time(22), time(8))]
    assert parse_quiet_hours("12:00-13:30, 22:00～07:00；1-2、18:00 to 19:00", "quiet_hours") == [
        (time(12), time(13, 30)),
        (time(22), time(7)),
        (time(1), time(2)),
        (time(18), time(19)),
    ]
    assert parse_quiet_hours("晚上10點到早上8點", "quiet_hours") == [(time(22), time(8))]
    assert parse_quiet_hours("", "quiet_hours") == []


@pytest.mark.parametrize("text", ["lunch", "12:00", "12:00-13:00-14:00", "25:00-26:00"])
def test_quiet_hours_rejections(text: str) -> None:
    err = rejected(parse_quiet_hours, text, "quiet_hours")
    assert err.reason == f"quiet hours must be time ranges like 12:00-13:30, got '{text}'"


def test_quiet_hours_empty_span() -> None:
    err = rejected(parse_quiet_hours, "12:00-12:00", "quiet_hours")
    assert err.reason == "quiet hours '12:00-12:00' has a span that starts where it ends"


# --------------------------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("中文", "zh-TW"),
        ("繁體中文", "zh-TW"),
        ("國語", "zh-TW"),
        ("zh-TW", "zh-TW"),
        ("zh_TW", "zh-TW"),
        ("tw", "zh-TW"),
        ("简体中文", "zh-CN"),
        ("普通话", "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("한국어", "ko"),
        ("Korean", "ko"),
        ("ko", "ko"),
        ("KR", "ko"),
        ("English", "en"),
        ("en", "en"),
        ("英文", "en"),
        ("영어", "en"),
        ("fr-CA", "fr-ca"),
        ("Vietnamese", "vietnamese"),
        ("", None),
        ("  ", None),
    ],
)
def test_language(text: str, expected: str | None) -> None:
    assert parse_language(text) == expected


# -------------------------------------------------------------------------------- time zone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Asia/Taipei", "Asia/Taipei"),
        ("asia/seoul", "Asia/Seoul"),
        ("America/New_York", "America/New_York"),
        ("america/new york", "America/New_York"),
        ("UTC", "UTC"),
        ("GMT", "UTC"),
        ("UTC+8", "Etc/GMT-8"),
        ("GMT+08:00", "Etc/GMT-8"),
        ("UTC+09", "Etc/GMT-9"),
        ("UTC-5", "Etc/GMT+5"),
        ("+0800", "Etc/GMT-8"),
        ("UTC+0", "UTC"),
        ("KST", "Asia/Seoul"),
        ("台北", "Asia/Taipei"),
        ("서울", "Asia/Seoul"),
    ],
)
def test_time_zone(text: str, expected: str) -> None:
    assert parse_time_zone(text, "time_zone") == expected


def test_time_zone_offset_sign_is_inverted_for_etc_zones() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(parse_time_zone("UTC+8", "time_zone"))
    assert datetime(2026, 1, 1, tzinfo=UTC).astimezone(zone).hour == 8


@pytest.mark.parametrize("text", ["Mars/Olympus", "../../etc/passwd", "UTC+15", "CST", "nowhere"])
def test_time_zone_rejections(text: str) -> None:
    err = rejected(parse_time_zone, text, "time_zone")
    assert (
        err.reason == f"time zone '{text}' is not a known time zone (use a name like Asia/Taipei)"
    )


def test_time_zone_half_hour_offset_needs_a_name() -> None:
    err = rejected(parse_time_zone, "UTC+5:30", "time_zone")
    assert "'UTC+5:30' is not a whole-hour offset" in err.reason


# ---------------------------------------------------------------------------------- country


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TW", "TW"),
        ("tw", "TW"),
        ("台灣", "TW"),
        ("臺灣", "TW"),
        ("Taiwan", "TW"),
        ("中國", "CN"),
        ("中国", "CN"),
        ("China", "CN"),
        ("韓國", "KR"),
        ("韩国", "KR"),
        ("한국", "KR"),
        ("대한민국", "KR"),
        ("Korea", "KR"),
        ("South Korea", "KR"),
        ("美國", "US"),
        ("美国", "US"),
        ("USA", "US"),
        ("United States", "US"),
        ("日本", "JP"),
        ("Japan", "JP"),
        ("香港", "HK"),
        ("HK", "HK"),
        ("SG", "SG"),
        ("+886", "TW"),
        ("82", "KR"),
        ("ＴＷ", "TW"),
    ],
)
def test_country(text: str, expected: str) -> None:
    assert parse_country(text, "country") == expected


@pytest.mark.parametrize("text", ["XX", "Narnia", "999", "T"])
def test_country_rejections(text: str) -> None:
    err = rejected(parse_country, text, "country")
    assert err.reason == f"country '{text}' is not a known country (use a 2-letter code like TW)"
    assert (err.column, err.value) == ("country", text)
