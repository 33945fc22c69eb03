"""What a country says about contact: public holidays, the legal calling floor, zones' countries.

Holiday calendars come from the `holidays` package, cached per year.

Building a `holidays` calendar costs about a millisecond and the window engine asks about the
same few (country, subdivision, year) triples millions of times, so each year is built once and
each day's answer is cached too. Names come in the country's own language (中秋節, 설날, 春节)
because they end up in sentences the campaign's own staff read.

A **make-up workday** (調班 / 调休上班) is a weekend day that the calendar declares a working day,
e.g. China's Saturday 2026-02-14 before the Spring Festival break. The weekday rest days it buys
are holidays in the calendar ("休息日（由 2026-02-14 调休）"), so they are closed like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

import holidays

from dialer.errors import ConfigError

Span = tuple[time, time]
"""Local wall-clock [start, end); end <= start wraps past midnight; end == 00:00 means midnight."""

PURPOSES = ("service", "marketing")


class DayKind(NamedTuple):
    """What a calendar says of one date: the holiday's name, or whether a weekend day is worked."""

    holiday: str | None
    makeup_workday: bool


_PLAIN_DAY = DayKind(None, False)


@lru_cache(maxsize=512)
def _calendar(country: str, subdiv: str | None, year: int) -> Any | None:
    """One year's calendar in the country's own language; None when `holidays` has no such calendar."""
    try:
        cls = type(holidays.country_holidays(country))
        language = getattr(cls, "default_language", None)
        return holidays.country_holidays(
            country, subdiv=subdiv, years=year, expand=False, language=language
        )
    except NotImplementedError:
        return None


def check_calendar(country: str, subdiv: str | None = None) -> None:
    """Raise ConfigError when a campaign names a calendar the `holidays` package does not have."""
    try:
        holidays.country_holidays(country.upper(), subdiv=subdiv)
    except NotImplementedError as exc:
        where = f"{country}/{subdiv}" if subdiv else country
        raise ConfigError(f"no public-holiday calendar for {where}: {exc}") from exc


def has_calendar(country: str, subdiv: str | None = None) -> bool:
    """Whether holidays are known for this country (zones of unknown countries simply have none)."""
    return _calendar(country.upper(), subdiv, 2026) is not None


@lru_cache(maxsize=65536)
def day_kind(country: str, subdiv: str | None, d: date) -> DayKind:
    """The holiday name (if any) and make-up-workday flag of `d`; a plain day for unknown calendars."""
    cal = _calendar(country.upper(), subdiv, d.year)
    if cal is None:
        return _PLAIN_DAY
    name = cal.get(d)
    if name is not None:
        return DayKind(str(name), False)
    if d.weekday() in cal.weekend and cal.is_working_day(d):
        return DayKind(None, True)
    return _PLAIN_DAY


def is_holiday(country: str, subdiv: str | None, d: date) -> str | None:
    """The public holiday's name on `d` (several joined by '; '), or None on an ordinary day."""
    return day_kind(country, subdiv, d).holiday


def is_working_day(country: str, subdiv: str | None, d: date) -> bool:
    """The calendar's own view: weekdays that are not holidays, plus weekend make-up workdays."""
    cal = _calendar(country.upper(), subdiv, d.year)
    if cal is None:
        return d.weekday() < 5
    return bool(cal.is_working_day(d))


def is_makeup_workday(country: str, subdiv: str | None, d: date) -> bool:
    """A weekend day the calendar declares a working day (China's 调休, Taiwan's former 補班)."""
    return day_kind(country, subdiv, d).makeup_workday


# ------------------------------------------------------------------------ country of a zone

_COUNTRY_ZONES = {
    "TW": "Asia/Taipei ROC",
    "KR": "Asia/Seoul ROK",
    "CN": "Asia/Shanghai Asia/Urumqi Asia/Chongqing Asia/Chungking Asia/Harbin Asia/Kashgar PRC",
    "HK": "Asia/Hong_Kong Hongkong",
    "MO": "Asia/Macau Asia/Macao",
    "JP": "Asia/Tokyo Japan",
    "SG": "Asia/Singapore Singapore",
    "GB": "Europe/London GB GB-Eire",
    "US": "America/New_York America/Detroit America/Kentucky/Louisville America/Louisville "
    "America/Kentucky/Monticello America/Indiana/Indianapolis America/Indianapolis "
    "America/Indiana/Vincennes America/Indiana/Winamac America/Indiana/Marengo "
    "America/Indiana/Petersburg America/Indiana/Vevay America/Chicago America/Indiana/Tell_City "
    "America/Indiana/Knox America/Menominee America/North_Dakota/Center "
    "America/North_Dakota/New_Salem America/North_Dakota/Beulah America/Denver America/Boise "
    "America/Phoenix America/Los_Angeles America/Anchorage America/Juneau America/Sitka "
    "America/Metlakatla America/Yakutat America/Nome America/Adak Pacific/Honolulu "
    "US/Eastern US/Central US/Mountain US/Pacific US/Alaska US/Hawaii US/Arizona",
}
_ZONE_COUNTRY = {zone: cc for cc, zones in _COUNTRY_ZONES.items() for zone in zones.split()}


@lru_cache(maxsize=1)
def _zone_tab() -> dict[str, str]:
    """zone.tab of the installed tz database: the fallback for zones outside our markets."""
    import zoneinfo
    from pathlib import Path

    for root in zoneinfo.TZPATH:
        path = Path(root) / "zone.tab"
        if path.is_file():
            table: dict[str, str] = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                if line and not line.startswith("#"):
                    fields = line.split("\t")
                    if len(fields) >= 3:
                        table[fields[2]] = fields[0]
            return table
    return {}


