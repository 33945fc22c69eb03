"""The dispatcher: claim due attempts, pass each through the gate, pace, and call Twilio.

One `tick()` reaps expired leases (reconciling with Twilio first, so nobody is called twice),
schedules attempts for tasks that are due, claims what the pipe has room for with a lease,
re-checks the gate for each right before its request, and hands them to a small pool of workers
that share one pacer: the pipe stays full while the API is slow, never above the CPS. Results
are recorded in short transactions as they come back — at the end of the tick (`wait=True`,
tests and one-shot runs) or at the next tick (`wait=False`, `dialer run`), so the next batch is
claimed while the last one's slowest requests are still out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from dialer import attempt_status as statuses
from dialer import attempts as books
from dialer.calendars import sms_label
from dialer.clock import Clock
from dialer.controls import HaltFlag, halted, resume_all, stop_all
from dialer.dispatch_config import DispatchConfig, TickReport
from dialer.dispatch_jobs import Job, load_jobs
from dialer.errors import (
    PermanentTelephonyError,
    TelephonyConfigError,
    TelephonyError,
    TransientTelephonyError,
)
from dialer.gate import Decision, check
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    CustomerPhone,
    DoNotContact,
    TaskState,
)
from dialer.pacing import Limit, Pacer
from dialer.phones import mask_phone
from dialer.reconcile import Reconciler
from dialer.script_text import fill
from dialer.store import Store
from dialer.telephony.client import ProviderRecord, Telephony
from dialer.telephony.http import NotSentError

log = logging.getLogger(__name__)

Result = tuple[str, Any]


class Dispatcher:
    """One dispatching worker; several may share a PostgreSQL database (SKIP LOCKED claims)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        telephony: Telephony,
        config: DispatchConfig,
        *,
        crash_after_request: Callable[[int], None] | None = None,
    ) -> None:
        self.store, self.clock, self.telephony, self.config = store, clock, telephony, config
        self.book = books.CampaignBook()
        self.pacer = Pacer(clock)
        self.halt = HaltFlag(store, clock)
        self.reconciler = Reconciler(store, clock, telephony, self.book, config.placed_lease)
        self._crash_after_request = crash_after_request  # tests: die between API and record
        self._pool = ThreadPoolExecutor(max(1, config.max_in_flight), thread_name_prefix="dial")
        self._inflight: dict[Future[Result], Job] = {}
        self._stopping = threading.Event()
        self._warm = False

    def close(self) -> None:
        """Wait for the requests still out, record them, and stop the workers."""
        self.drain(TickReport())
        self._pool.shutdown(wait=True)

    def stop(self) -> None:
        """Start nothing new (SIGTERM); what is in flight finishes and is recorded."""
        self._stopping.set()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    # -- one tick

    def tick(self, *, wait: bool = True) -> TickReport:
        """Reap, schedule, claim what the pipe has room for, gate and send; record results."""
        report = TickReport()
        self._collect(report, block=False)
        with self.store.transaction() as session:
            self.book.refresh(session)
            halted_now = halted(session)
        report.reaped, report.adopted = self.reconciler.reap()
        if not (halted_now or self._stopping.is_set()):
            now = self.clock.now()
            with self.store.transaction() as session:
                sched = books.schedule_due(session, self.book, now, self.config.senders)
            report.scheduled, report.exhausted = sched.scheduled, sched.exhausted
            room = self._batch() - len(self._inflight)
            if room > 0:
                with self.store.transaction() as session:
                    ids = books.claim(
                        session,
                        self.config.worker_id,
                        self.clock.now(),
                        self.config.lease,
                        room,
                        order=self.config.claim_order,
                    )
                report.claimed = len(ids)
                if ids:
                    self._send(ids, report)
        if wait:
            self.drain(report)
        return report

    def drain(self, report: TickReport) -> TickReport:
        """Block until every request in flight is back and recorded."""
        while self._inflight:
            self._collect(report, block=True)
        return report

    def run_until_idle(self, max_ticks: int = 1000) -> TickReport:
        """Tick until nothing is due now and nothing is in flight (tests, one-shot runs)."""
        total = TickReport()
        for _ in range(max_ticks):
            r = self.tick(wait=True)
            total.add(r)
            if r.claimed == 0 and r.scheduled == 0 and r.exhausted == 0 and r.reaped == 0:
                break
        return total

    def next_call_in(self) -> float:
        """Seconds until the account's pacing lets the next call leave (0: now); books nothing.
        The fast-forward moves its clock there rather than letting a worker wait for it."""
        return self.pacer.wait_for([Limit("account:call", self.config.cps)])

    def _batch(self) -> int:
        """About ten seconds of paced work in the pipe, so no lease runs out while it waits."""
        rate = max(self.config.cps, self.config.mps)
        return max(1, min(self.config.claim_batch, int(rate * 10) or 1))

    def _send(self, ids: list[int], report: TickReport) -> None:
        with self.store.sessions() as session:
            jobs = load_jobs(session, ids, self.book, self.config, self.clock.now())
        if not self._warm and len(jobs) > 1:
            self.telephony.warm_up(min(len(jobs), self.config.max_in_flight))
            self._warm = True
        for job in jobs:
            decision = check(job.gate, self.clock.now())
            if decision.verdict != "go":
                self._not_now(job, decision, report)
                continue
            self._inflight[self._pool.submit(self._place, job, decision)] = job

    def _collect(self, report: TickReport, *, block: bool) -> None:
        """Record the requests that came back (waiting for at least one when `block`)."""
        if not self._inflight:
            return
        done, _ = wait(
            list(self._inflight), timeout=5.0 if block else 0, return_when=FIRST_COMPLETED
        )
        if not done:
            return
        placed: list[tuple[Job, ProviderRecord]] = []
        with self.store.transaction() as session:
            for fut in done:
                job = self._inflight.pop(fut)
                what, value = fut.result()
                if what == "placed":
                    placed.append((job, value))
                else:
                    self._record(session, job, (what, value), report)
            books.mark_placed_many(
                session,
                [(job.attempt_id, rec.sid, rec.status) for job, rec in placed],
                self.clock.now(),
                self.config.placed_lease,
            )
        report.placed += len(placed)
        if placed and self.halt(fresh=True):
            # The emergency stop came while these requests were in flight: cancel them too.
            for job, rec in placed:
                if job.channel != "sms":
                    self.telephony.cancel_call(rec.sid)

    # -- placing

    def _place(self, job: Job, decision: Decision) -> tuple[str, Any]:
        """In a worker: wait for a pacing slot, re-check the stop, make the request."""
        limits = self._limits(job)
        if not self._await_slot(limits):
            return "hold", "stopped before the request left"

        def last_check() -> bool:
            """Right before the bytes leave: no bunching after a stall, no stop in between."""
            while (left := self.pacer.confirm(limits)) > 0:
                self.clock.sleep(min(left, 0.25))
            return not (self.halt() or self._stopping.is_set())

        base = self.config.public_base_url.rstrip("/")
        try:
            if job.channel == "sms":
                record = self.telephony.send_sms(
                    to=job.to,
                    from_=job.from_,
                    body=self._sms_text(job),
                    status_callback=f"{base}/twilio/status/sms/{job.attempt_id}",
                    validity_period=int(
                        (decision.sms_validity or timedelta(hours=1)).total_seconds()
                    ),
                    before_send=last_check,
                )
            else:
                policy = job.spec.attempt_policy("voice")
                ring = int((policy.ring_timeout or timedelta(seconds=30)).total_seconds())
                record = self.telephony.place_call(
                    to=job.to,
                    from_=job.from_,
                    url=f"{base}/twilio/voice/{job.attempt_id}",
                    status_callback=f"{base}/twilio/status/call/{job.attempt_id}",
                    ring_timeout=ring,
                    time_limit=max(60, int(job.spec.handle_time.total_seconds() * 2)),
                    machine_detection=self.config.machine_detection,
                    before_send=last_check,
                )
        except NotSentError:
            return "hold", "stopped before the request left"
        except TransientTelephonyError as exc:
            if exc.status == 429 or exc.code == 20429:
                for lim in limits:
                    self.pacer.throttled(lim.key, exc.retry_after)
            return "transient", exc
        except TelephonyError as exc:
            return "error", exc
        for lim in limits:
            self.pacer.succeeded(lim.key)
        if self._crash_after_request is not None:
            self._crash_after_request(job.attempt_id)
        return "placed", record

    def _await_slot(self, limits: list[Limit]) -> bool:
        """Book an evenly spaced pacing slot and sleep until it; False if stopped meanwhile."""
        while True:
            if self.halt() or self._stopping.is_set():
                return False
            due = self.clock.monotonic() + self.pacer.take(limits)
            while (left := due - self.clock.monotonic()) > 0:
                self.clock.sleep(min(left, 0.25))
                if self.halt() or self._stopping.is_set():
                    return False
            if self.pacer.blocked_for(limits) <= 0:
                return True  # (a 429 while this slot waited blocks the key: book a new slot)

    def _limits(self, job: Job) -> list[Limit]:
        if job.channel == "sms":
            return [
                Limit("account:sms", self.config.mps),
                Limit(f"sms:{job.from_}", self.config.mps),
            ]
        per_sender = self.config.sender_cps or self.config.cps
        return [Limit("account:call", self.config.cps), Limit(f"call:{job.from_}", per_sender)]

    def _sms_text(self, job: Job) -> str:
        _, script = job.spec.script_for(job.language)
        text = script.sms.text if script.sms else (script.message or script.opening)
        body = fill(text, job.values)
        label = sms_label(job.gate.who.region, job.spec.purpose)
        return f"{label}{body}" if label and not body.startswith(label) else body

    # -- recording

    def _not_now(self, job: Job, decision: Decision, report: TickReport) -> None:
        now = self.clock.now()
        report.reasons[decision.reason] += 1
        with self.store.transaction() as session:
            if decision.verdict in ("defer", "hold"):
                books.release(session, job.attempt_id, decision.until or now, decision.reason)
                if decision.verdict == "defer":
                    report.deferred += 1
                else:
                    report.held += 1
                return
            books.fail_attempt(
                session,
                job.attempt_id,
                now,
                code=None,
                message=decision.reason,
                state=AttemptState.CANCELLED,
            )
            report.cancelled += 1
            if decision.outcome is not None or job.gate.campaign_status == "stopped":
                state = (
                    TaskState.CANCELLED
                    if job.gate.campaign_status == "stopped"
                    else TaskState.NOT_CONTACTABLE
                )
                session.execute(
                    update(CallbackTask)
                    .where(CallbackTask.id == job.task_id)
                    .values(
                        state=state, outcome=decision.outcome, next_attempt_at=None, updated_at=now
                    )
                )
            else:  # this number/channel cannot be used: let the next choice fall back
                session.execute(
                    update(CallbackTask)
                    .where(CallbackTask.id == job.task_id, CallbackTask.next_attempt_at.is_(None))
                    .values(next_attempt_at=now, updated_at=now)
                )

    def _record(self, session: Session, job: Job, result: tuple[str, Any], r: TickReport) -> None:
        now = self.clock.now()
        what, value = result
        if what == "hold":
            books.release(session, job.attempt_id, now, value)
            r.held += 1
            return
        if isinstance(value, TransientTelephonyError):
            if value.ambiguous:
                # The call may exist, or may still be created by a slow Twilio: adopt it if it
                # is listed already; otherwise keep the claim and let the reaper look again when
                # the lease runs out, before anything is dialled again.
                if self._adopt_if_placed(session, job):
                    r.adopted += 1
                else:
                    books.keep_claim(session, job.attempt_id, now + self.config.lease, str(value))
                    r.retried += 1
                return
            books.release(session, job.attempt_id, now + timedelta(seconds=30), str(value))
            r.retried += 1
            return
        if isinstance(value, TelephonyConfigError):
            books.release(session, job.attempt_id, now + timedelta(minutes=5), str(value))
            r.held += 1
            log.error("dispatch paused for this attempt: %s", value)
            return
        exc: TelephonyError = value
        books.fail_attempt(session, job.attempt_id, now, code=exc.code, message=str(exc))
        r.failed += 1
        if isinstance(exc, PermanentTelephonyError):
            self._number_failed(session, job, exc, now)
        task = session.get(CallbackTask, job.task_id)
        attempt = session.get(Attempt, job.attempt_id)
        if task is not None and attempt is not None:
            statuses.follow_up(session, self.book, task, attempt, now)
        log.info("attempt %s to %s failed: %s", job.attempt_id, mask_phone(job.to), exc)

    def _number_failed(
        self, session: Session, job: Job, exc: PermanentTelephonyError, now: datetime
    ) -> None:
        """A permanent number error marks that number unusable for that channel (an opt-out: DNC)."""
        if exc.opted_out:
            session.add(
                DoNotContact(
                    e164=job.to,
                    channel="sms",
                    scope="all",
                    reason=f"carrier opt-out (Twilio {exc.code})",
                    source="twilio",
                    created_at=now,
                )
            )
        flag = {"sms_ok": False} if job.channel == "sms" else {"voice_ok": False}
        session.execute(
            update(CustomerPhone)
            .where(CustomerPhone.e164 == job.to)
            .values(unusable_reason=f"Twilio {exc.code}: {exc}"[:200], **flag)
        )

    def _adopt_if_placed(self, session: Session, job: Job) -> bool:
        """After an ambiguous failure: did the request go through after all? Adopt it if so."""
        try:
            found = self.reconciler.find(job.channel, job.to, job.from_, job.claimed_at)
        except TelephonyError:
            return False
        return self.reconciler.adopt_first_unowned(session, job.attempt_id, found)


__all__ = ["DispatchConfig", "Dispatcher", "TickReport", "resume_all", "stop_all"]
