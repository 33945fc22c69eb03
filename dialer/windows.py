"""The calling window: when a customer may be contacted, in their own local time.

Pure functions of (customer, campaign policy, instant); the clock is always passed in. Instants
are aware datetimes (returned in UTC); local wall-clock time exists only inside this module.

A moment is **open** when, in every effective zone of the customer, its local date is a calling
day and its local time of day is inside some campaign `hours` span, inside the legal floor, and
outside every campaign `rest` span and the customer's `quiet_hours`; marketing also needs
`marketing_consent is True`.

- Spans are sets of times of day, `[start, end)`; `end <= start` wraps past midnight. The day
  gate (weekday, holiday) applies to the local date of the moment itself, so with hours
  22:00–02:00 on Mon–Fri, Saturday 00:00–02:00 is closed.
- Calling days: with `skip_holidays`, a public holiday is closed whatever its weekday, and a
  weekend day the calendar declares a working day (China's 调休 make-up Saturday) is a calling
  day for a campaign whose `weekdays` include all of Monday–Friday, since such a campaign follows
  the working week. Otherwise only `weekdays` counts. The calendar is `holiday_country` (with
  `holiday_subdivision`), else the customer's `region`, else the zone's country.
- Legal floor: the floors of the zone's country, of the customer's region and of the number's
  state (`subdivisions`, e.g. US-FL from a +1 305 area code) all apply (the strictest wins); a
  zone with none gets the default 08:00–21:00. No policy can widen it.
- Zones: all candidate zones of the dialled number must be open at once. When they never are
  (judged on fixed reference weeks, so the choice does not move with the instant asked about),
  the law still binds in every zone: the campaign hours are kept in one zone and the legal floor
  in all, else the legal floor alone in all, else the number is not callable (an agent decides).
  A number with no usable zone is open only when its country is open at both ends (`safe_zones`:
  11:00–21:00 New York time for the US, 11:00–20:00 where a state floor could apply), never in
  the campaign's default zone; with a known address state, it is open in that state's zones
  instead. `effective_zones` says which rule applied and why.
- Address: the floor of the customer's state (a state column, `Reachee.address`) applies on top
  of the number's, whatever the number's area code says (the strictest of both wins).
- DST: each local date's wall-clock set is mapped to UTC piece by piece between the zone's offset
  transitions, so a span starting in the spring-forward gap opens at the first instant after the
  gap, and a span over the repeated fall-back hour covers both occurrences (00:30–02:30 on
  America/New_York 2026-11-01 is three real hours).
- `min_open`: the contact must not outlast the window, so every open interval `[a, b)` of the
  intersection is cut to `[a, b - min_open)`. Intervals stay half-open; the instant
  `b - min_open` itself counts as closed.

Everything derives from `open_intervals`, which caches one (zone, rules, local date) at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialer.calendars import (
    DEFAULT_FLOOR,
    LEGAL_FLOOR,
    PURPOSES,
    SUBDIVISION_FLOOR,
    LegalFloor,
    Span,
    country_subdivisions,
    day_kind,
    legal_floor,
    safe_zones,
    sms_label,
    zone_country,
)
from dialer.errors import ConfigError
from dialer.subdivisions import state_zones

__all__ = [
    "DEFAULT_FLOOR",
    "LEGAL_FLOOR",
    "PURPOSES",
    "LegalFloor",
    "Reachee",
    "Span",
    "WindowPolicy",
    "ZoneChoice",
    "appointment_ok",
    "closed_reason",
    "effective_hours",
    "effective_zones",
    "floor_hours",
    "fmt_spans",
    "is_open",
    "next_open",
    "open_intervals",
    "open_seconds",
    "sms_label",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_US = timedelta(microseconds=1)
_S = 1_000_000
_H = 3600 * _S
_DAY = 24 * _H
_CHUNK = 7 * _DAY
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WORKWEEK = frozenset(range(5))
# Fixed reference weeks (northern winter, northern summer) for deciding whether several zones share
# a window: the choice must not depend on the instant asked about, or the answers would disagree.
_REFERENCE_WEEKS = (datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 7, 6, tzinfo=UTC))

Intervals = list[tuple[int, int]]  # sorted, disjoint [a, b) in microseconds since the epoch


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """A campaign's calling rules, built from its campaign file."""

    weekdays: frozenset[int]  # 0=Monday .. 6=Sunday
    hours: tuple[Span, ...]  # open spans, e.g. ((09:00,12:00),(13:30,20:30))
    rest: tuple[Span, ...] = ()  # campaign rest hours (night, lunch rest); may wrap midnight
    purpose: str = "service"  # "service" | "marketing"
    skip_holidays: bool = True
    holiday_country: str | None = None  # None -> the customer's region, else the zone's country
    holiday_subdivision: str | None = None  # used only with holiday_country
    default_zone: str = "Asia/Taipei"
    min_open: timedelta = timedelta(0)  # [at, at+min_open) must be open for `at` to be open
    no_zone_zones: tuple[str, ...] = ()  # the safe window for zone-less numbers; (): `safe_zones`

    def __post_init__(self) -> None:
        """Reject rules that would silently mean "never" or "always" instead of what was meant."""
        if not self.weekdays <= frozenset(range(7)):
            raise ConfigError(
                f"weekdays must be 0 (Monday) to 6 (Sunday), got {set(self.weekdays)}"
            )
        if self.purpose not in PURPOSES:
            raise ConfigError(f"purpose must be service or marketing, got {self.purpose!r}")
        if self.min_open < timedelta(0):
            raise ConfigError("min_open cannot be negative")
        if _zone(self.default_zone) is None:
            raise ConfigError(f"default zone {self.default_zone!r} is not a known time zone")
        for zone in self.no_zone_zones:
            if _zone(zone) is None:
                raise ConfigError(f"no-zone window zone {zone!r} is not a known time zone")


