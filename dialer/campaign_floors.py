"""What the law leaves of a campaign's hours, per country and state it will call.

`campaign validate` warns (without failing) when the hours a campaign asks for are wider than a
legal floor that will apply, since outside the floor dialer does not call whatever the file
says; `campaign show` prints the hours that really run in each place instead of the raw hours.

The places a campaign calls: its audience's regions when it names them, else the countries of its
default time zone and its holiday calendar; each country with the states that have a floor of
their own for the campaign's purpose (`calendars.SUBDIVISION_FLOOR`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.calendars import Span, country_subdivisions, legal_floor, zone_country
from dialer.campaigns import CampaignSpec
from dialer.windows import WindowPolicy, effective_hours, floor_hours, fmt_spans


@dataclass(frozen=True, slots=True)
class PlaceHours:
    """The hours a campaign calls in one place, and the floor that applies there."""

    place: str  # "TW", "US", "US-FL"
    hours: tuple[Span, ...]  # the campaign's hours within the floor, minus rest hours
    floor: tuple[Span, ...]
    source: str
    narrowed: bool  # the floor cuts the campaign's hours


def campaign_places(spec: CampaignSpec) -> tuple[str, ...]:
    """The countries the campaign calls: its audience's regions, else its zone's and calendar's."""
    if spec.audience.regions:
        return tuple(dict.fromkeys(str(r).upper() for r in spec.audience.regions))
    found = [zone_country(spec.default_time_zone), spec.window.holiday_country]
    return tuple(dict.fromkeys(c.upper() for c in found if c))


def place_hours(spec: CampaignSpec) -> list[PlaceHours]:
    """Per country, then per state whose floor differs for this purpose: the hours that run."""
    policy = spec.window_policy()
    out: list[PlaceHours] = []
    for country in campaign_places(spec):
        base = floor_hours((country,), policy.purpose)
        out.append(_place(policy, country, (country,)))
        for sub in country_subdivisions(country):
            if floor_hours((country, sub), policy.purpose) != base:
                out.append(_place(policy, sub, (country, sub)))
    return out


def _place(policy: WindowPolicy, place: str, floors: tuple[str, ...]) -> PlaceHours:
    floor = floor_hours(floors, policy.purpose)
    hours = effective_hours(policy, floors)
    unfloored = effective_hours(policy, ())  # the hours minus rest within the default floor
    wide = _wider_than_floor(policy.hours, floor)
    source = legal_floor(floors[-1]).source
    return PlaceHours(place, hours, floor, source, wide or hours != unfloored)


def _minutes(spans: tuple[Span, ...]) -> set[int]:
    """The minutes of the day inside `spans` (whole-minute campaign spans; wrap allowed)."""
    out: set[int] = set()
    for a, b in spans:
        start, end = a.hour * 60 + a.minute, b.hour * 60 + b.minute
        if end <= start:
            end += 24 * 60
        out.update(m % (24 * 60) for m in range(start, end))
    return out


def _wider_than_floor(hours: tuple[Span, ...], floor: tuple[Span, ...]) -> bool:
    return bool(_minutes(hours) - _minutes(floor))


def floor_warnings(spec: CampaignSpec) -> list[str]:
    """One sentence per place whose legal floor is narrower than the campaign's hours."""
    policy = spec.window_policy()
    out = []
    for p in place_hours(spec):
        if _wider_than_floor(policy.hours, p.floor):
            out.append(
                f"window.hours {fmt_spans(policy.hours)} are wider than the legal floor "
                f"{fmt_spans(p.floor)} for {policy.purpose} in {p.place} ({p.source}); there "
                f"dialer calls only {fmt_spans(p.hours) or 'never'}"
            )
    return out


def hours_text(p: PlaceHours) -> str:
    """ "US-FL: 08:00–20:00 (legal floor 08:00–20:00, Fla. Stat. …)" for `campaign show`."""
    text = f"{p.place}: {fmt_spans(p.hours) or 'never'}"
    if p.narrowed:
        text += f" (legal floor {fmt_spans(p.floor)}: {p.source})"
    return text
