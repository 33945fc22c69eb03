"""The sandbox's engine: a time-ordered event queue on the injected clock, and signed webhooks.

Events are plain callables due at a virtual time; `pump` runs those due at `clock.now()`, so a
test moves a SettableClock and pumps, and the real-time mode pumps from a thread. An event runs
"at" its due time (World.now()), so a late pump or a clock jump never stretches the timeline:
what follows an event is scheduled from when it was due, not from when it happened to run. Webhooks are
real HTTP requests signed like Twilio's (`X-Twilio-Signature`), made outside any state lock.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from dialer.clock import Clock
from dialer.telephony.sandbox.behaviour import (
    Behaviour,
    FaultState,
    Person,
    draw_call_person,
    draw_sms_person,
)
from dialer.telephony.sandbox.http_out import Answer, Client, HttpError

log = logging.getLogger("dialer.sandbox")
Event = Callable[[], None]


class Scheduler:
    """A thread-safe heap of (due time, insertion order, event)."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Event]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()

    def at(self, when: datetime, event: Event) -> None:
        with self._lock:
            heapq.heappush(self._heap, (when, next(self._order), event))

    def pop_due(self, now: datetime) -> tuple[datetime, Event] | None:
        with self._lock:
            if self._heap and self._heap[0][0] <= now:
                at, _, event = heapq.heappop(self._heap)
                return at, event
            return None

    def next_at(self) -> datetime | None:
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)


class WebhookError(Exception):
    """The application's webhook failed (unreachable, non-2xx, timeout): Twilio error 11200."""


class Webhooks:
    """Signed requests to the application, with the callback faults (drop, duplicate, reorder)."""

    def __init__(self, auth_token: str, faults: FaultState, timeout: float = 10.0) -> None:
        self.validator = RequestValidator(auth_token)
        self.faults = faults
        self.timeout = timeout
        self.http = Client(timeout)
        self._held: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
        self._lock = threading.Lock()

    def request(self, url: str, method: str, params: dict[str, str]) -> Answer:
        """One signed request; raises WebhookError unless the answer is 2xx."""
        method = method.upper()
        if method == "GET":
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}{urlencode(params)}" if params else url
            body: bytes | None = None
            signature = self.validator.compute_signature(url, {})
        else:
            method, body = "POST", urlencode(params).encode()
            signature = self.validator.compute_signature(url, params)
        token = hashlib.sha256(repr((url, sorted(params.items()))).encode()).hexdigest()[:32]
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": token,  # the same for a duplicated delivery
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
        }
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            answer = self.http.request(method, url, body, headers)
        except HttpError as exc:
            raise WebhookError(f"{method} {url} failed: {exc}") from exc
        if not 200 <= answer.status < 300:
            raise WebhookError(f"{method} {url} answered HTTP {answer.status}")
        return answer

    def fetch_twiml(self, url: str, method: str, params: dict[str, str]) -> str:
        return self.request(url, method, params).text

    def callback(
        self, key: str, url: str, method: str, params: dict[str, str], *, last: bool = False
    ) -> None:
        """A status callback, through the fault dice: maybe dropped, duplicated or held back.

        A held-back callback is delivered right after the next one for the same `key` (call or
        message SID), which is what "reordered" looks like to the application.
        """
        with self._lock:
            f = self.faults.faults
            rng = self.faults.rng
            if f.drop_callbacks and rng.random() < f.drop_callbacks:
                log.info("sandbox: dropped callback %s %s", key, params.get("CallStatus", ""))
                self.faults.injected["dropped"] += 1
                return
            copies = 2 if f.duplicate_callbacks and rng.random() < f.duplicate_callbacks else 1
            if copies == 2:
                self.faults.injected["duplicated"] += 1
            held = self._held.pop(key, [])
            if not held and not last and f.reorder_callbacks and rng.random() < f.reorder_callbacks:
                self._held[key] = [(url, method, params)] * copies
                self.faults.injected["reordered"] += 1
                return
        for _ in range(copies):
            self._send(url, method, params)
        for h_url, h_method, h_params in held:
            self._send(h_url, h_method, h_params)

    def _send(self, url: str, method: str, params: dict[str, str]) -> None:
        try:
            self.request(url, method, params)
        except WebhookError as exc:
            log.warning("sandbox: status callback not delivered: %s", exc)

    def close(self) -> None:
        self.http.close()


class World:
    """What the call and message simulators share: clock, population, queue, webhooks, one lock."""

    def __init__(
        self,
        clock: Clock,
        behaviour: Behaviour,
        *,
        seed: int,
        speed: float,
        account_sid: str,
        webhooks: Webhooks,
    ) -> None:
        self.clock = clock
        self.behaviour = behaviour
        self.seed = seed
        self.speed = speed
        self.account_sid = account_sid
        self.webhooks = webhooks
        self.scheduler = Scheduler()
        self.lock = threading.RLock()
        self.persons: dict[str, Person] = {}
        self._nth: Counter[tuple[str, str]] = Counter()
        self._previous_request: dict[str, datetime] = {}  # per send queue
        self._running = threading.local()

    def now(self) -> datetime:
        """The virtual time of the event being run (so a late pump keeps the timeline), else now."""
        at: datetime | None = getattr(self._running, "at", None)
        return at if at is not None else self.clock.now()

    def run(self, at: datetime, event: Event) -> None:
        """Run one event as if at its due time `at`."""
        self._running.at = at
        try:
            event()
        finally:
            self._running.at = None

    def queue_after_jump(
        self, queue: str, last_start: datetime | None, now: datetime
    ) -> datetime | None:
        """A send queue's last slot, moved back with the clock when the clock went back.

        Twilio's queue holds a call for as long as the calls before it take, whatever our
        clock says: after the shared test clock is set back an hour, the queue must not keep
        the next call for that hour. (Call under the world's lock.)
        """
        previous = self._previous_request.get(queue)
        self._previous_request[queue] = now
        if last_start is not None and previous is not None and now < previous:
            return last_start - (previous - now)
        return last_start

    def later(self, seconds: float) -> datetime:
        """When a simulated duration starting now ends (durations run `speed` times faster)."""
        return self.now() + timedelta(seconds=seconds / self.speed)

    def person_for(self, channel: str, number: str) -> Person:
        """The person behind `number` for this contact: an override, or a fresh default draw."""
        with self.lock:
            nth = self._nth[(channel, number)]
            self._nth[(channel, number)] = nth + 1
            override = self.persons.get(number)
        if override is not None:
            return override
        if channel == "call":
            return draw_call_person(self.behaviour, self.seed, number, nth)
        return draw_sms_person(self.behaviour, self.seed, number, nth)
