"""Cell-value parsers for customer files: text as people type it in Excel, into typed values.

Every parser is pure and raises `RowError(reason, column, value)` whose reason quotes the
offending text, so a rejects file tells the user exactly which cell to fix. Input is
NFKC-normalised first so full-width digits and colons (１４：３０) from CJK input methods work.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import available_timezones

import phonenumbers

from dialer.errors import RowError

__all__ = [
    "parse_country",
    "parse_date",
    "parse_date_and_time",
    "parse_flag",
    "parse_int",
    "parse_language",
    "parse_optional_flag",
    "parse_quiet_hours",
    "parse_time",
    "parse_time_and_offset",
    "parse_time_zone",
]

# What a column means, for reasons a person reads ("member must be yes or no, ...").
_WHAT = {
    "member": "member",
    "consent": "marketing consent",
    "service_date": "service date",
    "service_time": "service time",
    "quiet_hours": "quiet hours",
    "time_zone": "time zone",
    "mileage": "mileage",
    "country": "country",
}


def _what(column: str, what: str | None) -> str:
    return what or _WHAT.get(column, column.replace("_", " "))


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


# ----------------------------------------------------------------------------------- flags

_TRUE = {
    "是", "有", "對", "对", "要", "y", "yes", "true", "t", "1", "1.0", "on", "o", "v", "✓", "✔",
    "☑", "會員", "会员", "회원", "예", "네", "yes.", "同意", "동의", "member", "ok", "○", "◯", "●",
}  # fmt: skip
_FALSE = {
    "否", "無", "无", "不", "不要", "n", "no", "false", "f", "0", "0.0", "off", "x", "✗", "✘",
    "☐", "非會員", "非会员", "비회원", "아니오", "아니요", "아니", "不同意", "미동의", "비동의",
    "non-member", "nonmember", "none", "×",
}  # fmt: skip
_EMPTY = {"", "-", "—", "–", "n/a", "na"}
_NEGATIONS = ("非", "未", "不", "비", "미", "non")


@lru_cache(maxsize=1024)  # pure; a file spells yes and no a handful of ways
def _flag(text: str) -> bool | None:
    """True/False, None for empty; raises KeyError for text that is neither."""
    key = _clean(text).casefold()
    if key in _EMPTY:
        return None
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    # Membership levels such as 金卡會員 / 一般会员 / VIP회원 mean "member"; 非會員 does not.
    for suffix in ("會員", "会员", "회원"):
        if key.endswith(suffix) and len(key) > len(suffix):
            return not key.startswith(_NEGATIONS)
    raise KeyError(key)


def parse_flag(text: str, column: str, *, what: str | None = None) -> bool:
    """Yes/no cell (是/否, Y/N, 회원/비회원, O/X, ✓ ...); empty means no."""
    try:
        return bool(_flag(text))
    except KeyError:
        raise RowError(
            f"{_what(column, what)} must be yes or no, got '{text}'", column, text
        ) from None


def parse_optional_flag(text: str, column: str, *, what: str | None = None) -> bool | None:
    """Like parse_flag, but empty means unknown (None): consent must not default to yes or no."""
    try:
        return _flag(text)
    except KeyError:
        raise RowError(
            f"{_what(column, what)} must be yes or no, got '{text}'", column, text
        ) from None


# ----------------------------------------------------------------------------------- dates

_TIME_TAIL = r"(?P<tail>[t\s].*)?"
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME_TAIL, re.S)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_ROC_PREFIX = re.compile(r"^(?:民國|民国|中華民國|中华民国)\s*")
_CJK = re.compile(r"(\d{2,4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일号號]?.*", re.S)
_ROC_NUMERIC = re.compile(r"(\d{2,3})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME_TAIL, re.S)
_MDY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})" + _TIME_TAIL, re.S)
_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_DMON = re.compile(r"(\d{1,2})[\s-]+([a-z]+)\.?[\s-]+(\d{4})" + _TIME_TAIL, re.S)
_MOND = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})" + _TIME_TAIL, re.S)
_EXCEL_EPOCH = date(1899, 12, 30)
_ROC_OFFSET = 1911


@lru_cache(maxsize=4096)  # pure; a file repeats few distinct values
def parse_date(
    text: str, column: str, *, dayfirst: bool | None = False, what: str | None = None
) -> date:
    """A calendar date as CJK and US exports write it; a time part, if any, is ignored.

    Accepts ISO (2026-11-20, 2026/11/20, 2026.11.20, 20261120, with an optional time), CJK
    (2026年11月20日, 2026년 11월 20일), ROC years (民國115年11月20日, 115/11/20 -> 2026),
    month names (20 Nov 2026, Nov 20, 2026), Excel serial numbers (46346) and
    a/b/yyyy: when both a and b could be the month, `dayfirst` decides (False: US
    month/day; True: day/month; None: refuse as ambiguous).
    """
    label = _what(column, what)
    s = _clean(text).casefold()
    if not s:
        raise RowError(f"{label} is empty", column, text)
    ymd = _date_parts(s, dayfirst, label, text, column)
    if ymd is None:
        raise RowError(f"{label} must be a date like 2026-11-20, got '{text}'", column, text)
    year, month, day = ymd
    if not 1900 <= year <= 2199:
        raise RowError(f"{label} '{text}' has an implausible year {year}", column, text)
    try:
        return date(year, month, day)
    except ValueError:
        raise RowError(f"{label} '{text}' is not a real date", column, text) from None


def _date_parts(
    s: str, dayfirst: bool | None, label: str, text: str, column: str
) -> tuple[int, int, int] | None:
    if m := _ISO.fullmatch(s):
        return _with_time(m, (int(m[1]), int(m[2]), int(m[3])))
    if m := _COMPACT.fullmatch(s):
        return int(m[1]), int(m[2]), int(m[3])
    roc = bool(_ROC_PREFIX.match(s))
    s = _ROC_PREFIX.sub("", s)
    if m := _CJK.fullmatch(s):
        year = int(m[1])
        if roc or len(m[1]) == 3:
            year += _ROC_OFFSET
        elif len(m[1]) == 2:
            raise RowError(
                f"{label} '{text}' has a two-digit year; write it in full (2026年...)",
                column,
                text,
            )
        return year, int(m[2]), int(m[3])
    if m := _ROC_NUMERIC.fullmatch(s):
        if roc or len(m[1]) == 3:
            return _with_time(m, (int(m[1]) + _ROC_OFFSET, int(m[2]), int(m[3])))
        return None
    if m := _MDY.fullmatch(s):
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        if _with_time(m, (0, 0, 0)) is None:
            return None
        if a > 12 >= b:
            return year, b, a
        if b > 12 >= a or a == b:
            return year, a, b
        if dayfirst is None:
            raise RowError(
                f"{label} '{text}' is ambiguous (day/month or month/day?); use 2026-11-20",
                column,
                text,
            )
        return (year, b, a) if dayfirst else (year, a, b)
    if (m := _DMON.fullmatch(s)) and m[2] in _MONTHS:
        return _with_time(m, (int(m[3]), _MONTHS[m[2]], int(m[1])))
    if (m := _MOND.fullmatch(s)) and m[1] in _MONTHS:
        return _with_time(m, (int(m[3]), _MONTHS[m[1]], int(m[2])))
    if re.fullmatch(r"\d{5}(?:\.0+)?", s) and 30000 <= (serial := int(float(s))) <= 80000:
        d = _EXCEL_EPOCH + timedelta(days=serial)
        return d.year, d.month, d.day
    return None


def _with_time(m: re.Match[str], ymd: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """The date parts, provided whatever follows the date is a clock reading (or nothing)."""
    tail = m["tail"]
    if tail and tail.strip() and _time_of(tail.strip().removeprefix("t")) is None:
        return None
    return ymd


@lru_cache(maxsize=4096)  # pure; a file repeats few distinct values
def parse_date_and_time(
    text: str, column: str, *, dayfirst: bool | None = False, what: str | None = None
) -> tuple[date, time | None, timezone | None]:
    """A date cell that may hold a time and an offset too ("2027-03-11 19:00", "…T16:00+00:00").

    The date as `parse_date` reads it, the time of day written after it (None without one; an
    Excel midnight is no time) and the UTC offset written after that (None without one).
    """
    day = parse_date(text, column, dayfirst=dayfirst, what=what)
    s = _clean(text).casefold()
    tail = None
    for pattern in (_ISO, _ROC_NUMERIC, _MDY, _DMON, _MOND):
        if (m := pattern.fullmatch(_ROC_PREFIX.sub("", s))) is not None:
            tail = m["tail"]
            break
    if not tail or not tail.strip():
        return day, None, None
    at, offset = _time_and_offset(tail.strip().removeprefix("t").strip())
    return day, at, offset


# ----------------------------------------------------------------------------------- times

# Words that put a clock reading in the afternoon / morning / around noon, longest first.
_HALF_WORDS = sorted(
    [
        *((w, "pm") for w in ("下午", "晚上", "傍晚", "晚間", "晚间", "夜間", "夜间", "오후", "저녁", "밤", "p.m.", "pm")),
        *((w, "am") for w in ("上午", "早上", "早晨", "凌晨", "清晨", "오전", "새벽", "아침", "a.m.", "am")),
        *((w, "noon") for w in ("中午", "正午", "낮")),
    ],
    key=lambda item: -len(item[0]),
)  # fmt: skip
_CLOCK = re.compile(
    r"(\d{1,2})"
    r"(?:\s*[:時时点點시]\s*(?:(\d{1,2})\s*[分분]?)?"
    r"(?:(?::|(?<=[分분]))\s*(\d{1,2})(?:\.\d+)?\s*[秒초]?)?)?"
)
_DATE_PREFIX = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:t|\s+)")
_OFFSET_TAIL = re.compile(r"(?<=\d)\s*(?:z|(?:utc|gmt)?([+-])(\d{2}):?(\d{2}))$")
_HALF_HOUR = re.compile(r"([點点時时시])\s*[半반]$")


@lru_cache(maxsize=4096)  # pure; a file repeats few distinct values
def parse_time(text: str, column: str, *, what: str | None = None) -> time | None:
    """A time of day: 14:30, 14:30:00, 下午2:30, 오후 2:30, 2:30 PM, 14時30分; empty -> None."""
    s = _clean(text).casefold()
    if not s:
        return None
    result = _time_of(_DATE_PREFIX.sub("", s))
    if result is None:
        label = _what(column, what)
        raise RowError(f"{label} must be a time like 14:30, got '{text}'", column, text)
    return result


@lru_cache(maxsize=4096)  # pure; a file repeats few distinct values
def parse_time_and_offset(
    text: str, column: str, *, what: str | None = None
) -> tuple[time | None, timezone | None]:
    """parse_time, plus the UTC offset written after the time ("16:00+00:00", "16:00Z"), if any.

    An offset says which instant is meant, so it wins over every zone the import would
    otherwise read the time in (issue 17: 16:00+00:00 is 01:00 the next day in Seoul).
    """
    s = _clean(text).casefold()
    if not s:
        return None, None
    at, offset = _time_and_offset(_DATE_PREFIX.sub("", s))
    if at is None:
        label = _what(column, what)
        raise RowError(f"{label} must be a time like 14:30, got '{text}'", column, text)
    return at, offset


def _time_and_offset(s: str) -> tuple[time | None, timezone | None]:
    """One clock reading with its offset, if written ("z", "+09:00", "-0500", "UTC+8" not)."""
    m = _OFFSET_TAIL.search(s.strip())
    offset = None
    if m is not None:
        if m[1] is None:
            offset = UTC
        else:
            hours, minutes = int(m[2]), int(m[3])
            if hours > 14 or minutes > 59:
                return None, None
            delta = timedelta(hours=hours, minutes=minutes)
            offset = timezone(-delta if m[1] == "-" else delta)
    return _time_of(s), offset


def _time_of(s: str) -> time | None:
    """One clock reading (casefolded, NFKC) as a time, or None when it is not one."""
    s = s.strip()
    half = None
    for word, kind in _HALF_WORDS:
        if s.startswith(word):
            s, half = s[len(word) :].strip(), kind
            break
        if s.endswith(word):
            s, half = s[: -len(word)].strip(), kind
            break
    s = _HALF_HOUR.sub(r"\g<1>30", _OFFSET_TAIL.sub("", s))  # ISO offset: keep the wall clock
    if half is None and len(s) == 4 and s.isdigit():
        s = f"{s[:2]}:{s[2:]}"
    m = _CLOCK.fullmatch(s)
    if m is None:
        return None
    hour, minute, second = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    if half is not None:
        if not 1 <= hour <= 12:
            return None
        if half == "pm" and hour != 12:
            hour += 12
        elif half == "am" and hour == 12:
            hour = 0
        elif half == "noon" and hour < 6:
            hour += 12
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


# ---------------------------------------------------------------------------------- numbers

_UNITS = re.compile(
    r"\s*(?:km|kms|kilometers?|kilometres?|公里|千米|キロ|킬로미터|킬로|키로)\.?$", re.I
)
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def parse_int(
    text: str, column: str, *, allow_negative: bool = False, what: str | None = None
) -> int:
    """A whole number such as a mileage: tolerates 12,345 / 12,345 km / 12345公里 / 12345.0."""
    if text.isascii() and text.isdigit():  # the common case, without NFKC and three regexes
        return int(text)
    label = _what(column, what)
    s = _UNITS.sub("", _clean(text))
    s = re.sub(r"(?<=\d)[,'_\s](?=\d{3}(?:\D|$))", "", s)
    if not _NUMBER.fullmatch(s):
        raise RowError(f"{label} must be a whole number, got '{text}'", column, text)
    value = round(float(s)) if "." in s else int(s)
    if value < 0 and not allow_negative:
        raise RowError(f"{label} must not be negative, got '{text}'", column, text)
    return value


# ------------------------------------------------------------------------------ quiet hours

_SPAN_SEPARATORS = re.compile(r"[,;、，；\n]+")
_RANGE = re.compile(r"\s*(?:-|~|–|—|〜|～|至|到|to|부터|에서)\s*", re.I)


def parse_quiet_hours(
    text: str, column: str, *, what: str | None = None
) -> list[tuple[time, time]]:
    """Spans like "12:00-13:30", "22:00~08:00" (wraps midnight), several separated by , ; 、."""
    label = _what(column, what)
    s = _clean(text)
    spans: list[tuple[time, time]] = []
    if not s:
        return spans
    for part in _SPAN_SEPARATORS.split(s):
        if not part.strip():
            continue
        ends = _RANGE.split(part.strip().removesuffix("까지"))
        if len(ends) != 2:
            raise RowError(
                f"{label} must be time ranges like 12:00-13:30, got '{text}'", column, text
            )
        start, end = (_time_of(e.casefold()) for e in ends)
        if start is None or end is None:
            raise RowError(
                f"{label} must be time ranges like 12:00-13:30, got '{text}'", column, text
            )
        if start == end:
            raise RowError(f"{label} '{text}' has a span that starts where it ends", column, text)
        spans.append((start, end))
    return spans


# --------------------------------------------------------------------------------- language

_LANGUAGES = {
    "zh-TW": "中文|繁體中文|繁体中文|繁中|正體中文|國語|国语|華語|漢語|中文(繁體)|中文繁體|traditional chinese"
    "|chinese (traditional)|chinese|zh-tw|zh-hant|zh-hant-tw|tw|중국어(번체)",
    "zh-CN": "简体中文|簡體中文|简中|簡中|普通话|普通話|汉语|华语|中文(简体)|中文简体|simplified chinese"
    "|chinese (simplified)|mandarin|zh-cn|zh-hans|zh-hans-cn|cn|중국어",
    "zh-HK": "粵語|粤语|廣東話|广东话|cantonese|zh-hk|yue",
    "ko": "한국어|한국말|韓語|韩语|韓文|韩文|korean|ko|kr|ko-kr|kor",
    "en": "english|英文|英語|英语|영어|en|eng",
    "ja": "日本語|日语|日語|日文|일본어|japanese|ja|jp|ja-jp|jpn",
}
_LANGUAGE_OF = {
    name.casefold(): code for code, names in _LANGUAGES.items() for name in names.split("|")
}


def parse_language(text: str) -> str | None:
    """A language tag: common names in Chinese, Korean and English to BCP 47; empty -> None."""
    s = _clean(text)
    if not s:
        return None
    key = re.sub(r"\s+", " ", s.casefold().replace("_", "-"))
    return _LANGUAGE_OF.get(key, key)


# -------------------------------------------------------------------------------- time zone

_ZONE_ALIASES = {
    "utc": "UTC", "gmt": "UTC", "z": "UTC", "kst": "Asia/Seoul", "jst": "Asia/Tokyo",
    "hkt": "Asia/Hong_Kong", "台北": "Asia/Taipei", "臺北": "Asia/Taipei", "taipei": "Asia/Taipei",
    "台灣": "Asia/Taipei", "臺灣": "Asia/Taipei", "taiwan": "Asia/Taipei", "首爾": "Asia/Seoul",
    "首尔": "Asia/Seoul", "서울": "Asia/Seoul", "seoul": "Asia/Seoul", "한국": "Asia/Seoul",
    "北京": "Asia/Shanghai", "上海": "Asia/Shanghai", "beijing": "Asia/Shanghai",
    "香港": "Asia/Hong_Kong", "hong kong": "Asia/Hong_Kong", "東京": "Asia/Tokyo",
    "东京": "Asia/Tokyo", "tokyo": "Asia/Tokyo",
}  # fmt: skip
_OFFSET = re.compile(r"(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?")


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


def parse_time_zone(text: str, column: str, *, what: str | None = None) -> str:
    """An IANA zone name (any case), UTC, a whole-hour offset (UTC+8 -> Etc/GMT-8) or a city."""
    label = _what(column, what)
    s = _clean(text)
    key = re.sub(r"\s+", " ", s.casefold())
    if key in _ZONE_ALIASES:
        return _ZONE_ALIASES[key]
    zones = _zones()
    if key.replace(" ", "_") in zones:
        return zones[key.replace(" ", "_")]
    if m := _OFFSET.fullmatch(key):
        sign, hours, minutes = m[1], int(m[2]), int(m[3] or 0)
        if minutes:
            raise RowError(
                f"{label} '{text}' is not a whole-hour offset; use a zone name like Asia/Kolkata",
                column,
                text,
            )
        if hours == 0:
            return "UTC"
        # POSIX-style Etc zones invert the sign: UTC+8 is Etc/GMT-8.
        name = f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
        if name.casefold() in zones:
            return zones[name.casefold()]
    raise RowError(
        f"{label} '{text}' is not a known time zone (use a name like Asia/Taipei)", column, text
    )


# ---------------------------------------------------------------------------------- country

_COUNTRIES = {
    "TW": "台灣|臺灣|台湾|中華民國|中华民国|taiwan|twn|대만|타이완|roc|republic of china",
    "CN": "中國|中国|中國大陸|中国大陆|大陸|大陆|內地|内地|中华人民共和国|中華人民共和國|china|chn|prc"
    "|중국|mainland china|people's republic of china",
    "KR": "韓國|韩国|南韓|南韩|大韓民國|大韩民国|한국|대한민국|남한|korea|south korea|kor|rok"
    "|republic of korea|korea, republic of",
    "US": "美國|美国|미국|usa|united states|united states of america|america|u.s.|u.s.a.",
    "JP": "日本|일본|japan|jpn",
    "HK": "香港|홍콩|hong kong|hkg",
    "MO": "澳門|澳门|마카오|macau|macao|mac",
    "SG": "新加坡|싱가포르|singapore|sgp",
    "MY": "馬來西亞|马来西亚|말레이시아|malaysia|mys",
    "GB": "英國|英国|영국|uk|united kingdom|great britain|gbr",
    "CA": "加拿大|캐나다|canada|can",
    "AU": "澳洲|澳大利亞|澳大利亚|호주|australia|aus",
    "VN": "越南|베트남|vietnam|viet nam|vnm",
    "TH": "泰國|泰国|태국|thailand|tha",
    "PH": "菲律賓|菲律宾|필리핀|philippines|phl",
    "ID": "印尼|印度尼西亞|印度尼西亚|인도네시아|indonesia|idn",
}
_COUNTRY_OF = {
    name.casefold(): code for code, names in _COUNTRIES.items() for name in names.split("|")
}


_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)


def parse_country(text: str, column: str, *, what: str | None = None) -> str:
    """An ISO 3166 alpha-2 code from a code, a name (台灣, 한국, Korea ...) or a calling code."""
    label = _what(column, what)
    s = _clean(text)
    key = re.sub(r"\s+", " ", s.casefold())
    if key in _COUNTRY_OF:
        return _COUNTRY_OF[key]
    if len(key) == 2 and key.upper() in _REGIONS:
        return key.upper()
    if m := re.fullmatch(r"\+?(\d{1,3})", key):
        region = str(phonenumbers.region_code_for_country_code(int(m[1])))
        if region in _REGIONS:
            return region
    raise RowError(
        f"{label} '{text}' is not a known country (use a 2-letter code like TW)", column, text
    )
