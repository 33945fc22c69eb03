"""Which state a North American number's area code belongs to, for the states with a floor.

Only states whose law adds a floor of their own (`calendars.SUBDIVISION_FLOOR`) are listed: the
state of any other number changes nothing. An area code that spans several states (none of
today's Florida or Oklahoma codes does) lists them all, and every listed state's floor applies,
so the strictest wins. (A number keeps its area code when its owner moves; a state column of the
customer file adds the state of the address, `windows.Reachee.address`, whose floor applies too.)

Source: NANPA, "Area codes by state" (nationalnanpa.com, geographic NPAs in service or assigned
as overlays), Florida and Oklahoma, as of 2026. phonenumbers' geocoder says the same ("Florida",
"Oklahoma") for these codes but in free text meant for people, so it is not parsed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_STATE_CODES = {
    "US-FL": "239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 "
    "904 941 954",
    "US-OK": "405 539 572 580 918",
}

AREA_CODE_STATES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        code: tuple(sorted(s for s, codes in _STATE_CODES.items() if code in codes.split()))
        for code in {c for codes in _STATE_CODES.values() for c in codes.split()}
    }
)
"""Area code -> the states (ISO 3166-2, "US-FL") it serves, for states with a floor of their own."""


def number_subdivisions(e164: str) -> tuple[str, ...]:
    """The states with a floor that a +1 number's area code belongs to; () when none."""
    if not e164.startswith("+1") or len(e164) < 5:
        return ()
    return AREA_CODE_STATES.get(e164[2:5], ())
