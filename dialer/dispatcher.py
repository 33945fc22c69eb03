"""The dispatcher: claim due attempts, pass each through the gate, pace, and call Twilio.

One `tick()` reaps expired leases (reconciling with Twilio first, so nobody is called twice),
schedules attempts for tasks that are due, claims what the pipe has room for with a lease,
re-checks the gate for each right before its request, and hands them to a small pool of workers
that share one pacer: the pipe stays full while the API is slow, never above the CPS. Results
are recorded in short transactions as they come back — at the end of the tick (`wait=True`,
tests and one-shot runs) or at the next tick (`wait=False`, `dialer run`), in the transaction
that claims the next batch, so the next batch is claimed while the last one's slowest requests
are still out, with one commit per batch.
"""

from __future__ import annotations

import logging
import os
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
from dialer.fleet_pacing import FleetPacer
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
from dialer.telephony.client import Telephony
from dialer.telephony.http import NotSentError

log = logging.getLogger(__name__)

Result = tuple[str, Any]
CRASH_AFTER_SDK_RETURN = "after_sdk_return"  # DIALER_CRASH_POINT: the fault tests' crash point
LEASE_USABLE = 0.8  # a claim is sent only in the first 80% of its lease: the rest is margin
CRASHED = 70  # the exit status of a process that died at the crash point


