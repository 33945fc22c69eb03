"""When an agreed callback ("call me later", "call me at 19:00") actually takes place.

The customer's chosen time is kept when the legal floor allows it (campaign hours and rest yield
to the customer's own choice, the law does not); a time outside the floor, a time already past,
or "later" without a time become the next open slot of the campaign's calling window. The gate
checks the appointment again when the call is placed, like any attempt.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dialer.campaigns import CampaignSpec
from dialer.models import Customer, CustomerPhone
from dialer.plan_model import dialled_reachee, reachee_of
from dialer.windows import Reachee, appointment_ok, next_open

LATER_DELAY = timedelta(hours=2)  # "later" without a time: not before this much later


def customer_reachee(customer: Customer) -> Reachee:
    """What the calling window needs of one stored customer: the window of the number tried
    first, as every query reading `REACHEE_COLUMNS` has it."""
    first = customer.phones[0] if customer.phones else None
    return reachee_of(
        customer.time_zones,
        customer.quiet_hours,
        customer.region,
        customer.marketing_consent,
        customer.time_zone_explicit,
        first.time_zones if first else None,
        first.e164 if first else None,
        customer.subdivision,
    )


def phone_reachee(customer: Customer, phone: CustomerPhone | None) -> Reachee:
    """The window of a call to `phone`: its own zones and state (`plan_model.dialled_reachee`);
    the customer's when no number is known."""
    who = customer_reachee(customer)
    if phone is None:
        return who
    return dialled_reachee(
        who, phone.e164, phone.time_zones, phone.region, customer.time_zone_explicit
    )


def customer_zone(spec: CampaignSpec, customer: Customer) -> ZoneInfo:
    """The zone a customer speaks of times in: their first zone, else the campaign's default."""
    return ZoneInfo((customer.time_zones or [spec.default_time_zone])[0])


def appointment_slot(
    spec: CampaignSpec, who: Reachee, wanted: datetime | None, now: datetime
) -> datetime | None:
    """The appointment to keep: `wanted` when allowed, else the next open slot (None: never)."""
    policy = spec.window_policy()
    if wanted is not None and wanted > now and appointment_ok(who, policy, wanted):
        return wanted
    start = max(wanted, now) if wanted is not None else now + LATER_DELAY
    return next_open(who, policy, start) or wanted


def at_hour(zone: ZoneInfo, hour: int, now: datetime) -> datetime:
    """The next `hour`:00 local time after `now` (today if still ahead, else tomorrow), in UTC."""
    local_today: date = now.astimezone(zone).date()
    for day in (local_today, local_today + timedelta(days=1)):
        at = datetime.combine(day, time(hour), tzinfo=zone)
        if at > now:
            return at.astimezone(ZoneInfo("UTC"))
    raise AssertionError("unreachable: tomorrow's hour is always ahead")  # pragma: no cover
