"""Simulated SMS: Twilio's Messages resource, MPS queueing, ValidityPeriod, delivery and replies.

An outbound message goes queued → sent → delivered / undelivered / failed (status callbacks
for each); one that waits in the queue past its ValidityPeriod fails with 30001. A delivered
message may get a reply, posted to the sandbox's inbound SMS URL like Twilio's incoming webhook.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from dialer.telephony.sandbox.core import WebhookError, World
from dialer.telephony.sandbox.errors import MESSAGE_TEST_NUMBERS, ApiError, not_found
from dialer.telephony.sandbox.listing import date_filter, paged
from dialer.telephony.sandbox.resources import (
    API_VERSION,
    E164,
    MessageRecord,
    new_sid,
    num_segments,
)

log = logging.getLogger("dialer.sandbox")
DEFAULT_SENDER = "+15005550006"
ERRORS = {
    "undelivered": (30003, "Unreachable destination handset"),
    "failed": (30008, "Unknown error"),
    "expired": (30001, "Queue overflow"),
}


class Messages:
    """The Messages resource and the life of every SMS placed through it."""

    def __init__(self, world: World, mps: float, inbound_sms_url: str | None) -> None:
        if mps <= 0:
            raise ValueError(f"mps must be positive, got {mps}")
        self.w = world
        self.mps = mps
        self.inbound_sms_url = inbound_sms_url
        self.records: dict[str, MessageRecord] = {}
        self._last_start: datetime | None = None

    # --- the REST resource ---

    def create(self, p: dict[str, str]) -> dict[str, Any]:
        to = p.get("To", "").strip()
        from_ = p.get("From", "").strip()
        service = p.get("MessagingServiceSid") or None
        body = p.get("Body", "")
        if not to:
            raise ApiError(400, 21604, "A 'To' phone number is required")
        if not from_ and not service:
            raise ApiError(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if to in MESSAGE_TEST_NUMBERS:
            code, message = MESSAGE_TEST_NUMBERS[to]
            raise ApiError(400, code, message)
        if not E164.match(to):
            raise ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not body and not p.get("MediaUrl"):
            raise ApiError(400, 21602, "Message body is required")
        if len(body) > 1600:
            raise ApiError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit"
            )
        validity: int | None = None
        if p.get("ValidityPeriod"):
            try:
                validity = int(p["ValidityPeriod"])
            except ValueError as exc:
                raise ApiError(400, 21609, "ValidityPeriod must be an integer") from exc
            if not 1 <= validity <= 36000:
                raise ApiError(400, 21609, "ValidityPeriod must be between 1 and 36000 seconds")
        with self.w.lock:
            now = self.w.now()
            self._last_start = self.w.queue_after_jump("sms", self._last_start, now)
            start = now
            if self._last_start is not None:
                start = max(
                    now, self._last_start + timedelta(seconds=num_segments(body) / self.mps)
                )
            rec = MessageRecord(
                sid=new_sid("SM"),
                account_sid=self.w.account_sid,
                to=to,
                from_=from_ or DEFAULT_SENDER,
                body=body,
                direction="outbound-api",
                requested_at=now,
                queued_until=start,
                status_callback=p.get("StatusCallback") or None,
                messaging_service_sid=service,
                validity_period=validity,
            )
            expires = now + timedelta(seconds=validity) if validity is not None else None
            if expires is not None and start > expires:
                rec.queued_until = expires
            else:
                self._last_start = start
            self.records[rec.sid] = rec
            body_json = rec.as_json()
        sid = rec.sid
        self.w.scheduler.at(now, lambda: self._callback(sid))
        if expires is not None and start > expires:
            self.w.scheduler.at(expires, lambda: self._end(sid, "failed", "expired"))
        else:
            self.w.scheduler.at(start, lambda: self._send(sid))
        return body_json

    def fetch(self, sid: str) -> dict[str, Any]:
        with self.w.lock:
            rec = self.records.get(sid)
            if rec is None:
                raise not_found("Message", sid)
            return rec.as_json()

    def listing(self, query: dict[str, str], path: str) -> dict[str, Any]:
        sent = date_filter(query, "DateSent")
        to, from_ = query.get("To"), query.get("From")
        with self.w.lock:
            items = [
                r
                for r in reversed(self.records.values())
                if (to is None or r.to == to)
                and (from_ is None or r.from_ == from_)
                and sent(r.sent_at)
            ]
            return paged(items, query, path, "messages", MessageRecord.as_json)

    # --- the simulated life of a message ---

    def _callback(self, sid: str) -> None:
        with self.w.lock:
            rec = self.records[sid]
            if rec.status_callback is None:
                return
            params = {
                "AccountSid": rec.account_sid,
                "ApiVersion": API_VERSION,
                "From": rec.from_,
                "MessageSid": rec.sid,
                "MessageStatus": rec.status,
                "SmsSid": rec.sid,
                "SmsStatus": rec.status,
                "To": rec.to,
            }
            if rec.messaging_service_sid:
                params["MessagingServiceSid"] = rec.messaging_service_sid
            if rec.error_code is not None:
                params["ErrorCode"] = str(rec.error_code)
            last = rec.status in ("delivered", "undelivered", "failed")
            url = rec.status_callback
        self.w.webhooks.callback(sid, url, "POST", params, last=last)

    def _send(self, sid: str) -> None:
        b = self.w.behaviour
        delay = random.Random(f"{self.w.seed}:deliver:{sid}").uniform(*b.sms_deliver_seconds)
        with self.w.lock:
            rec = self.records[sid]
            if rec.status != "queued":
                return
            person = self.w.person_for("sms", rec.to)
            now = self.w.now()
            rec.person, rec.status, rec.sent_at, rec.updated_at = person, "sent", now, now
        self._callback(sid)
        outcome = person.sms_delivery
        self.w.scheduler.at(
            self.w.later(b.sms_send_seconds + delay),
            lambda: self._end(sid, outcome, outcome if outcome != "delivered" else None),
        )

    def _end(self, sid: str, status: str, error: str | None) -> None:
        with self.w.lock:
            rec = self.records[sid]
            if rec.status in ("delivered", "undelivered", "failed"):
                return
            now = self.w.now()
            rec.status, rec.updated_at = status, now
            if error is not None:
                rec.error_code, rec.error_message = ERRORS[error]
            else:
                rec.delivered_at = now
            reply = rec.person.sms_reply if rec.person and status == "delivered" else None
        self._callback(sid)
        if reply is not None:
            wait = random.Random(f"{self.w.seed}:reply:{sid}").uniform(
                *self.w.behaviour.sms_reply_seconds
            )
            self.w.scheduler.at(self.w.later(wait), lambda: self._reply(sid, reply))

    def _reply(self, sid: str, body: str) -> None:
        """The customer answers: an inbound message, posted to the inbound SMS URL (signed) if set."""
        with self.w.lock:
            out = self.records[sid]
            now = self.w.now()
            rec = MessageRecord(
                sid=new_sid("SM"),
                account_sid=out.account_sid,
                to=out.from_,
                from_=out.to,
                body=body,
                direction="inbound",
                requested_at=now,
                queued_until=now,
                status="received",
                sent_at=now,
                in_reply_to=sid,
            )
            self.records[rec.sid] = rec
            out.reply, out.reply_sid = body, rec.sid
            params = {
                "AccountSid": rec.account_sid,
                "ApiVersion": API_VERSION,
                "Body": body,
                "From": rec.from_,
                "MessageSid": rec.sid,
                "NumMedia": "0",
                "NumSegments": str(num_segments(body)),
                "SmsMessageSid": rec.sid,
                "SmsSid": rec.sid,
                "SmsStatus": "received",
                "To": rec.to,
            }
        url = self.inbound_sms_url
        if url is None:
            return  # Twilio keeps the message; with no webhook configured nobody is told
        try:
            self.w.webhooks.request(url, "POST", params)
        except WebhookError as exc:
            log.warning("sandbox: inbound SMS not delivered: %s", exc)
