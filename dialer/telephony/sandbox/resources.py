"""The sandbox's records of calls and messages, and their JSON exactly as Twilio's REST API shows them.

Field lists follow the OpenAPI schemas `api.v2010.account.call` / `api.v2010.account.message`
(every property present, null where Twilio would say null), dates in RFC 2822.
"""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

from dialer.telephony.sandbox.behaviour import Person

API_VERSION = "2010-04-01"
CALL_TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
MESSAGE_TERMINAL = frozenset({"delivered", "undelivered", "failed", "received", "canceled"})
CALL_SUBRESOURCES = (
    ("notifications", "Notifications"),
    ("recordings", "Recordings"),
    ("payments", "Payments"),
    ("events", "Events"),
    ("siprec", "Siprec"),
    ("streams", "Streams"),
    ("transcriptions", "Transcriptions"),
    ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
    ("user_defined_messages", "UserDefinedMessages"),
)
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


_SIDS = random.Random(secrets.randbits(128))  # unique, not secret: cheaper than os.urandom


E164 = re.compile(r"^\+[1-9]\d{6,14}$")  # what Twilio accepts as a To number


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 lower-case hex digits."""
    return f"{prefix}{_SIDS.getrandbits(128):032x}"


def rfc2822(at: datetime | None) -> str | None:
    """Twilio's date format, e.g. 'Tue, 24 Nov 2026 05:00:00 +0000'."""
    return None if at is None else _rfc2822(at.replace(microsecond=0))


@lru_cache(maxsize=1024)
def _rfc2822(at: datetime) -> str:
    return format_datetime(at)  # cached: a busy second formats the same date many times


def num_segments(body: str) -> int:
    """SMS segments: 160/153 GSM-7 characters, 70/67 UCS-2 characters per part."""
    if all(ch in GSM7 for ch in body):
        single, multi = 160, 153
    else:
        single, multi = 70, 67
    n = len(body)
    return 1 if n <= single else -(-n // multi)


@dataclass(frozen=True)
class Contact:
    """One entry of the sandbox's log: who was called or texted, when the phone rang, what happened.

    `rang_at` is the moment the customer was disturbed: the phone rang, or the SMS reached the
    handset; None if it never did (busy and failed calls never ring).
    """

    sid: str
    kind: str
    to: str
    from_: str
    requested_at: datetime
    queued_until: datetime
    started_at: datetime | None
    rang_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    answered_by: str | None
    status: str
    duration: int | None
    digits: tuple[str, ...]
    sms_reply: str | None
    error: str | None
    said: tuple[tuple[str, str], ...] = ()  # (voice, text) of every <Say> the callee heard
    recordings: tuple[str, ...] = ()  # what the callee said after a <Record> beep

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            out[key.rstrip("_")] = value.isoformat() if isinstance(value, datetime) else value
        out["digits"] = list(self.digits)
        out["said"] = [list(x) for x in self.said]
        out["recordings"] = list(self.recordings)
        return out


@dataclass
class CallRecord:
    """One outbound call: what was asked for, where it is in its life, and who answered."""

    sid: str
    account_sid: str
    to: str
    from_: str
    url: str | None
    method: str
    twiml: str | None
    status_callback: str | None
    status_callback_method: str
    events: frozenset[str]
    timeout: int
    machine_detection: bool
    requested_at: datetime
    queued_until: datetime
    status: str = "queued"
    updated_at: datetime | None = None
    started_at: datetime | None = None
    rang_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    person: Person | None = None
    digits: list[str] = field(default_factory=list)
    gathers: int = 0  # prompts (Gather, Record) the person has answered or let pass
    recordings: list[str] = field(default_factory=list)
    said: list[tuple[str, str]] = field(default_factory=list)  # (voice, text) of every <Say>
    documents: int = 0
    sequence: int = 0
    error: str | None = None
    parent_call_sid: str | None = None  # a <Dial> leg: the call that dialled it

    @property
    def answered_by(self) -> str | None:
        """What Twilio's AMD reports: only when MachineDetection was asked for."""
        if not self.machine_detection or self.answered_at is None or self.person is None:
            return None
        return "machine_start" if self.person.kind == "machine" else "human"

    @property
    def duration(self) -> int | None:
        if self.ended_at is None:
            return None
        if self.answered_at is None:
            return 0
        return max(0, round((self.ended_at - self.answered_at).total_seconds()))

    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"

    def contact(self) -> Contact:
        """This call as a log entry; answered_by is who really answered, AMD or not."""
        who = None
        if self.answered_at is not None and self.person is not None:
            who = "machine" if self.person.kind == "machine" else "human"
        return Contact(
            sid=self.sid,
            kind="call",
            to=self.to,
            from_=self.from_,
            requested_at=self.requested_at,
            queued_until=self.queued_until,
            started_at=self.started_at,
            rang_at=self.rang_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            answered_by=who,
            status=self.status,
            duration=self.duration,
            digits=tuple(self.digits),
            sms_reply=None,
            said=tuple(self.said),
            recordings=tuple(self.recordings),
            error=self.error,
        )

    def as_json(self) -> dict[str, Any]:
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        duration = self.duration
        return {
            "sid": self.sid,
            "date_created": rfc2822(self.requested_at),
            "date_updated": rfc2822(self.updated_at or self.requested_at),
            "parent_call_sid": self.parent_call_sid,
            "account_sid": self.account_sid,
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from_,
            "from_formatted": self.from_,
            "phone_number_sid": None,
            "status": self.status,
            "start_time": rfc2822(self.started_at),
            "end_time": rfc2822(self.ended_at),
            "duration": None if duration is None else str(duration),
            "price": None,
            "price_unit": "USD",
            "direction": "outbound-dial" if self.parent_call_sid else "outbound-api",
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": str(
                max(0, round((self.queued_until - self.requested_at).total_seconds() * 1000))
            ),
            "trunk_sid": None,
            "uri": self.uri(),
            "subresource_uris": {key: f"{base}/{name}.json" for key, name in CALL_SUBRESOURCES},
        }


