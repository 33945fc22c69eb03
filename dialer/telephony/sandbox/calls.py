"""Simulated outbound calls: Twilio's Calls resource, CPS queueing, ringing, answering, the TwiML walk.

A call's life is a chain of events on the World's queue: initiated → ringing → answered (fetch
`Url`, walk its TwiML, press the person's digits at each <Gather>) → completed; or busy,
no-answer (after `Timeout`), failed, canceled. State changes happen under the World lock;
webhooks are made outside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from dialer.telephony.sandbox.core import WebhookError, World
from dialer.telephony.sandbox.dial import Dialler
from dialer.telephony.sandbox.errors import CALL_TEST_NUMBERS, ApiError, not_found
from dialer.telephony.sandbox.listing import date_filter, paged
from dialer.telephony.sandbox.resources import (
    API_VERSION,
    CALL_TERMINAL,
    E164,
    CallRecord,
    new_sid,
    rfc2822,
)
from dialer.telephony.sandbox.twiml import TwimlError, Verb, number, parse, spoken_seconds

log = logging.getLogger("dialer.sandbox")
EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
MAX_DOCUMENTS = 100  # TwiML documents per call before the sandbox calls it a loop
TIME_LIMIT = timedelta(hours=4)  # Twilio's default call time limit
CARRIER_FAILURE = "13224"  # "none of Twilio's carrier partners are able to deliver the call"


@dataclass(eq=False)
class Walk:
    """The TwiML document a live call is playing: the verbs left and the URL it came from."""

    verbs: list[Verb]
    url: str | None


class Calls:
    """The Calls resource and the life of every call placed through it."""

    def __init__(self, world: World, cps: float) -> None:
        if cps <= 0:
            raise ValueError(f"cps must be positive, got {cps}")
        self.w = world
        self.cps = cps
        self.records: dict[str, CallRecord] = {}
        self._last_start: datetime | None = None
        self._walks: dict[str, Walk] = {}
        self.dialler = Dialler(self)

    # --- the REST resource ---

    def create(self, p: dict[str, str]) -> dict[str, Any]:
        to, from_ = p.get("To", "").strip(), p.get("From", "").strip()
        if not to:
            raise ApiError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise ApiError(400, 21213, "No 'From' number is specified")
        if to in CALL_TEST_NUMBERS:
            code, message = CALL_TEST_NUMBERS[to]
            raise ApiError(400, code, message)
        if not E164.match(to):
            raise ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not p.get("Url") and not p.get("Twiml"):
            raise ApiError(400, 21205, "Url parameter is required")
        try:
            timeout = int(p.get("Timeout", "60") or 60)
        except ValueError as exc:
            raise ApiError(400, 21218, "Timeout must be an integer") from exc
        events = frozenset(p.get("StatusCallbackEvent", "").replace(",", " ").split()) & EVENTS
        with self.w.lock:
            now = self.w.now()
            self._last_start = self.w.queue_after_jump("call", self._last_start, now)
            start = now
            if self._last_start is not None:
                start = max(now, self._last_start + timedelta(seconds=1 / self.cps))
            self._last_start = start
            rec = CallRecord(
                sid=new_sid("CA"),
                account_sid=self.w.account_sid,
                to=to,
                from_=from_,
                url=p.get("Url") or None,
                method=(p.get("Method") or "POST").upper(),
                twiml=p.get("Twiml") or None,
                status_callback=p.get("StatusCallback") or None,
                status_callback_method=(p.get("StatusCallbackMethod") or "POST").upper(),
                events=events,
                timeout=max(1, min(600, timeout)),
                machine_detection=bool(p.get("MachineDetection")),
                requested_at=now,
                queued_until=start,
            )
            self.records[rec.sid] = rec
            body = rec.as_json()
        self.w.scheduler.at(start, lambda: self._initiate(rec.sid))
        return body

    def fetch(self, sid: str) -> dict[str, Any]:
        with self.w.lock:
            rec = self.records.get(sid)
            if rec is None:
                raise not_found("Call", sid)
            return rec.as_json()

    def update(self, sid: str, p: dict[str, str]) -> dict[str, Any]:
        """Status=canceled/completed ends a queued or ringing call (canceled) or hangs up a live one
        (completed); Url or Twiml on a live call redirects it to that TwiML."""
        status = p.get("Status", "")
        with self.w.lock:
            rec = self.records.get(sid)
            if rec is None:
                raise not_found("Call", sid)
            if status and status not in ("canceled", "completed"):
                raise ApiError(400, 21220, f"Invalid Status {status!r}")
            live = rec.status not in CALL_TERMINAL
            url, twiml = p.get("Url") or None, p.get("Twiml") or None
            if not status and rec.status == "in-progress" and (url or twiml):
                method = (p.get("Method") or "POST").upper()
                self.w.scheduler.at(self.w.now(), lambda: self._redirect(sid, url, method, twiml))
                return rec.as_json()
            if live and status and rec.status in ("queued", "ringing"):
                rec.status = "canceled"
            elif live and status == "completed":
                rec.status = "completed"
            else:
                return rec.as_json()
            rec.ended_at = rec.updated_at = self.w.now()
            self._walks.pop(sid, None)
            body = rec.as_json()
        self.w.scheduler.at(self.w.now(), lambda: self._final_callback(sid))
        return body

    def listing(self, query: dict[str, str], path: str) -> dict[str, Any]:
        started = date_filter(query, "StartTime")
        ended = date_filter(query, "EndTime")
        to, from_, status = query.get("To"), query.get("From"), query.get("Status")
        with self.w.lock:
            items = [
                r
                for r in reversed(self.records.values())
                if (to is None or r.to == to)
                and (from_ is None or r.from_ == from_)
                and (status is None or r.status == status)
                and started(r.started_at)
                and ended(r.ended_at)
            ]
            return paged(items, query, path, "calls", CallRecord.as_json)

    # --- the simulated life of a call ---

    def _params(self, rec: CallRecord, status: str) -> dict[str, str]:
        params = {
            "AccountSid": rec.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": rec.sid,
            "CallStatus": status,
            "Called": rec.to,
            "Caller": rec.from_,
            "Direction": "outbound-api",
            "From": rec.from_,
            "To": rec.to,
        }
        if rec.answered_by:
            params["AnsweredBy"] = rec.answered_by
        return params

    def _callback(self, sid: str, status: str, *, last: bool = False) -> None:
        """Send one status callback if the application asked for this event (or it is final)."""
        with self.w.lock:
            rec = self.records[sid]
            event = "answered" if status == "in-progress" else status
            if rec.status_callback is None or not (last or event in rec.events):
                return
            params = self._params(rec, status)
            params["SequenceNumber"] = str(rec.sequence)
            params["Timestamp"] = rfc2822(self.w.now()) or ""
            params["CallbackSource"] = "call-progress-events"
            rec.sequence += 1
            if last and status == "completed":
                params["CallDuration"] = params["Duration"] = str(rec.duration or 0)
            if status == "failed":
                params["ErrorCode"] = rec.error or CARRIER_FAILURE
            url, method = rec.status_callback, rec.status_callback_method
        self.w.webhooks.callback(sid, url, method, params, last=last)

    def _initiate(self, sid: str) -> None:
        with self.w.lock:
            rec = self.records[sid]
            if rec.status != "queued":
                return  # canceled while queued
            person = self.w.person_for("call", rec.to)
            now = self.w.now()
            rec.person, rec.started_at, rec.updated_at = person, now, now
            if person.kind == "failed":
                rec.error = CARRIER_FAILURE
        self._callback(sid, "initiated")
        if person.kind == "failed":
            self._finish(sid, "failed")
        elif person.kind == "busy":
            self.w.scheduler.at(
                self.w.later(self.w.behaviour.busy_seconds), lambda: self._finish(sid, "busy")
            )
        else:
            self.w.scheduler.at(self.w.now(), lambda: self._ring(sid))

    def _ring(self, sid: str) -> None:
        with self.w.lock:
            rec = self.records[sid]
            if rec.status != "queued" or rec.person is None:
                return
            now = self.w.now()
            rec.status, rec.rang_at, rec.updated_at = "ringing", now, now
            ring = rec.person.ring_seconds
            if rec.person.kind == "no_answer" or ring >= rec.timeout:
                end_at, event = self.w.later(rec.timeout), lambda: self._finish(sid, "no-answer")
            else:
                end_at, event = self.w.later(ring), lambda: self._answer(sid)
            log.info("sandbox: %s rings at %s", sid, now.isoformat())
        self._callback(sid, "ringing")
        self.w.scheduler.at(end_at, event)

    def _answer(self, sid: str) -> None:
        with self.w.lock:
            rec = self.records[sid]
            if rec.status != "ringing":
                return
            now = self.w.now()
            rec.status, rec.answered_at, rec.updated_at = "in-progress", now, now
            url, method, twiml = rec.url, rec.method, rec.twiml
            params = self._params(rec, "in-progress")
        self._callback(sid, "in-progress")
        try:
            verbs = (
                parse(twiml)
                if twiml
                else parse(self.w.webhooks.fetch_twiml(url or "", method, params))
            )
        except (WebhookError, TwimlError) as exc:
            self._app_error(sid, exc)
            return
        self._start_walk(sid, verbs, url)

    def _app_error(self, sid: str, exc: Exception) -> None:
        """Twilio answers a broken webhook with "an application error has occurred" and hangs up."""
        log.warning("sandbox: call %s webhook error: %s", sid, exc)
        with self.w.lock:
            self.records[sid].error = "11200" if isinstance(exc, WebhookError) else "12100"
        self._finish(sid, "completed")

    # --- walking the TwiML: every scheduled step carries its Walk, and is dropped once the call
    # has moved on to another document (a Gather action, a Redirect, a live-call update) ---

    def _start_walk(self, sid: str, verbs: list[Verb], url: str | None) -> None:
        walk = Walk(verbs, url)
        with self.w.lock:
            rec = self.records[sid]
            if rec.status != "in-progress":
                return
            rec.documents += 1
            looping = rec.documents > MAX_DOCUMENTS
            self._walks[sid] = walk
        if looping:
            self._app_error(sid, TwimlError(f"more than {MAX_DOCUMENTS} TwiML documents"))
            return
        self._step(sid, walk)

    def current(self, sid: str, walk: Walk) -> bool:
        """Whether `walk` is still the document the live call `sid` plays."""
        return self._current(sid, walk)

    def _current(self, sid: str, walk: Walk) -> bool:
        return self.records[sid].status == "in-progress" and self._walks.get(sid) is walk

    def _step(self, sid: str, walk: Walk) -> None:
        """Play the next verb of the current TwiML document."""
        b = self.w.behaviour
        with self.w.lock:
            if not self._current(sid, walk):
                return
            answered = self.records[sid].answered_at
            over = answered is not None and self.w.now() - answered >= TIME_LIMIT
            verb = walk.verbs.pop(0) if walk.verbs and not over else Verb("Hangup")
            if verb.name == "Say":
                self.records[sid].said.append((verb.attrs.get("voice", ""), verb.text))
            if verb.name in ("Say", "Play", "Pause"):
                at = self.w.later(spoken_seconds([verb], b.say_seconds_per_char, b.play_seconds))
                self.w.scheduler.at(at, lambda: self._step(sid, walk))
                return
            if verb.name == "Gather":
                self._gather(self.records[sid], verb, walk)
                return
            if verb.name == "Record":
                self._record(self.records[sid], verb, walk)
                return
            if verb.name == "Dial":
                self.dialler.dial(self.records[sid], verb, walk)
                return
            if verb.name == "Other":
                self.w.scheduler.at(self.w.now(), lambda: self._step(sid, walk))
                return
        if verb.name == "Redirect":
            target = urljoin(walk.url or "", verb.text)
            self._follow(sid, walk, target, verb.attrs.get("method", "POST"), {})
            return
        self._finish(sid, "completed")  # Hangup, Reject, or the end of the document

    @staticmethod
    def _next_answer(rec: CallRecord) -> str:
        """The person's answer to the next prompt ("" when silent or not a person)."""
        person, n = rec.person, rec.gathers
        rec.gathers += 1
        if person is None or person.kind != "human":
            return ""
        return person.digits[n] if n < len(person.digits) else person.then

    def _gather(self, rec: CallRecord, verb: Verb, walk: Walk) -> None:
        """The person listens to the prompt, then presses their next digits or stays silent."""
        b, sid = self.w.behaviour, rec.sid
        rec.said.extend(
            (v.attrs.get("voice", ""), v.text) for v in verb.children if v.name == "Say"
        )
        answer = self._next_answer(rec)
        digits = answer if "dtmf" in verb.attrs.get("input", "dtmf") else ""
        num = verb.attrs.get("numDigits")
        if digits and num and num.isdigit():
            digits = digits[: int(num)]
        listen = spoken_seconds(verb.children, b.say_seconds_per_char, b.play_seconds)
        action = verb.attrs.get("action") or walk.url
        if digits and action:
            target = urljoin(walk.url or "", action)
            method = verb.attrs.get("method", "POST")
            at = self.w.later(listen + b.press_seconds * len(digits))
            self.w.scheduler.at(at, lambda: self._pressed(sid, walk, digits, target, method))
        else:
            timeout = max(0.0, number(verb.attrs.get("timeout"), 5))
            self.w.scheduler.at(self.w.later(listen + timeout), lambda: self._step(sid, walk))

    def _record(self, rec: CallRecord, verb: Verb, walk: Walk) -> None:
        """The person speaks their next answer after the beep and presses # (Twilio's Record).

        Silence records nothing: as on Twilio, the action is not requested and the next verb
        plays.
        """
        b, sid = self.w.behaviour, rec.sid
        words = self._next_answer(rec)
        action = urljoin(walk.url or "", verb.attrs.get("action") or walk.url or "")
        if not words or not action:
            timeout = max(0.0, number(verb.attrs.get("timeout"), 5))
            self.w.scheduler.at(self.w.later(timeout), lambda: self._step(sid, walk))
            return
        limit = number(verb.attrs.get("maxLength"), 3600) or 3600
        seconds = int(min(limit, max(1.0, len(words) * b.say_seconds_per_char * 4)))
        rec.recordings.append(words)
        n = len(rec.recordings)
        recording = f"RE{rec.sid[2:30]}{n:04x}"
        extra = {
            "RecordingSid": recording,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{rec.account_sid}"
            f"/Recordings/{recording}",
            "RecordingDuration": str(seconds),
            "Digits": "#" if "#" in verb.attrs.get("finishOnKey", "1234567890*#") else "hangup",
        }
        method = verb.attrs.get("method", "POST")
        at = self.w.later(seconds + b.press_seconds)
        self.w.scheduler.at(at, lambda: self._said(sid, walk, action, method, extra))

    def step(self, sid: str, walk: Walk) -> None:
        """Go on with the next verb (after a <Dial> without an action)."""
        self._step(sid, walk)

    def follow(self, sid: str, walk: Walk, url: str, method: str, extra: dict[str, str]) -> None:
        """Fetch the next document (a <Dial> action) and go on with it."""
        self._follow(sid, walk, url, method, extra)

    def _said(self, sid: str, walk: Walk, url: str, method: str, extra: dict[str, str]) -> None:
        self._follow(sid, walk, url, method, extra)

    def _pressed(self, sid: str, walk: Walk, digits: str, target: str, method: str) -> None:
        with self.w.lock:
            if not self._current(sid, walk):
                return
            self.records[sid].digits.append(digits)
        self._follow(sid, walk, target, method, {"Digits": digits, "FinishedOnKey": ""})

    def _follow(self, sid: str, walk: Walk, url: str, method: str, extra: dict[str, str]) -> None:
        """Fetch the next TwiML document (Gather action, Redirect) and go on with it."""
        with self.w.lock:
            if not self._current(sid, walk):
                return
            params = {**self._params(self.records[sid], "in-progress"), **extra}
        try:
            verbs = parse(self.w.webhooks.fetch_twiml(url, method, params))
        except (WebhookError, TwimlError) as exc:
            self._app_error(sid, exc)
            return
        with self.w.lock:
            if not self._current(sid, walk):
                return
        self._start_walk(sid, verbs, url)

    def _redirect(self, sid: str, url: str | None, method: str, twiml: str | None) -> None:
        """A live-call update (Url or Twiml): drop the current document and play the new one."""
        token = Walk([], url)
        with self.w.lock:
            if self.records[sid].status != "in-progress":
                return
            self._walks[sid] = token
        if twiml:
            try:
                verbs = parse(twiml)
            except TwimlError as exc:
                self._app_error(sid, exc)
                return
            self._start_walk(sid, verbs, None)
            return
        self._follow(sid, token, url or "", method, {})

    def _finish(self, sid: str, status: str) -> None:
        with self.w.lock:
            rec = self.records[sid]
            if rec.status in CALL_TERMINAL:
                return
            now = self.w.now()
            rec.status, rec.ended_at, rec.updated_at = status, now, now
            self._walks.pop(sid, None)
        self._final_callback(sid)

    def _final_callback(self, sid: str) -> None:
        with self.w.lock:
            status = self.records[sid].status
        self._callback(sid, status, last=True)
