"""The sandbox's engine: a time-ordered event queue on the injected clock, and signed webhooks.

Events are plain callables due at a virtual time; `pump` runs those due at `clock.now()`, so a
test moves a SettableClock and pumps, and the real-time mode pumps from a thread. An event runs
"at" its due time (World.now()), so a late pump or a clock jump never stretches the timeline:
what follows an event is scheduled from when it was due, not from when it happened to run. Webhooks are
real HTTP requests signed like Twilio's (`X-Twilio-Signature`), made outside any state lock,
to the URL without its fragment (the connection overrides, `dialer.telephony.overrides`, which
say how a failed one is retried: status callbacks later on the clock, TwiML fetches at once).
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
from functools import partial
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from dialer.clock import Clock
from dialer.telephony.overrides import Overrides
from dialer.telephony.overrides import parse as parse_overrides
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
    """The application's webhook failed (unreachable, non-2xx, timeout): Twilio error 11200.

    `failure` names it as a retry policy does: "ct", "rt", "4xx" or "5xx".
    """

    def __init__(self, message: str, failure: str) -> None:
        super().__init__(message)
        self.failure = failure

    def cost(self, overrides: Overrides) -> int:
        """Virtual milliseconds the failed try took: the timeout that ran out, or (an answer
        came, or the connection was refused at once) ANSWERED_TRY_MS."""
        if self.failure == "ct":
            return overrides.ct
        if self.failure == "rt":
            return overrides.rt
        return ANSWERED_TRY_MS


# The sandbox charges a try that failed without a timeout this long before the next one goes:
# Twilio does not document its spacing; a second keeps `tt` meaningful on a settable clock.
ANSWERED_TRY_MS = 1_000
Schedule = Callable[[float, Event], None]


class Webhooks:
    """Signed requests to the application, with the callback faults (drop, duplicate, reorder)."""

    def __init__(self, auth_token: str, faults: FaultState, timeout: float = 10.0) -> None:
        self.validator = RequestValidator(auth_token)
        self.faults = faults
        self.timeout = timeout
        self.http = Client(timeout)
        self._held: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
        self._lock = threading.Lock()
        # Runs an event `delay` virtual seconds from the running one's time (the World sets
        # it): status callback retries wait on the clock, never in a sleep.
        self.schedule: Schedule | None = None
        self.retried: Counter[str] = Counter()  # retries made, by failure
        self.given_up = 0  # status callbacks that failed every try

    def request(self, url: str, method: str, params: dict[str, str]) -> Answer:
        """One signed request, retried at once as the URL's connection overrides say (a TwiML
        fetch: the call waits for it); raises WebhookError unless an answer is 2xx."""
        base, overrides = parse_overrides(url)
        tries, spent = 0, 0
        while True:
            try:
                return self._once(base, method, params, overrides)
            except WebhookError as exc:
                spent += exc.cost(overrides)
                if not self._retry(exc, overrides, tries, spent):
                    raise
                tries += 1

    def _retry(self, exc: WebhookError, overrides: Overrides, tries: int, spent: int) -> bool:
        """Whether a try that failed so is retried: allowed by `rp`, under `rc`, inside `tt`."""
        go = overrides.retries_on(exc.failure) and tries < overrides.rc and spent < overrides.tt
        if go:
            self.retried[exc.failure] += 1
        return go

    def _once(self, url: str, method: str, params: dict[str, str], overrides: Overrides) -> Answer:
        """One signed try at `url` (fragment-less: what Twilio requests and signs)."""
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
        # A try waits at most `rt` (and never past what is left of `tt`) for the answer.
        wait = min(self.timeout, overrides.rt / 1000, overrides.tt / 1000)
        try:
            answer = self.http.request(method, url, body, headers, timeout=wait)
        except HttpError as exc:
            raise WebhookError(f"{method} {url} failed: {exc}", exc.failure) from exc
        if not 200 <= answer.status < 300:
            failure = "4xx" if 400 <= answer.status < 500 else "5xx"
            raise WebhookError(f"{method} {url} answered HTTP {answer.status}", failure)
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
        base, overrides = parse_overrides(url)
        self._deliver(base, overrides, method, params, 0, 0)

    def _deliver(
        self,
        url: str,
        overrides: Overrides,
        method: str,
        params: dict[str, str],
        tries: int,
        spent: int,
    ) -> None:
        """One try of a status callback; a failed one is retried later on the clock, as the
        URL's overrides say (Twilio's defaults: one retry on connect failures and timeouts)."""
        try:
            self._once(url, method, params, overrides)
            return
        except WebhookError as exc:
            cost = exc.cost(overrides)
            if not self._retry(exc, overrides, tries, spent + cost):
                self.given_up += 1
                log.warning("sandbox: status callback not delivered: %s", exc)
                return
        again = partial(self._deliver, url, overrides, method, params, tries + 1, spent + cost)
        if self.schedule is None:
            again()
        else:
            self.schedule(cost / 1000, again)

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
        webhooks.schedule = self._after

    def _after(self, delay: float, event: Event) -> None:
        """Run `event` `delay` seconds after the running event's time (or now)."""
        self.scheduler.at(self.now() + timedelta(seconds=delay), event)

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
