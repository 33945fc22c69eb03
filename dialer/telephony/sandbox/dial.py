"""<Dial><Number>: the second leg of a live call, rung, answered and bridged, as Twilio does it.

The agents' click-to-call rings the agent first (an ordinary outbound call), whose TwiML dials
the customer: this module simulates that child leg (its own call record, `parent_call_sid` set,
direction `outbound-dial`): the customer's person rings, is busy, does not answer within the
Dial's `timeout`, or answers and talks for `Behaviour.talk_seconds`. Then, as on Twilio, the
Dial's `action` is requested with `DialCallStatus`, `DialCallSid` and `DialCallDuration` and the
call goes on with the document it returns; without an action the next verb plays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

from dialer.telephony.sandbox.resources import CALL_TERMINAL, E164, CallRecord, new_sid
from dialer.telephony.sandbox.twiml import Verb, number

if TYPE_CHECKING:
    from dialer.telephony.sandbox.calls import Calls, Walk

DEFAULT_TIMEOUT = 30.0  # Twilio's <Dial timeout>


class Dialler:
    """The <Dial> verb of the sandbox's calls (called with the World lock held)."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self.w = calls.w

    def dial(self, parent: CallRecord, verb: Verb, walk: Walk) -> None:
        numbers = [c.text for c in verb.children if c.name == "Number" and c.text]
        to = (numbers[0] if numbers else verb.text).strip()
        now = self.w.now()
        leg = CallRecord(
            sid=new_sid("CA"),
            account_sid=parent.account_sid,
            to=to,
            from_=verb.attrs.get("callerId") or parent.from_,
            url=None,
            method="POST",
            twiml=None,
            status_callback=None,
            status_callback_method="POST",
            events=frozenset(),
            timeout=int(number(verb.attrs.get("timeout"), DEFAULT_TIMEOUT)),
            machine_detection=False,
            requested_at=now,
            queued_until=now,
            parent_call_sid=parent.sid,
        )
        self.calls.records[leg.sid] = leg
        leg.started_at = leg.updated_at = now
        if not E164.match(to):
            leg.error = "13214"  # Dial: invalid To
            self.w.scheduler.at(now, lambda: self._end(leg.sid, "failed", parent.sid, verb, walk))
            return
        person = self.w.person_for("call", to)
        leg.person = person
        if person.kind in ("failed", "busy"):
            at = self.w.later(self.w.behaviour.busy_seconds)
            status = "busy" if person.kind == "busy" else "failed"
            self.w.scheduler.at(at, lambda: self._end(leg.sid, status, parent.sid, verb, walk))
            return
        leg.status, leg.rang_at = "ringing", now
        if person.kind == "no_answer" or person.ring_seconds >= leg.timeout:
            at = self.w.later(leg.timeout)
            self.w.scheduler.at(at, lambda: self._end(leg.sid, "no-answer", parent.sid, verb, walk))
            return
        at = self.w.later(person.ring_seconds)
        self.w.scheduler.at(at, lambda: self._bridge(leg.sid, parent.sid, verb, walk))

    def _bridge(self, leg_sid: str, parent_sid: str, verb: Verb, walk: Walk) -> None:
        """The customer answers: both legs talk until the customer hangs up (or the agent does)."""
        with self.w.lock:
            leg = self.calls.records[leg_sid]
            if not self.calls.current(parent_sid, walk):  # the agent hung up while it rang
                leg.status, leg.ended_at = "canceled", self.w.now()
                return
            leg.status, leg.answered_at = "in-progress", self.w.now()
            leg.updated_at = leg.answered_at
            at = self.w.later(self.w.behaviour.talk_seconds)
        self.w.scheduler.at(at, lambda: self._end(leg_sid, "completed", parent_sid, verb, walk))

    def _end(self, leg_sid: str, status: str, parent_sid: str, verb: Verb, walk: Walk) -> None:
        with self.w.lock:
            leg = self.calls.records[leg_sid]
            if leg.status in CALL_TERMINAL:
                return
            leg.status, leg.ended_at = status, self.w.now()
            leg.updated_at = leg.ended_at
            if not self.calls.current(parent_sid, walk):
                return
            extra = {
                "DialCallStatus": status,
                "DialCallSid": leg.sid,
                "DialCallDuration": str(leg.duration or 0),
            }
            action = verb.attrs.get("action")
        if action:
            target = urljoin(walk.url or "", action)
            self.calls.follow(parent_sid, walk, target, verb.attrs.get("method", "POST"), extra)
        else:
            self.calls.step(parent_sid, walk)
