"""The state or province of a customer's address: its ISO 3166-2 code and, for the US, its zones.

A customer file may carry a state/province column (州, 省, 縣市, state, 시도 ...). Its value is
read as an ISO 3166-2 code ("US-FL"), a code within the row's country ("FL") or a name
(Florida, 弗羅里達, 佛羅里達, 플로리다), using `pycountry`'s copy of the iso-codes tables and their
translations, so no name list is kept here beyond a few common Taiwanese short forms that
iso-codes does not spell (德州, 加州, 佛羅里達).

The address is evidence of where the phone rings: the state's own floor applies on top of the
number's (`calendars.SUBDIVISION_FLOOR`, strictest wins), and a number without a zone of its own
(toll-free) is called in the zones of its customer's state instead of its whole country's safe
window (`windows.effective_zones`).
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from dialer.errors import RowError

_E, _C, _M, _P = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"

STATE_ZONES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "US-AL": (_C,),
        "US-AK": ("America/Anchorage", "America/Juneau", "America/Sitka", "America/Metlakatla",
                  "America/Yakutat", "America/Nome", "America/Adak"),
        "US-AZ": ("America/Phoenix", _M),  # Navajo Nation keeps DST
        "US-AR": (_C,),
        "US-CA": (_P,),
        "US-CO": (_M,),
        "US-CT": (_E,),
        "US-DE": (_E,),
        "US-DC": (_E,),
        "US-FL": (_E, _C),  # the panhandle west of the Apalachicola is Central
        "US-GA": (_E,),
        "US-HI": ("Pacific/Honolulu",),
        "US-ID": ("America/Boise", _P),  # the panhandle is Pacific
        "US-IL": (_C,),
        "US-IN": ("America/Indiana/Indianapolis", _C),  # NW and SW corners are Central
        "US-IA": (_C,),
        "US-KS": (_C, _M),  # four western counties are Mountain
        "US-KY": ("America/Kentucky/Louisville", _C),
        "US-LA": (_C,),
        "US-ME": (_E,),
        "US-MD": (_E,),
        "US-MA": (_E,),
        "US-MI": ("America/Detroit", "America/Menominee"),  # four UP counties are Central
        "US-MN": (_C,),
        "US-MS": (_C,),
        "US-MO": (_C,),
        "US-MT": (_M,),
        "US-NE": (_C, _M),
        "US-NV": (_P, _M),  # West Wendover is Mountain
        "US-NH": (_E,),
        "US-NJ": (_E,),
        "US-NM": (_M,),
        "US-NY": (_E,),
        "US-NC": (_E,),
        "US-ND": (_C, _M),
        "US-OH": (_E,),
        "US-OK": (_C,),
        "US-OR": (_P, "America/Boise"),  # Malheur County is Mountain
        "US-PA": (_E,),
        "US-RI": (_E,),
        "US-SC": (_E,),
        "US-SD": (_C, _M),
        "US-TN": (_C, _E),
        "US-TX": (_C, _M),  # El Paso and Hudspeth counties are Mountain
        "US-UT": (_M,),
        "US-VT": (_E,),
        "US-VA": (_E,),
        "US-WA": (_P,),
        "US-WV": (_E,),
        "US-WI": (_C,),
        "US-WY": (_M,),
        "US-PR": ("America/Puerto_Rico",),
        "US-VI": ("America/St_Thomas",),
        "US-GU": ("Pacific/Guam",),
        "US-MP": ("Pacific/Saipan",),
        "US-AS": ("Pacific/Pago_Pago",),
    }
)  # fmt: skip
"""Every IANA zone in force in some part of each US state, DC and inhabited territory.