@dataclass(frozen=True, slots=True)
class Reachee:
    """What the window needs to know of a customer."""

    time_zones: tuple[str, ...] = ()
    quiet_hours: tuple[Span, ...] = ()
    region: str | None = None
    marketing_consent: bool | None = None
    subdivisions: tuple[str, ...] = ()  # states of the number's area code ("US-FL")
    address: str | None = None  # the address's state or province, ISO 3166-2 ("US-TX")

    def floor_keys(self) -> tuple[str, ...]:
        """The states whose own floor applies: the number's and the address's (strictest wins)."""
        address = self.address
        if (
            address is not None
            and address in SUBDIVISION_FLOOR
            and address not in self.subdivisions
        ):
            return (*self.subdivisions, address)
        return self.subdivisions


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    """The zones a number's window is computed in, which rule made them, and why.

    `hours_in` names the zones where the campaign hours apply (None: all of them; (): none, the
    legal floor alone); `floors` are extra floor keys (a zone-less number gets the strictest
    floor of its whole country); `callable` is False when no moment is legal in every zone.
    """

    zones: tuple[str, ...]
    reason: str | None = None
    hours_in: tuple[str, ...] | None = None
    floors: tuple[str, ...] = ()
    callable: bool = True


# -------------------------------------------------------------------- wall-clock interval sets


