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

from dialer.windows import Reachee, WindowPolicy, appointment_ok, is_open, next_open, open_intervals

Verdict = Literal["go", "defer", "hold", "cancel"]
HOLD_FOR = timedelta(minutes=1)  # paused / halted: look again this much later
MAX_SMS_VALIDITY = timedelta(hours=10)  # Twilio's 36,000 s ceiling
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
    if g.contacts_last_day >= g.contact_cap:
        assert g.last_contact_at is not None
        return Decision(
            "defer",
            f"contact cap: {g.contacts_last_day} contacts in the last 24 hours",
            max(now, g.last_contact_at) + timedelta(hours=24) / max(1, g.contact_cap),
        )
    if g.last_contact_at is not None and now - g.last_contact_at < g.min_gap:
        return Decision("defer", "contacted moments ago", g.last_contact_at + g.min_gap)
    if _at_appointment(g.appointment_at, now) and appointment_ok(g.who, g.policy, now):
        return _go(g, now)  # the customer chose the moment: only the legal floor applies
    if not is_open(g.who, g.policy, now):
        nxt = next_open(g.who, g.policy, now)
        if nxt is None:
            return Decision("cancel", "no open calling window within 45 days", outcome=None)
        return Decision("defer", "outside the customer's calling window", nxt)
    return _go(g, now)


def _at_appointment(at: datetime | None, now: datetime) -> bool:
    return at is not None and at - APPOINTMENT_SLACK <= now <= at + APPOINTMENT_KEPT


def _go(g: GateInput, now: datetime) -> Decision:
    if g.channel != "sms":
        return Decision("go")
    spans = open_intervals(g.who, g.policy, now, now + MAX_SMS_VALIDITY)
    left = (spans[0][1] - now) if spans and spans[0][0] <= now else timedelta(minutes=5)
    return Decision("go", sms_validity=max(timedelta(seconds=60), min(left, MAX_SMS_VALIDITY)))