Source: the US time zone boundaries of 49 CFR Part 71 (§§71.4–71.10, Department of
Transportation), matched to the tz database's zones by the region comments of tzdata's
zone1970.tab (e.g. America/Boise "Mountain - ID (south); OR (east)", America/Menominee "Central -
MI (Wisconsin border)"). A state with several zones keeps them all, so its customers' window is
open only where every part of the state is (the intersection rule of `windows`)."""

# Common short forms in Taiwan that iso-codes' zh_TW names (弗羅里達, 德克薩斯, 加利福尼亞) miss.
_EXTRA_NAMES = {
    "佛羅里達": "US-FL", "佛罗里达": "US-FL", "奧克拉荷馬": "US-OK", "奥克拉荷马": "US-OK",
    "德州": "US-TX", "加州": "US-CA", "紐約": "US-NY", "纽约": "US-NY", "夏威夷": "US-HI",
}  # fmt: skip
_LANGUAGES = ("zh_TW", "zh_CN", "ko", "ja")
_SUFFIX = re.compile(r"(州|省|市|縣|县|특별시|광역시|특별자치시|특별자치도|도)$")
_DROP = re.compile(r"[\s.'’·\-_,]+")


def _key(text: str) -> str:
    """A name as compared: NFKC, case-folded, without spaces and punctuation, 台 read as 臺, and
    without a trailing 州/省/市/縣 (佛羅里達州 is 佛羅里達)."""
    s = _DROP.sub("", unicodedata.normalize("NFKC", text).casefold()).replace("台", "臺")
    stripped = _SUFFIX.sub("", s)
    return stripped or s


@lru_cache(maxsize=64)
def _names(country: str) -> dict[str, str | None]:
    """Name -> ISO 3166-2 code of one country's subdivisions, in English and the translations
    iso-codes ships; a name two subdivisions share (Chiayi city and county) maps to None."""
    pycountry = _pycountry()
    subs = pycountry.subdivisions.get(country_code=country) or []
    translations = []
    for lang in _LANGUAGES:
        try:
            translations.append(
                gettext.translation("iso3166-2", pycountry.LOCALES_DIR, languages=[lang])
            )
        except OSError:
            continue
    out: dict[str, str | None] = {}
    for sub in subs:
        names = {sub.name, *(t.gettext(sub.name) for t in translations)}
        for name in names:
            k = _key(name)
            out[k] = sub.code if out.get(k, sub.code) == sub.code else None
    for name, code in _EXTRA_NAMES.items():
        if code.startswith(country + "-"):
            out[_key(name)] = code
    return out


@lru_cache(maxsize=1)
def _codes() -> frozenset[str]:
    return frozenset(s.code for s in _pycountry().subdivisions)


def _pycountry() -> Any:
    """pycountry, imported when a state cell is first read (it costs ~50 ms, and the window
    engine, imported by every command, needs only `STATE_ZONES`)."""
    import pycountry

    return pycountry


@lru_cache(maxsize=4096)
def parse_subdivision(text: str, country: str | None, column: str = "state") -> str:
    """The ISO 3166-2 code ("US-FL") of a state/province cell, read within `country` (the row's
    country, else its number's); a name is also looked up among US states. RowError if unknown."""
    s = unicodedata.normalize("NFKC", text).strip()
    up = s.upper().replace(" ", "")
    codes = _codes()
    if up in codes:
        return up
    places = [c for c in dict.fromkeys(((country or "").upper(), "US")) if c]
    for cc in places:
        if f"{cc}-{up}" in codes:
            return f"{cc}-{up}"
    key = _key(s)
    for cc in places:
        names = _names(cc)
        if key in names:
            code = names[key]
            if code is None:
                raise RowError(
                    f"{column} '{text}' names more than one subdivision of {cc}; "
                    "use its ISO 3166-2 code",
                    column,
                    text,
                )
            return code
    where = f" of {places[0]}" if places else ""
    raise RowError(
        f"{column} '{text}' is not a known state or province{where} "
        "(use an ISO 3166-2 code like US-FL, or its name)",
        column,
        text,
    )


def state_zones(subdivision: str | None) -> tuple[str, ...]:
    """The zones of an address's state (`STATE_ZONES`); () when unknown or outside the US."""
    return STATE_ZONES.get(subdivision or "", ())