def _tod(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * _S + t.microsecond


def _span_set(span: Span) -> Intervals:
    start, end = _tod(span[0]), _tod(span[1])
    if end > start:
        return [(start, end)]
    return [(0, end), (start, _DAY)] if end > 0 else [(start, _DAY)]


def _merge(parts: Iterable[tuple[int, int]]) -> Intervals:
    out: Intervals = []
    for a, b in sorted(parts):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _intersect(x: Intervals, y: Intervals) -> Intervals:
    out: Intervals = []
    i = j = 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def _spans_set(spans: Iterable[Span]) -> Intervals:
    return _merge(p for s in spans for p in _span_set(s))


def _complement(y: Intervals) -> Intervals:
    out: Intervals = []
    cur = 0
    for a, b in y:
        if a > cur:
            out.append((cur, a))
        cur = max(cur, b)
    if cur < _DAY:
        out.append((cur, _DAY))
    return out


@lru_cache(maxsize=256)
def _floor_spans(countries: tuple[str, ...], purpose: str) -> tuple[tuple[int, int], ...]:
    """Wall-clock floor where every applicable country allows contact (the strictest wins)."""
    allowed: Intervals = [(0, _DAY)]
    for cc in countries or ("",):
        allowed = _intersect(allowed, _spans_set(legal_floor(cc).spans(purpose)))
    return tuple(allowed)


@lru_cache(maxsize=1024)
def _wall(
    hours: tuple[Span, ...],
    rest: tuple[Span, ...],
    quiet: tuple[Span, ...],
    floor: tuple[tuple[int, int], ...],
) -> tuple[tuple[int, int], ...]:
    """The open times of any calling day, in microseconds since local midnight."""
    open_ = _intersect(_spans_set(hours), list(floor))
    return tuple(_intersect(open_, _complement(_spans_set(rest + quiet))))


# ----------------------------------------------------------------------------- zones and DST


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _offset(tz: ZoneInfo, second: int) -> int:
    off = datetime.fromtimestamp(second, tz).utcoffset()
    return 0 if off is None else off // _US


def _transitions(tz: ZoneInfo, lo: int, hi: int, olo: int, ohi: int) -> list[tuple[int, int]]:
    """(second, new offset) of each offset change in (lo, hi], by bisection on whole seconds."""
    if olo == ohi:
        return []
    if hi - lo <= 1:
        return [(hi, ohi)]
    mid = (lo + hi) // 2
    omid = _offset(tz, mid)
    return _transitions(tz, lo, mid, olo, omid) + _transitions(tz, mid, hi, omid, ohi)


@lru_cache(maxsize=16384)
def _segments(zone: str, ordinal: int) -> tuple[tuple[int, int, int], ...]:
    """(start, end, offset) pieces of constant UTC offset covering every instant of a local date."""
    tz = _zone(zone)
    assert tz is not None
    wall0 = (ordinal - _EPOCH_ORD) * _DAY
    lo, hi = (wall0 - 15 * _H) // _S, (wall0 + _DAY + 13 * _H) // _S
    ends = (_offset(tz, lo), _offset(tz, (lo + hi) // 2), _offset(tz, hi))
    if ends[0] == ends[1] == ends[2]:
        return ((lo * _S, hi * _S, ends[0]),)  # the usual day: no change
    # Probe every 6 hours so that two changes close together are not missed.
    probes = [*range(lo, hi, 6 * 3600), hi]
    offs = [_offset(tz, p) for p in probes]
    cuts: list[tuple[int, int]] = []
    for k in range(len(probes) - 1):
        cuts += _transitions(tz, probes[k], probes[k + 1], offs[k], offs[k + 1])
    edges = [lo * _S, *(c * _S for c, _ in cuts), hi * _S]
    offsets = [offs[0], *(o for _, o in cuts)]
    return tuple((edges[k], edges[k + 1], offsets[k]) for k in range(len(offsets)))


def _wall_to_utc(
    zone: str, ordinal: int, wall: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    """Instants whose local date is `ordinal` and whose local time of day lies in `wall`."""
    wall0 = (ordinal - _EPOCH_ORD) * _DAY
    parts = []
    for u0, u1, off in _segments(zone, ordinal):
        for a, b in wall:
            lo, hi = max(wall0 + a - off, u0), min(wall0 + b - off, u1)
            if lo < hi:
                parts.append((lo, hi))
    return tuple(_merge(parts))


class _ZonePlan:
    """The rules of one zone for one kind of customer; interned, so it hashes by identity."""

    __slots__ = ("calendar", "makeup_ok", "skip_holidays", "subdiv", "wall", "weekdays", "zone")

    def __init__(
        self,
        zone: str,
        wall: tuple[tuple[int, int], ...],
        weekdays: frozenset[int],
        skip_holidays: bool,
        calendar: str | None,
        subdiv: str | None,
    ) -> None:
        self.zone = zone
        self.wall = wall
        self.weekdays = weekdays
        self.skip_holidays = skip_holidays and calendar is not None
        self.calendar = calendar
        self.subdiv = subdiv
        self.makeup_ok = weekdays >= _WORKWEEK

    def day_block(self, d: date) -> str | None:
        """Why local date `d` is not a calling day (holiday name or weekday), None when it is."""
        if self.skip_holidays and self.calendar is not None:
            kind = day_kind(self.calendar, self.subdiv, d)
            if kind.holiday is not None:
                return f"public holiday {kind.holiday} ({self.calendar})"
            if kind.makeup_workday and self.makeup_ok:
                return None
        if d.weekday() not in self.weekdays:
            return f"{_WEEKDAYS[d.weekday()]} is not a calling day ({self.zone})"
        return None


_intern_zone_plan = lru_cache(maxsize=16384)(_ZonePlan)


@lru_cache(maxsize=131072)
def _zone_day(zp: _ZonePlan, ordinal: int) -> tuple[tuple[int, int], ...]:
    """One local date's open instants in one zone: the cache the planner's millions of calls hit."""
    if not zp.wall or zp.day_block(date.fromordinal(ordinal)) is not None:
        return ()
    return _wall_to_utc(zp.zone, ordinal, zp.wall)


def _zone_range(zp: _ZonePlan, s: int, e: int) -> Intervals:
    if not zp.wall:
        return []
    first = (s - 12 * _H) // _DAY + _EPOCH_ORD
    last = (e - 1 + 14 * _H) // _DAY + _EPOCH_ORD
    parts: Intervals = []
    for ordinal in range(first, last + 1):
        parts.extend(_zone_day(zp, ordinal))
    parts.sort()  # already sorted except around a fall-back at midnight
    out: Intervals = []
    for a, b in parts:
        if b <= s or a >= e:
            continue
        a, b = max(a, s), min(b, e)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


# ------------------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class _Plan:
    zones: tuple[_ZonePlan, ...]
    blocked: bool  # marketing without consent
    min_open: int


def _floor_countries(zone: str, who: Reachee, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The zone's country, the customer's region and the number's states: all apply, strictest
    wins."""
    keys = {c.upper() for c in (zone_country(zone), who.region) if c}
    return tuple(sorted(keys | set(who.floor_keys()) | set(extra)))


_ALL_DAY: tuple[Span, ...] = ((time(0), time(0)),)


def _zone_plan(
    zone: str,
    who: Reachee,
    policy: WindowPolicy,
    holidays: bool,
    *,
    hours: bool = True,
    extra: tuple[str, ...] = (),
) -> _ZonePlan:
    """One zone's rules; `hours=False` keeps the law, rest and quiet hours but not the campaign
    hours (a zone the campaign hours cannot be met in at the same time as another's)."""
    country = zone_country(zone)
    floor = _floor_spans(_floor_countries(zone, who, extra), policy.purpose)
    wall = _wall(policy.hours if hours else _ALL_DAY, policy.rest, who.quiet_hours, floor)
    calendar: str | None
    if policy.holiday_country:
        calendar, subdiv = policy.holiday_country.upper(), policy.holiday_subdivision
    else:
        calendar, subdiv = (who.region or country), None
    return _intern_zone_plan(
        zone, wall, policy.weekdays, holidays and policy.skip_holidays, calendar, subdiv
    )


def _open_us(plan: _Plan, s: int, e: int) -> Intervals:
    """Open intervals within [s, e): intersection over zones, then cut by min_open."""
    if plan.blocked or e <= s:
        return []
    m = plan.min_open
    acc: Intervals | None = None
    for zp in plan.zones:
        ivs = _zone_range(zp, s, e + m)
        acc = ivs if acc is None else _intersect(acc, ivs)
        if not acc:
            return []
    out: Intervals = []
    for a, b in acc or ():
        b = min(b - m, e)
        if b > a:
            out.append((a, b))
    return out


def _zone_plans(
    choice: ZoneChoice, who: Reachee, policy: WindowPolicy, holidays: bool
) -> tuple[_ZonePlan, ...]:
    return tuple(
        _zone_plan(
            z,
            who,
            policy,
            holidays,
            hours=choice.hours_in is None or z in choice.hours_in,
            extra=choice.floors,
        )
        for z in choice.zones
    )


def _shares_window(choice: ZoneChoice, who: Reachee, policy: WindowPolicy) -> bool:
    """Whether the zones are open at once in every reference week (holidays ignored)."""
    plan = _Plan(_zone_plans(choice, who, policy, False), False, policy.min_open // _US)
    return all(_open_us(plan, _us(ref), _us(ref) + _CHUNK) for ref in _REFERENCE_WEEKS)


def _address_zones(who: Reachee) -> tuple[str, ...]:
    """The zones of the customer's state, when it is in the number's country (or that is unknown)."""
    if who.address is None:
        return ()
    if who.region and not who.address.upper().startswith(who.region.upper() + "-"):
        return ()
    return tuple(z for z in state_zones(who.address) if _zone(z) is not None)


@lru_cache(maxsize=65536)
def effective_zones(who: Reachee, policy: WindowPolicy) -> ZoneChoice:
    """The zones to honour and the rule used in them: never the campaign's default zone.

    1. All of the number's zones, with the campaign hours in each: the usual case.
    2. When they share no open moment: the campaign hours in one zone (in the number's order)
       and the legal floor, rest and quiet hours in every zone.
    3. Else the legal floor (and rest, quiet hours) alone, at once in every zone.
    4. Else not callable: no moment is legal in every zone; an agent decides.
    A number without a usable zone takes the zones of its customer's state (`address`, from a
    state column: `subdivisions.STATE_ZONES`), else the campaign's `no_zone_zones`, else its
    country's `safe_zones` (the region, else the country of the campaign's default zone), with
    the strictest floor of any of its states. An address whose state shares some but not all
    of a number's zones keeps the campaign hours to those, the legal floor still in every zone.
    Decided on fixed reference weeks (January and July, holidays ignored), so that the choice
    does not change with the instant asked about.
    """
    zones = tuple(dict.fromkeys(z for z in who.time_zones if _zone(z) is not None))
    why: str | None = None
    floors: tuple[str, ...] = ()
    home = _address_zones(who)
    if not zones:
        unknown = [z for z in who.time_zones if z]
        why = f"time zone {', '.join(unknown)} is unknown" if unknown else "number has no time zone"
        country = (who.region or zone_country(policy.default_zone) or "").upper()
        if home:  # the customer's state says where it rings; its own floor applies there
            zones = home
            why = f"{why}: from the address ({who.address}: {' and '.join(zones)})"
        elif policy.no_zone_zones:
            zones = policy.no_zone_zones
            countries = {c for c in map(zone_country, zones) if c}
            floors = tuple(s for c in sorted(countries) for s in country_subdivisions(c))
            why = f"{why}: the campaign's window for numbers without one ({', '.join(zones)})"
        else:
            zones = tuple(z for z in safe_zones(country) if _zone(z) is not None) if country else ()
            if not zones:
                return ZoneChoice(
                    (), f"{why} and its country is unknown: not callable", (), (), False
                )
            floors = country_subdivisions(country)
            why = f"{why}: the safe window of {country} ({' and '.join(zones)}, strictest floor)"
    first = ZoneChoice(zones, why, None, floors)
    narrowed = tuple(z for z in zones if z in home)
    if narrowed and len(narrowed) < len(zones):
        # The address narrows where the campaign hours apply; the law stays in every zone of the
        # number, so the window never widens beyond what is legal wherever it may ring.
        choice = ZoneChoice(
            zones,
            f"from the address ({who.address}): campaign hours in {', '.join(narrowed)}, "
            f"within the legal floor of every zone of the number ({', '.join(zones)})",
            narrowed,
            floors,
        )
        if _shares_window(choice, who, policy):
            return choice
    if len(zones) == 1 or _shares_window(first, who, policy):
        return first
    if not all(_shares_window(ZoneChoice((z,), None, None, floors), who, policy) for z in zones):
        return first  # some zone is never open at all: no other rule would open it
    names = ", ".join(zones)
    lead = f"{why}; " if why else ""
    for z in zones:
        choice = ZoneChoice(zones, None, (z,), floors)
        if _shares_window(choice, who, policy):
            return ZoneChoice(
                zones,
                f"{lead}its time zones {names} share no moment inside the campaign hours: "
                f"campaign hours in {z}, within the legal floor of every zone",
                (z,),
                floors,
            )
    if _shares_window(ZoneChoice(zones, None, (), floors), who, policy):
        return ZoneChoice(
            zones,
            f"{lead}its time zones {names} share no moment inside the campaign hours: only the "
            "legal floor, open at once in every zone",
            (),
            floors,
        )
    return ZoneChoice(
        zones,
        f"{lead}its time zones {names} share no moment that is legal in all of them: "
        "not callable (an agent decides)",
        (),
        floors,
        False,
    )


@lru_cache(maxsize=65536)
def _plan(who: Reachee, policy: WindowPolicy) -> _Plan:
    choice = effective_zones(who, policy)
    return _Plan(
        _zone_plans(choice, who, policy, True),
        not choice.callable
        or (policy.purpose == "marketing" and who.marketing_consent is not True),
        policy.min_open // _US,
    )


def _us(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: the window needs an aware instant")
    return (at - _EPOCH) // _US


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


# ------------------------------------------------------------------------------- public API


def open_intervals(
    who: Reachee, policy: WindowPolicy, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Merged open intervals in UTC, clipped to [start, end): the one answer the others derive from."""
    return [(_dt(a), _dt(b)) for a, b in _open_us(_plan(who, policy), _us(start), _us(end))]


def open_seconds(who: Reachee, policy: WindowPolicy, start: datetime, end: datetime) -> float:
    """Open window time in [start, end): the planner's slack is measured in this, not wall time."""
    return sum(b - a for a, b in _open_us(_plan(who, policy), _us(start), _us(end))) / _S


def is_open(who: Reachee, policy: WindowPolicy, at: datetime) -> bool:
    """Whether a contact may start at `at` (and the window stays open for `min_open`)."""
    s = _us(at)
    return bool(_open_us(_plan(who, policy), s, s + 1))


def next_open(
    who: Reachee, policy: WindowPolicy, after: datetime, *, horizon: timedelta = timedelta(days=45)
) -> datetime | None:
    """The first open instant at or after `after`; None if none within `horizon` or never allowed."""
    plan = _plan(who, policy)
    if plan.blocked or not all(zp.wall for zp in plan.zones):
        return None
    s = _us(after)
    limit = s + horizon // _US
    while s < limit:
        e = min(s + _CHUNK, limit)
        found = _open_us(plan, s, e)
        if found:
            return _dt(found[0][0])
        s = e
    return None


def appointment_ok(who: Reachee, policy: WindowPolicy, at: datetime) -> bool:
    """An agreed time ("call me tomorrow at 19:00") needs only the legal floor, and consent.

    The customer chose the moment, so campaign hours, rest, quiet hours and holidays yield to it.
    """
    if policy.purpose == "marketing" and who.marketing_consent is not True:
        return False
    _us(at)  # rejects naive datetimes
    choice = effective_zones(who, policy)  # even a number not callable otherwise: the law decides
    for zone in choice.zones:
        floor = _floor_spans(_floor_countries(zone, who, choice.floors), policy.purpose)
        tod = _tod(at.astimezone(_zone(zone)).time())
        if not any(a <= tod < b for a, b in floor):
            return False
    return True


def effective_hours(policy: WindowPolicy, floors: tuple[str, ...]) -> tuple[Span, ...]:
    """The wall-clock hours a campaign really calls in where `floors` ("US", "US-FL") apply:
    its hours within the strictest of those floors, minus its rest hours."""
    wall = _wall(policy.hours, policy.rest, (), _floor_spans(tuple(sorted(floors)), policy.purpose))
    return tuple((_time(a), _time(b)) for a, b in wall)


def floor_hours(floors: tuple[str, ...], purpose: str) -> tuple[Span, ...]:
    """The strictest legal floor of `floors` for a purpose, as spans."""
    return tuple((_time(a), _time(b)) for a, b in _floor_spans(tuple(sorted(floors)), purpose))


def fmt_spans(spans: Iterable[Span]) -> str:
    """'09:00–12:00, 13:30–20:30' (seconds only when present; a closing midnight reads 24:00)."""

    def one(t: time, end: bool) -> str:
        if end and t == time(0):
            return "24:00"
        return t.strftime("%H:%M:%S" if t.second or t.microsecond else "%H:%M")

    return ", ".join(f"{one(a, False)}–{one(b, True)}" for a, b in spans)


def closed_reason(who: Reachee, policy: WindowPolicy, at: datetime) -> str | None:
    """One sentence saying why `at` is closed (the first rule that fails), None when it is open."""
    if is_open(who, policy, at):
        return None
    if policy.purpose == "marketing" and who.marketing_consent is not True:
        return "no marketing consent"
    choice = effective_zones(who, policy)
    if not choice.callable:
        return choice.reason
    plan = _plan(who, policy)
    for zp in plan.zones:
        local = at.astimezone(_zone(zp.zone))
        block = zp.day_block(local.date())
        if block is not None:
            return block
        tod = _tod(local.time())

        def inside(spans: Iterable[Span], tod: int = tod) -> list[Span]:
            return [sp for sp in spans if any(a <= tod < b for a, b in _span_set(sp))]

        hours_here = choice.hours_in is None or zp.zone in choice.hours_in
        if hours_here and not inside(policy.hours):
            return f"outside calling hours {fmt_spans(policy.hours)} {zp.zone}"
        countries = _floor_countries(zp.zone, who, choice.floors)
        floor = _floor_spans(countries, policy.purpose)
        if not any(a <= tod < b for a, b in floor):
            spans = tuple((_time(a), _time(b)) for a, b in floor)
            label = " ".join([*countries, policy.purpose]) if countries else policy.purpose
            return f"legal floor {fmt_spans(spans)} ({label}) {zp.zone}"
        if rest := inside(policy.rest):
            return f"rest hours {fmt_spans(rest)}"
        if quiet := inside(who.quiet_hours):
            return f"customer's quiet hours {fmt_spans(quiet)}"
    s = _us(at)
    raw = _open_us(_Plan(plan.zones, False, 0), s, s + plan.min_open + 1)
    closes = _dt(raw[0][1]) if raw else at
    zone = plan.zones[0].zone
    when = closes.astimezone(_zone(zone)).strftime("%H:%M")
    return f"window closes at {when} {zone}, less than {_fmt_td(policy.min_open)} after this moment"


def _time(us: int) -> time:
    if us >= _DAY:
        return time(0)
    sec, micro = divmod(us, _S)
    return time(sec // 3600, sec // 60 % 60, sec % 60, micro)


def _fmt_td(td: timedelta) -> str:
    minutes, seconds = divmod(int(td.total_seconds()), 60)
    return f"{minutes} min" + (f" {seconds} s" if seconds else "")
