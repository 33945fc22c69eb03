"""The Sandbox: one simulated Twilio account — its calls, messages, customers, faults and log."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dialer.clock import Clock
from dialer.telephony.sandbox.behaviour import (
    Behaviour,
    CallKind,
    Faults,
    FaultState,
    ForcedFailure,
    Person,
    SmsDelivery,
)
from dialer.telephony.sandbox.calls import Calls
from dialer.telephony.sandbox.core import Webhooks, World
from dialer.telephony.sandbox.errors import ApiError, server_error, too_many
from dialer.telephony.sandbox.messages import Messages
from dialer.telephony.sandbox.resources import Contact


class Sandbox:
    """A Twilio account simulated on an injected clock; serve it over HTTP with SandboxServer.

    Nothing happens by itself: `pump()` runs the events due at `clock.now()` (a test advances
    its SettableClock and pumps), or `run_in_background()` pumps from a thread in real time.
    """

    def __init__(
        self,
        clock: Clock,
        behaviour: Behaviour | None = None,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        seed: int = 0,
        cps: float = 1.0,
        mps: float = 10.0,
        speed: float = 1.0,
        inbound_sms_url: str | None = None,
        webhook_timeout: float = 10.0,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.clock = clock
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self._faults = FaultState()
        self._faults.rng.seed(f"{seed}:faults")
        self.webhooks = Webhooks(self.auth_token, self._faults, timeout=webhook_timeout)
        self.world = World(
            clock,
            behaviour or Behaviour(),
            seed=seed,
            speed=speed,
            account_sid=self.account_sid,
            webhooks=self.webhooks,
        )
        self.calls = Calls(self.world, cps)
        self.messages = Messages(self.world, mps, inbound_sms_url)
        self._requests: dict[tuple[str, str], list[datetime]] = {}
        self._pump_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- configuration ---

    @property
    def behaviour(self) -> Behaviour:
        return self.world.behaviour

    @property
    def faults(self) -> Faults:
        """The live fault rates; assign fields (`sb.faults.rate_429 = 0.5`) to change them."""
        return self._faults.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self.world.lock:
            self._faults.faults = faults

    @property
    def inbound_sms_url(self) -> str | None:
        return self.messages.inbound_sms_url

    @inbound_sms_url.setter
    def inbound_sms_url(self, url: str | None) -> None:
        self.messages.inbound_sms_url = url

    def person(
        self,
        e164: str,
        kind: CallKind = "human",
        digits: Iterable[str] = ("1", "1"),
        sms_reply: str | None = None,
        *,
        sms_delivery: SmsDelivery = "delivered",
        ring_seconds: float = 5.0,
        then: str = "",
    ) -> Person:
        """Make `e164` behave exactly like this on every call and SMS (instead of random draws)."""
        p = Person(kind, tuple(digits), sms_reply, sms_delivery, ring_seconds, then)
        with self.world.lock:
            self.world.persons[e164] = p
        return p

    def fail_next(self, n: int = 1, status: int = 429, retry_after: float | None = None) -> None:
        """The next `n` API requests fail with `status` (429 → 20429, 5xx → 20500)."""
        if status != 429 and not 500 <= status <= 599:
            raise ValueError(f"fail_next takes 429 or a 5xx status, got {status}")
        with self.world.lock:
            self._faults.forced.extend(ForcedFailure(status, retry_after) for _ in range(n))

    # --- the API side (called by the HTTP app) ---

    def check_auth(self, user: str, password: str) -> bool:
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    def arrived(self, method: str, resource: str) -> None:
        """Record an API request's arrival time (before any latency), for pacing measurements."""
        now = self.clock.now()
        with self.world.lock:
            self._requests.setdefault((method, resource), []).append(now)

    def injected_fault(self) -> ApiError | None:
        """The fault (forced or rolled) this request gets, if any."""
        with self.world.lock:
            state = self._faults
            status: int | None = None
            retry_after = state.faults.retry_after
            if state.forced:
                forced = state.forced.pop(0)
                status, retry_after = forced.status, forced.retry_after
            else:
                f, rng = state.faults, state.rng
                if f.rate_429 and rng.random() < f.rate_429:
                    status = 429
                elif f.rate_500 and rng.random() < f.rate_500:
                    status = 500
                elif f.rate_503 and rng.random() < f.rate_503:
                    status = 503
            if status is None:
                return None
            state.injected[str(status)] += 1
        return too_many(retry_after) if status == 429 else server_error(status)

    def fault_counts(self) -> dict[str, int]:
        """Faults injected so far: "429", "500", "503" (API answers), "dropped", "duplicated",
        "reordered" (status callbacks); for a test's figures."""
        with self.world.lock:
            return dict(self._faults.injected)

    @property
    def requests(self) -> dict[tuple[str, str], list[datetime]]:
        """API request arrival times (clock time, before any latency) by (method, resource).

        Resources: "calls" / "messages" (create, list), "call" / "message" (fetch, update),
        "other"; e.g. `len(sb.requests[("POST", "calls")])` is how many calls.create arrived,
        refused ones (401, 429, test numbers) included.
        """
        with self.world.lock:
            return {k: list(v) for k, v in self._requests.items()}

    # --- running the simulation ---

    def pump(self) -> int:
        """Run every event due at `clock.now()`, in time order; returns how many ran."""
        done = 0
        with self._pump_lock:
            while (due := self.world.scheduler.pop_due(self.clock.now())) is not None:
                self.world.run(*due)
                done += 1
        return done

    def next_event_at(self) -> datetime | None:
        return self.world.scheduler.next_at()

    def run_in_background(self, interval: float = 0.02) -> None:
        """Pump from a daemon thread every `interval` seconds (real-time mode, SystemClock)."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                self.pump()

        self._thread = threading.Thread(target=loop, name="sandbox-pump", daemon=True)
        self._thread.start()

    def stop_background(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=10)

    def close(self) -> None:
        self.stop_background()
        self.webhooks.close()

    # --- the log ---

    def contacts(self, to: str | None = None, kind: str | None = None) -> list[Contact]:
        """Every call ("call") and SMS ("sms") placed, oldest first: who, when it rang, outcome."""
        with self.world.lock:
            out = (
                []
                if kind not in (None, "call")
                else [c.contact() for c in self.calls.records.values() if to is None or c.to == to]
            )
            if kind in (None, "sms"):
                out += [
                    m.contact()
                    for m in self.messages.records.values()
                    if m.direction != "inbound" and (to is None or m.to == to)
                ]
        out.sort(key=lambda c: (c.requested_at, c.kind))
        return out

    def log_json(self) -> dict[str, Any]:
        """What GET /sandbox/log.json answers: the contacts and the API request arrival times."""
        return {
            "account_sid": self.account_sid,
            "now": self.clock.now().isoformat(),
            "contacts": [c.as_json() for c in self.contacts()],
            "requests": [
                {
                    "method": m,
                    "resource": r,
                    "count": len(ts),
                    "arrivals": [t.isoformat() for t in ts],
                }
                for (m, r), ts in sorted(self.requests.items())
            ],
        }