def _die(attempt_id: int) -> None:
    """The crash point: the SDK has returned, nothing is recorded yet; die like `kill -9`."""
    log.warning("DIALER_CRASH_POINT: dying after attempt %s was placed", attempt_id)
    os._exit(CRASHED)


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
        self.pacer: Pacer | FleetPacer = (
            FleetPacer(store, clock) if config.fleet_pacing else Pacer(clock)
        )
        self.halt = HaltFlag(store, clock)
        self.reconciler = Reconciler(store, clock, telephony, self.book, config.settling)
        if crash_after_request is None and config.crash_point == CRASH_AFTER_SDK_RETURN:
            crash_after_request = _die
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
        """Reap, schedule, claim what the pipe has room for, gate and send; record results.

        The results that came back since the last tick are recorded in the same transaction as
        the next claim: one commit (one WAL flush) per batch instead of two, which is what a
        busy dispatcher's database waits on. Until that commit neither is in the books, as if
        the process had died right after the SDK returned: the reaper reconciles such claims
        with Twilio before anything is dialled again.
        """
        report = TickReport()
        back = self._back(block=False)  # recorded below, with the claim
        halted_now = self.store.retrying(self._refresh)
        holding = {self._inflight[f].attempt_id for f in back}
        report.reaped, report.adopted = self.reconciler.reap(holding=holding)
        room = 0
        if not (halted_now or self._stopping.is_set()):
            now = self.clock.now()
            sched = self.store.retrying(
                lambda s: books.schedule_due(s, self.book, now, self.config.senders)
            )
            report.scheduled, report.exhausted = sched.scheduled, sched.exhausted
            room = self._batch() - (len(self._inflight) - len(back))
        ids = self._record(back, report, claim=max(0, room))
        report.claimed = len(ids)
        if ids:
            self._send(ids, report)
        if wait:
            self.drain(report)
        return report

    def _refresh(self, session: Session) -> bool:
        """Read the campaigns' statuses and the emergency stop; True when it is on."""
        self.book.refresh(session)
        return halted(session)

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
        """About ten seconds of paced work in the pipe (at most a quarter of the lease), so no
        lease runs out while it waits; in a fleet sharing the rate a claim that would send too
        late is not sent (`LEASE_USABLE`) and is reaped."""
        rate = max(self.config.cps, self.config.mps)
        seconds = min(10.0, self.config.lease.total_seconds() / 4)
        return max(1, min(self.config.claim_batch, int(rate * seconds) or 1))

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

    def _back(self, *, block: bool) -> set[Future[Result]]:
        """The requests that came back (waiting up to 5 s for at least one when `block`)."""
        if not self._inflight:
            return set()
        done, _ = wait(
            list(self._inflight), timeout=5.0 if block else 0, return_when=FIRST_COMPLETED
        )
        return done

    def _collect(self, report: TickReport, *, block: bool) -> None:
        """Record the requests that came back (waiting for at least one when `block`)."""
        self._record(self._back(block=block), report, claim=0)

    def _record(self, done: set[Future[Result]], report: TickReport, *, claim: int) -> list[int]:
        """Record these requests' results and claim up to `claim` attempts, in one transaction.

        Run again on a fresh connection if the database dropped it, but without the claim: a
        claim whose commit was lost on the way is not retried into a second one (its rows stay
        claimed, unsent, until the reaper releases them); the recording is idempotent.
        """
        if not done and claim <= 0:
            return []
        results: list[tuple[Job, Result]] = []
        for fut in done:
            if fut.exception() is not None:
                self._inflight.pop(fut)
                fut.result()  # a crash in a worker: raised here; the reaper reconciles the claim
            results.append((self._inflight[fut], fut.result()))
        placed = [(job, *value) for job, (what, value) in results if what == "placed"]
        tries: list[TickReport] = []

        def record(session: Session) -> list[int]:
            tries.append(counted := TickReport())  # the counts of the try that commits
            # The claim first: the rows recorded below are locked (status callbacks for them
            # wait) only from their update to the commit, not during the claim too.
            ids = []
            if claim > 0 and len(tries) == 1:
                ids = books.claim(
                    session,
                    self.config.worker_id,
                    self.clock.now(),
                    self.config.lease,
                    claim,
                    order=self.config.claim_order,
                )
            for job, result in results:
                if result[0] != "placed":
                    self._record_one(session, job, result, counted)
            now = self.clock.now()
            books.mark_placed_many(
                session,
                [(job.attempt_id, rec.sid, rec.status, now + life) for job, rec, life in placed],
                now,
            )
            return ids

        # The results leave the pipe only once they are recorded: if the database cannot take
        # them now, the next tick records them (and the calls they placed are not lost).
        ids = self.store.retrying(record)
        for fut in done:
            self._inflight.pop(fut)
        report.add(tries[-1])
        report.placed += len(placed)
        if placed and self.halt(fresh=True):
            # The emergency stop came while these requests were in flight: cancel them too.
            for job, rec, _ in placed:
                if job.channel != "sms":
                    self.telephony.cancel_call(rec.sid)
        return ids

    # -- placing

    def _place(self, job: Job, decision: Decision) -> tuple[str, Any]:
        """In a worker: wait for a pacing slot, re-check the stop, make the request."""
        limits = self._limits(job)
        if not self._await_slot(limits):
            return "hold", "stopped before the request left"
        lapsed = False

        late: list[Decision] = []  # the gate's word if it closed at the last moment

        def last_check() -> bool:
            """Right before the bytes leave: no bunching after a stall, no stop in between, and
            the claim still ours (a lease near its end may be reaped by another dispatcher), and
            the window still open (the clock may have moved on, or jumped, since the gate)."""
            nonlocal lapsed
            while (left := self.pacer.confirm(limits)) > 0:
                self.clock.sleep(min(left, 0.25))
            lapsed = self.clock.now() >= job.claimed_at + self.config.lease * LEASE_USABLE
            if lapsed or self.halt() or self._stopping.is_set():
                return False
            again = check(job.gate, self.clock.now())
            if again.verdict != "go":
                late.append(again)
            return again.verdict == "go"

        base = self.config.public_base_url.rstrip("/")
        settling = self.config.settling
        try:
            if job.channel == "sms":
                validity = int((decision.sms_validity or timedelta(hours=1)).total_seconds())
                record = self.telephony.send_sms(
                    to=job.to,
                    from_=job.from_,
                    body=self._sms_text(job),
                    status_callback=f"{base}/twilio/status/sms/{job.attempt_id}",
                    validity_period=validity,
                    before_send=last_check,
                )
                placed = self.clock.now()
                life = settling.sms_check(placed, timedelta(seconds=validity)) - placed
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
                placed = self.clock.now()
                life = (
                    settling.call_check(placed, self._queueing(), timedelta(seconds=ring)) - placed
                )
        except NotSentError:
            if lapsed:
                return "lapsed", "the claim's lease ran out before the request left"
            return "hold", late[0] if late else "stopped before the request left"
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
        return "placed", (record, life)

    def _queueing(self) -> timedelta:
        """How long a call may wait in Twilio's queue: at most the pipe's worth at the CPS (the
        dispatcher paces its requests at the CPS, so Twilio's queue holds no more than that)."""
        return timedelta(seconds=self.config.max_in_flight / self.config.cps)

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
        if script.sms is None:
            text = script.message or script.opening
        else:
            text = (job.after_complaint and script.sms.after_complaint) or script.sms.text
        body = fill(text, job.values)
        label = sms_label(job.gate.who.region, job.spec.purpose)
        return f"{label}{body}" if label and not body.startswith(label) else body

    # -- recording

    def _not_now(self, job: Job, decision: Decision, report: TickReport) -> None:
        now = self.clock.now()
        report.reasons[decision.reason] += 1
        # One transaction, run again on a fresh connection if the database dropped it.
        self.store.retrying(lambda session: self._put_off(session, job, decision, now))
        if decision.verdict == "defer":
            report.deferred += 1
        elif decision.verdict == "hold":
            report.held += 1
        else:
            report.cancelled += 1

    def _put_off(self, session: Session, job: Job, decision: Decision, now: datetime) -> None:
        if decision.verdict in ("defer", "hold"):
            books.release(session, job.attempt_id, decision.until or now, decision.reason)
            return
        books.fail_attempt(
            session,
            job.attempt_id,
            now,
            code=None,
            message=decision.reason,
            state=AttemptState.CANCELLED,
        )
        if decision.outcome is not None or job.gate.campaign_status == "stopped":
            state = (
                TaskState.CANCELLED
                if job.gate.campaign_status == "stopped"
                else TaskState.NOT_CONTACTABLE
            )
            session.execute(
                update(CallbackTask)
                .where(CallbackTask.id == job.task_id)
                .values(state=state, outcome=decision.outcome, next_attempt_at=None, updated_at=now)
            )
        else:  # this number/channel cannot be used: let the next choice fall back
            session.execute(
                update(CallbackTask)
                .where(CallbackTask.id == job.task_id, CallbackTask.next_attempt_at.is_(None))
                .values(next_attempt_at=now, updated_at=now)
            )

    def _record_one(
        self, session: Session, job: Job, result: tuple[str, Any], r: TickReport
    ) -> None:
        now = self.clock.now()
        what, value = result
        if what == "lapsed":  # not sent; the reaper gives it back once the lease has expired
            r.held += 1
            return
        if what == "hold":
            if isinstance(value, Decision):  # the gate closed at the last moment: its reason
                books.release(session, job.attempt_id, value.until or now, value.reason)
            else:
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