@lru_cache(maxsize=1024)
def zone_country(zone: str) -> str | None:
    """ISO country of an IANA zone (Asia/Taipei -> TW); None for UTC, Etc/GMT-8 and unknown zones."""
    return _ZONE_COUNTRY.get(zone) or _zone_tab().get(zone)


# ------------------------------------------------------------------------------ legal floor


@dataclass(frozen=True, slots=True)
class LegalFloor:
    """The local hours a country's law (or its norm) allows at all; no campaign can widen them."""

    service: tuple[Span, ...] = ((time(8), time(21)),)
    marketing: tuple[Span, ...] = ((time(8), time(21)),)
    source: str = "default 08:00–21:00"
    marketing_cap: int | None = None
    """At most this many marketing contacts per customer in any 24 hours (None: no legal cap)."""

    def spans(self, purpose: str) -> tuple[Span, ...]:
        return self.marketing if purpose == "marketing" else self.service


DEFAULT_FLOOR = LegalFloor()
LEGAL_FLOOR: Mapping[str, LegalFloor] = MappingProxyType(
    {
        "KR": LegalFloor(
            source="정보통신망법 §50③: advertising 21:00–08:00 needs separate consent, which "
            "dialer does not record, so marketing is floored at 08:00–21:00; SMS carry (광고)"
        ),
        "TW": LegalFloor(source="default 08:00–21:00"),
        "CN": LegalFloor(source="default 08:00–21:00 (no rest-time marketing calls)"),
        "US": LegalFloor(source="TCPA 47 CFR 64.1200(c)(1): 08:00–21:00 called party's time"),
        "JP": LegalFloor(source="default 08:00–21:00"),
        "HK": LegalFloor(source="default 08:00–21:00"),
    }
)


_EIGHT_TO_EIGHT = ((time(8), time(20)),)

SUBDIVISION_FLOOR: Mapping[str, LegalFloor] = MappingProxyType(
    {
        # Both statutes govern telephone solicitation (sales calls), i.e. the `marketing` purpose;
        # an after-service callback keeps the federal TCPA floor of the country.
        "US-FL": LegalFloor(
            marketing=_EIGHT_TO_EIGHT,
            marketing_cap=3,
            source="Fla. Stat. §501.616(6)(a) (2021, Florida Telephone Solicitation Act): "
            "telephone solicitation only 08:00–20:00 at the called person's location, at most "
            "3 calls per 24 hours on the same subject matter",
        ),
        "US-OK": LegalFloor(
            marketing=_EIGHT_TO_EIGHT,
            marketing_cap=3,
            source="Okla. Stat. tit. 15 §775C.4 (2022, Oklahoma Telephone Solicitation Act): "
            "telephonic sales calls only 08:00–20:00 at the called party's location, at most "
            "3 calls per 24 hours on the same subject",
        ),
    }
)
"""State and provincial floors, keyed "<country>-<subdivision>" (ISO 3166-2); they apply on top
of the country's floor (the strictest wins), to numbers whose area code or address is there."""


def legal_floor(key: str) -> LegalFloor:
    """The floor of a country ("US") or a subdivision ("US-FL"); the default for unknown keys."""
    return SUBDIVISION_FLOOR.get(key) or LEGAL_FLOOR.get(key, DEFAULT_FLOOR)


def country_subdivisions(country: str) -> tuple[str, ...]:
    """The subdivisions of `country` that have a floor of their own (for the strictest floor)."""
    prefix = country.upper() + "-"
    return tuple(k for k in SUBDIVISION_FLOOR if k.startswith(prefix))


def marketing_cap(keys: tuple[str, ...]) -> tuple[int, str] | None:
    """The strictest legal cap on marketing contacts per 24 hours among `keys`, with its source."""
    caps = [
        (f.marketing_cap, f.source) for f in map(legal_floor, keys) if f.marketing_cap is not None
    ]
    return min(caps) if caps else None


# Zone-less numbers (toll-free, non-geographic) of a country are called only when it is open at
# once at both ends of the country. The US entry is the contiguous states: Alaska (907) and Hawaii
# (808) numbers are geographic and carry their own zones.
SAFE_ZONES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "US": ("America/New_York", "America/Los_Angeles"),
        "CA": ("America/Halifax", "America/Vancouver"),
    }
)


@lru_cache(maxsize=256)
def safe_zones(country: str) -> tuple[str, ...]:
    """The most eastern and most western zones of a country (`SAFE_ZONES`, else its zone.tab
    zones with the largest and smallest January UTC offsets); () for an unknown country."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    cc = country.upper()
    if cc in SAFE_ZONES:
        return SAFE_ZONES[cc]
    zones = sorted(
        {z for z, c in _ZONE_COUNTRY.items() if c == cc and "/" in z}
        | {z for z, c in _zone_tab().items() if c == cc}
    )
    if not zones:
        return ()
    jan = datetime(2026, 1, 15, tzinfo=UTC)

    def offset(z: str) -> float:
        off = jan.astimezone(ZoneInfo(z)).utcoffset()
        return off.total_seconds() if off is not None else 0.0

    east, west = max(zones, key=offset), min(zones, key=offset)
    return (east,) if east == west or offset(east) == offset(west) else (east, west)


def sms_label(region: str | None, purpose: str) -> str | None:
    """The label a marketing SMS must start with (Korea: "(광고)"), None when none is required."""
    if purpose == "marketing" and region is not None and region.upper() == "KR":
        return "(광고)"
    return None