@dataclass
class MessageRecord:
    """One SMS, outbound (ours) or inbound (a customer's reply)."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    direction: str
    requested_at: datetime
    queued_until: datetime
    status_callback: str | None = None
    messaging_service_sid: str | None = None
    validity_period: int | None = None
    status: str = "queued"
    updated_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    person: Person | None = None
    reply: str | None = None
    reply_sid: str | None = None
    in_reply_to: str | None = None

    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def contact(self) -> Contact:
        """This SMS as a log entry; rang_at is when it reached the handset (delivered)."""
        return Contact(
            sid=self.sid,
            kind="sms",
            to=self.to,
            from_=self.from_,
            requested_at=self.requested_at,
            queued_until=self.queued_until,
            started_at=self.sent_at,
            rang_at=self.delivered_at,
            answered_at=None,
            ended_at=self.updated_at if self.status in MESSAGE_TERMINAL else None,
            answered_by=None,
            status=self.status,
            duration=None,
            digits=(),
            sms_reply=self.reply,
            error=None if self.error_code is None else str(self.error_code),
            said=(("sms", self.body),),  # what the handset showed
        )

    def as_json(self) -> dict[str, Any]:
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "body": self.body,
            "num_segments": str(num_segments(self.body)),
            "direction": self.direction,
            "from": self.from_,
            "to": self.to,
            "date_updated": rfc2822(self.updated_at or self.requested_at),
            "price": None,
            "error_message": self.error_message,
            "uri": self.uri(),
            "account_sid": self.account_sid,
            "num_media": "0",
            "status": self.status,
            "messaging_service_sid": self.messaging_service_sid,
            "sid": self.sid,
            "date_sent": rfc2822(self.sent_at),
            "date_created": rfc2822(self.requested_at),
            "error_code": self.error_code,
            "price_unit": "USD",
            "api_version": API_VERSION,
            "subresource_uris": {
                "media": f"{base}/Media.json",
                "feedback": f"{base}/Feedback.json",
            },
        }
