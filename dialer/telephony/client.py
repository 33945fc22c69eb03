"""The only code that talks to Twilio: the official SDK, with its errors sorted at this boundary.

`Telephony` places calls and SMS and looks them up again (for reconciliation: a crash between
the API call and recording it must never lead to a second call). Twilio's exceptions become
`TransientTelephonyError` (retry later: 429, 5xx, timeouts), `PermanentTelephonyError` (the
number or route cannot work) or `TelephonyConfigError` (credentials: stop dispatching), each
keeping Twilio's code. With no credentials configured, the sandbox stands in for Twilio and the
SDK reaches it through `RewritingHttpClient` (no monkeypatching). Every StatusCallback and Url
carries Twilio's connection overrides (`dialer.telephony.overrides`), so a failed callback is
retried.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from dialer.clock import ensure_utc
from dialer.errors import (
    PermanentTelephonyError,
    TelephonyConfigError,
    TelephonyError,
    TransientTelephonyError,
)
from dialer.phones import mask_numbers_in
from dialer.telephony.http import RewritingHttpClient
from dialer.telephony.overrides import STATUS_CALLBACK, TWIML, with_overrides

Kind = Literal["call", "sms"]

# Twilio error codes that say the number itself cannot take the channel.
NUMBER_CODES = {
    13223: "not a valid phone number (dial)",
    13224: "not a valid phone number (dial)",
    21211: "invalid 'To' phone number",
    21214: "the number cannot be reached",
    21216: "the number is blocked",
    21217: "not a valid phone number",
    21612: "SMS cannot be routed to this number",
    21614: "not a mobile number (cannot receive SMS)",
    21610: "the number has opted out of SMS (STOP)",
}
OPT_OUT_CODES = {21610}
CONFIG_CODES = {20003, 20005, 20008, 20404, 21606, 21659, 21212}  # auth, account, bad sender
TERMINAL_CALL = {"completed", "busy", "no-answer", "failed", "canceled"}
TERMINAL_SMS = {"delivered", "undelivered", "failed", "read", "canceled"}
MAX_VALIDITY = 36000  # seconds; Twilio accepts 1..36000
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """A call or message as Twilio reports it."""

    sid: str
    kind: Kind
    to: str
    from_: str
    status: str
    created_at: datetime | None
    answered_by: str | None = None
    duration: int | None = None
    error_code: int | None = None

    @property
    def terminal(self) -> bool:
        return self.status in (TERMINAL_CALL if self.kind == "call" else TERMINAL_SMS)


def _date(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return ensure_utc(value)
    try:
        return ensure_utc(parsedate_to_datetime(str(value)))
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _record(kind: Kind, inst: Any) -> ProviderRecord:
    return ProviderRecord(
        sid=str(inst.sid),
        kind=kind,
        to=str(inst.to),
        from_=str(getattr(inst, "from_", None) or getattr(inst, "from_formatted", "") or ""),
        status=str(inst.status),
        created_at=_date(getattr(inst, "date_created", None)),
        answered_by=getattr(inst, "answered_by", None),
        duration=_int(getattr(inst, "duration", None)),
        error_code=_int(getattr(inst, "error_code", None)),
    )


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Telephony:
    """Twilio (or the sandbox) through the official SDK."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str | None = None,
        timeout: float = 15.0,
        pool_size: int = 64,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.base_url = base_url
        self.http = RewritingHttpClient(base_url, pool_size=pool_size, timeout=timeout)
        self.client = Client(
            account_sid, auth_token, account_sid=account_sid, http_client=self.http
        )

    @contextmanager
    def _boundary(self, what: str, *, creates: bool) -> Iterator[None]:
        """Sort every failure into transient / permanent / config, keeping Twilio's code."""
        try:
            yield
        except TwilioRestException as exc:
            code, status = exc.code, exc.status
            said = mask_numbers_in(exc.msg or "error")  # "The 'To' number +1… is not valid"
            msg = f"Twilio refused to {what}: {said} (code {code}, HTTP {status})"
            if status == 429 or code == 20429:
                retry = _retry_after(self.http.last_headers())
                raise TransientTelephonyError(
                    msg, code=code or 20429, status=status, retry_after=retry
                ) from exc
            if status >= 500:
                raise TransientTelephonyError(
                    msg, code=code, status=status, ambiguous=creates
                ) from exc
            if status in (401, 403) or code in CONFIG_CODES:
                raise TelephonyConfigError(msg, code=code, status=status) from exc
            raise PermanentTelephonyError(
                msg,
                code=code,
                status=status,
                number_unusable=code in NUMBER_CODES,
                opted_out=code in OPT_OUT_CODES,
            ) from exc
        except (requests.ConnectTimeout, requests.exceptions.ConnectionError) as exc:
            # A connect timeout never reached Twilio; a dropped connection may have: reconcile.
            ambiguous = creates and not isinstance(exc, requests.ConnectTimeout)
            raise TransientTelephonyError(
                f"cannot reach Twilio to {what}: {type(exc).__name__}", ambiguous=ambiguous
            ) from exc
        except requests.Timeout as exc:
            raise TransientTelephonyError(
                f"Twilio did not answer in time to {what}", ambiguous=creates
            ) from exc
        except TwilioException as exc:
            raise TelephonyError(f"Twilio failed to {what}: {exc}") from exc

    # -- requests that contact a customer

    def place_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        ring_timeout: int,
        time_limit: int | None = None,
        machine_detection: bool = True,
        before_send: Callable[[], bool] | None = None,
    ) -> ProviderRecord:
        kwargs: dict[str, Any] = {
            "to": to,
            "from_": from_,
            "url": with_overrides(url, TWIML),
            "method": "POST",
            "status_callback": with_overrides(status_callback, STATUS_CALLBACK),
            "status_callback_event": CALL_EVENTS,
            "status_callback_method": "POST",
            "timeout": max(5, min(600, ring_timeout)),
        }
        if time_limit:
            kwargs["time_limit"] = time_limit
        if machine_detection:
            kwargs["machine_detection"] = "Enable"
        self.http.before_next_post(before_send)
        try:
            with self._boundary("place a call", creates=True):
                return _record("call", self.client.calls.create(**kwargs))
        finally:
            self.http.before_next_post(None)
        raise AssertionError("unreachable")  # pragma: no cover

    def send_sms(
        self,
        *,
        to: str,
        from_: str,
        body: str,
        status_callback: str,
        validity_period: int,
        before_send: Callable[[], bool] | None = None,
    ) -> ProviderRecord:
        self.http.before_next_post(before_send)
        try:
            return self._send_sms(to, from_, body, status_callback, validity_period)
        finally:
            self.http.before_next_post(None)

    def _send_sms(
        self, to: str, from_: str, body: str, status_callback: str, validity_period: int
    ) -> ProviderRecord:
        with self._boundary("send an SMS", creates=True):
            msg = self.client.messages.create(
                to=to,
                from_=from_,
                body=body,
                status_callback=with_overrides(status_callback, STATUS_CALLBACK),
                validity_period=max(1, min(MAX_VALIDITY, validity_period)),
            )
            return _record("sms", msg)
        raise AssertionError("unreachable")  # pragma: no cover

    def warm_up(self, connections: int) -> None:
        """Open `connections` keep-alive connections at once (each fetches the account).

        Workers that first connect when their request is due reach Twilio late and bunched;
        pacing is measured by Twilio on arrival, so the pool is filled before the first batch.
        """
        from concurrent.futures import ThreadPoolExecutor

        def fetch(_: int) -> None:
            # A warm-up failure is no failure: that request will connect when it goes.
            with contextlib.suppress(TwilioException, requests.RequestException):
                self.client.api.v2010.accounts(self.account_sid).fetch()

        with ThreadPoolExecutor(max(1, connections)) as pool:
            list(pool.map(fetch, range(max(1, connections))))

    # -- look-ups (reconciliation) and control

    def find(
        self, kind: Kind, *, to: str, from_: str, created_after: datetime
    ) -> list[ProviderRecord]:
        """Calls/messages to `to` from `from_` created at or after `created_after`.

        No StartTime/DateSent filter is sent: Twilio's misses calls still queued. The list is
        filtered by creation time here instead.
        """
        with self._boundary(f"list {kind}s", creates=False):
            if kind == "call":
                items = self.client.calls.list(to=to, from_=from_, page_size=100, limit=1000)
            else:
                items = self.client.messages.list(to=to, from_=from_, page_size=100, limit=1000)
            found = [_record(kind, i) for i in items]
        return [r for r in found if r.created_at is None or r.created_at >= created_after]

    def fetch(self, kind: Kind, sid: str) -> ProviderRecord:
        with self._boundary(f"fetch {kind} {sid}", creates=False):
            if kind == "call":
                return _record("call", self.client.calls(sid).fetch())
            return _record("sms", self.client.messages(sid).fetch())
        raise AssertionError("unreachable")  # pragma: no cover

    def cancel_call(self, sid: str) -> bool:
        """Cancel a call still queued or ringing at Twilio; False when it was already past that."""
        try:
            with self._boundary(f"cancel call {sid}", creates=False):
                self.client.calls(sid).update(status="canceled")
        except PermanentTelephonyError:
            return False
        return True
