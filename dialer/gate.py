"""The one gate before every request to Twilio (docs/architecture.md), as a pure function.

A retry, an appointment and a fallback SMS pass the same checks as a first call: the calling
window in the customer's own time zone, staying open until the phone will have rung and the
short call ended (queueing + ring timeout + handle time); rest and quiet hours and holidays;
consent for marketing; opt-out / do-not-contact; a per-customer contact cap across channels and
campaigns; the campaign paused or stopped; the emergency stop. The customer is disturbed when
the phone rings, not when the API is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from dialer.calendars import marketing_cap
from dialer.windows import (
    Reachee,
    WindowPolicy,
    appointment_ok,
    effective_zones,
    is_open,
    next_open,
    open_intervals,
)

Verdict = Literal["go", "defer", "hold", "cancel"]
HOLD_FOR = timedelta(minutes=1)  # paused / halted: look again this much later
MAX_SMS_VALIDITY = timedelta(hours=10)  # Twilio's 36,000 s ceiling

SMS_DELIVERY_MARGIN = timedelta(minutes=2)
"""Time an SMS may still take after it leaves Twilio's queue. Twilio's `ValidityPeriod` bounds
only the time a message waits in Twilio's outgoing queue ("If a queued Message exceeds the
validity_period, the Message is not sent"); once handed to the carrier it can still take a while
to reach the handset (carrier queues, a phone briefly out of coverage). So the validity ends this
long before the window closes, and a message sent at its last valid second still arrives inside."""

MIN_SMS_VALIDITY = timedelta(seconds=60)
"""Below this an SMS is not worth sending now: a shorter validity lets Twilio drop it under any
queueing (Twilio recommends more than 5 s), so it waits for the next window instead."""
APPOINTMENT_SLACK = timedelta(minutes=15)  # an agreed time is kept within -15 / +60 minutes
APPOINTMENT_KEPT = APPOINTMENT_SLACK * 4  # a call this long after the agreed time still keeps it


@dataclass(frozen=True, slots=True)
class Decision:
    """go now; defer to `until` (not a contact); hold (paused/halted); cancel with a reason."""

    verdict: Verdict
    reason: str = ""
    until: datetime | None = None
    outcome: str | None = None  # for cancel: the task's outcome (opted_out, not_contactable)
    sms_validity: timedelta | None = None


@dataclass(frozen=True, slots=True)
class GateInput:
    """What the gate looks at for one attempt, read by the dispatcher right before the request."""

    channel: str
    purpose: str
    who: Reachee
    policy: WindowPolicy  # the campaign's window; min_open already includes queueing
    campaign_status: str
    halted: bool
    blocked_channels: frozenset[str]  # do-not-contact on the customer or the number
    number_ok: bool  # the number can still take this channel
    contacts_last_day: int
    last_contact_at: datetime | None
    contact_cap: int
    min_gap: timedelta
    appointment_at: datetime | None = None


def _blocked(blocked: frozenset[str], channel: str) -> bool:
    return "all" in blocked or channel in blocked


def check(g: GateInput, now: datetime) -> Decision:
    """The verdict for placing this attempt at `now`."""
    if g.halted:
        return Decision("hold", "emergency stop is on", now + HOLD_FOR)
    if g.campaign_status == "stopped":
        return Decision("cancel", "the campaign was stopped", outcome=None)
    if g.campaign_status == "paused":
        return Decision("hold", "the campaign is paused", now + HOLD_FOR)
    if g.purpose == "marketing" and g.who.marketing_consent is not True:
        return Decision("cancel", "no marketing consent", outcome="not_contactable")
    if _blocked(g.blocked_channels, g.channel):
        return Decision("cancel", "on the do-not-contact list", outcome="opted_out")
    if not g.number_ok:
        return Decision("cancel", f"the number cannot take {g.channel}", outcome=None)
    cap, law = _contact_cap(g)
    if g.contacts_last_day >= cap:
        assert g.last_contact_at is not None
        return Decision(
            "defer",
            f"contact cap: {g.contacts_last_day} contacts in the last 24 hours{law}",
            max(now, g.last_contact_at) + timedelta(hours=24) / max(1, cap),
        )
    if g.last_contact_at is not None and now - g.last_contact_at < g.min_gap:
        return Decision("defer", "contacted moments ago", g.last_contact_at + g.min_gap)
    if _at_appointment(g.appointment_at, now) and appointment_ok(g.who, g.policy, now):
        return _go(g, now)  # the customer chose the moment: only the legal floor applies
    if not is_open(g.who, g.policy, now):
        return _closed(g, now)
    return _go(g, now)


def _closed(g: GateInput, now: datetime) -> Decision:
    choice = effective_zones(g.who, g.policy)
    if not choice.callable:
        return Decision("cancel", f"not callable: {choice.reason}", outcome=None)
    nxt = next_open(g.who, g.policy, now)
    if nxt is None:
        return Decision("cancel", "no open calling window within 45 days", outcome=None)
    return Decision("defer", "outside the customer's calling window", nxt)


def _contact_cap(g: GateInput) -> tuple[int, str]:
    """The configured cap, or a state's legal marketing cap when stricter (with its source)."""
    if g.purpose != "marketing":
        return g.contact_cap, ""
    keys = tuple(k for k in (g.who.region, *g.who.floor_keys()) if k)
    law = marketing_cap(keys)
    if law is None or law[0] >= g.contact_cap:
        return g.contact_cap, ""
    return law[0], f", the legal cap is {law[0]} ({law[1]})"


def _at_appointment(at: datetime | None, now: datetime) -> bool:
    return at is not None and at - APPOINTMENT_SLACK <= now <= at + APPOINTMENT_KEPT


def _go(g: GateInput, now: datetime) -> Decision:
    if g.channel != "sms":
        return Decision("go")
    spans = open_intervals(g.who, g.policy, now, now + MAX_SMS_VALIDITY + SMS_DELIVERY_MARGIN)
    if not spans or spans[0][0] > now:  # an appointment outside the window: the old allowance
        return Decision("go", sms_validity=timedelta(minutes=5))
    left = spans[0][1] - now - SMS_DELIVERY_MARGIN
    if left < MIN_SMS_VALIDITY:
        nxt = next_open(g.who, g.policy, spans[0][1])
        if nxt is None:
            return Decision("cancel", "no open calling window within 45 days", outcome=None)
        return Decision(
            "defer",
            f"the window closes in {int((spans[0][1] - now).total_seconds())} s, too soon for "
            "an SMS to arrive inside it",
            nxt,
        )
    return Decision("go", sms_validity=min(left, MAX_SMS_VALIDITY))
