"""The dispatcher: claim due attempts, pass each through the gate, pace, and call Twilio.

One `tick()` reaps expired leases (reconciling with Twilio first, so nobody is called twice),
schedules attempts for tasks that are due, claims a batch with a lease, re-checks the gate for
each right before its request, and places the calls and SMS through a small pool of workers that
share one pacer (so the pipe stays full while the API is slow, never above the CPS). Results are
recorded in short transactions as they come back. A crash between the API call and the record
leaves a claimed attempt whose lease runs out; the reaper then lists the provider's calls to that
number from that sender created after the claim and adopts what it finds instead of dialling.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dialer import attempts as books
from dialer.calendars import sms_label
from dialer.campaigns import CampaignSpec
from dialer.clock import Clock
from dialer.errors import (
    PermanentTelephonyError,
    TelephonyConfigError,
    TelephonyError,
    TransientTelephonyError,
)
from dialer.gate import Decision, GateInput, check
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Control,
    Customer,
    CustomerPhone,
    DoNotContact,
    ServiceEvent,
    TaskState,
)
from dialer.pacing import Limit, Pacer
from dialer.phones import mask_phone
from dialer.planner import _reachee
from dialer.script_text import fill
from dialer.store import Store
from dialer.telephony.client import ProviderRecord, Telephony

log = logging.getLogger(__name__)

HALT_KEY = "halt"
HALT_REFRESH = 0.5  # seconds: an emergency stop reaches every worker within a second


@dataclass(frozen=True)
class DispatchConfig:
    """How one dispatcher behaves; built from Settings and the command line."""

    worker_id: str
    public_base_url: str
    senders: Mapping[str, str] = field(default_factory=dict)
    cps: float = 1.0  # calls per second for the account (Twilio's default is 1)
    mps: float = 10.0  # messages per second
    sender_cps: float | None = None  # per caller ID; defaults to the account's
    max_in_flight: int = 16
    claim_batch: int = 100
    lease: timedelta = timedelta(minutes=2)
    placed_lease: timedelta = timedelta(minutes=15)
    contact_cap: int = 3  # contacts per customer in any 24 hours, across channels and campaigns
    min_gap: timedelta = timedelta(minutes=30)
    machine_detection: bool = True
    company: str = ""


@dataclass
class TickReport:
    reaped: int = 0
    adopted: int = 0
    scheduled: int = 0
    exhausted: int = 0
    claimed: int = 0
    placed: int = 0
    deferred: int = 0
    held: int = 0
    cancelled: int = 0
    failed: int = 0
    retried: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: TickReport) -> None:
        for name in ("reaped", "adopted", "scheduled", "exhausted", "claimed", "placed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("deferred", "held", "cancelled", "failed", "retried"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.reasons.items():
            self.reasons[k] += v


@dataclass(frozen=True)
class Job:
    """One claimed attempt with everything its request needs (read before the gate)."""

    attempt_id: int
    task_id: int
    channel: str
    to: str
    from_: str
    spec: CampaignSpec
    gate: GateInput
    language: str | None
    values: Mapping[str, str]
    claimed_at: datetime


# ---------------------------------------------------------------------------- controls


def halted(session: Session) -> bool:
    return bool(session.scalar(select(Control.active).where(Control.key == HALT_KEY)))


def set_halt(session: Session, now: datetime, actor: str, active: bool, reason: str) -> None:
    row = session.get(Control, HALT_KEY)
    if row is None:
        session.add(Control(key=HALT_KEY, active=active, reason=reason, actor=actor, at=now))
    else:
        row.active, row.reason, row.actor, row.at = active, reason, actor, now


class HaltFlag:
    """The emergency stop as every worker sees it: read from the database at most twice a second."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self._value = False
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            if self.clock.monotonic() - self._read_at >= HALT_REFRESH:
                with self.store.sessions() as session:
                    self._value = halted(session)
                self._read_at = self.clock.monotonic()
            return self._value


# ---------------------------------------------------------------------------- dispatcher


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
        self._crash_after_request = crash_after_request  # tests: die between API and record
        self._pool = ThreadPoolExecutor(max(1, config.max_in_flight), thread_name_prefix="dial")
        self._stopping = threading.Event()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def stop(self) -> None:
        """Finish what is in flight, start nothing new (SIGTERM)."""
        self._stopping.set()

    # -- one tick

    def tick(self) -> TickReport:
        report = TickReport()
        now = self.clock.now()
        with self.store.transaction() as session:
            self.book.refresh(session)
            halted_now = halted(session)
        self.reap(report)
        if halted_now or self._stopping.is_set():
            return report
        with self.store.transaction() as session:
            sched = books.schedule_due(session, self.book, now, self.config.senders)
        report.scheduled, report.exhausted = sched.scheduled, sched.exhausted
        with self.store.transaction() as session:
            ids = books.claim(
                session, self.config.worker_id, self.clock.now(), self.config.lease, self._batch()
            )
        report.claimed = len(ids)
        if ids:
            self._dispatch(ids, report)
        return report

    def run_until_idle(self, max_ticks: int = 1000) -> TickReport:
        """Tick until nothing is due now (tests and `dialer dispatch --once`)."""
        total = TickReport()
        for _ in range(max_ticks):
            r = self.tick()
            total.add(r)
            if r.claimed == 0 and r.scheduled == 0 and r.exhausted == 0 and r.reaped == 0:
                break
        return total

    def _batch(self) -> int:
        """About ten seconds of paced work, so leases never run out while a batch waits its turn."""
        rate = max(self.config.cps, self.config.mps)
        return max(1, min(self.config.claim_batch, int(rate * 10) or 1))

    # -- the gate, read in bulk for a claimed batch

    def _jobs(self, session: Session, ids: list[int]) -> list[Job]:
        now = self.clock.now()
        rows = session.execute(
            select(Attempt, CallbackTask, Customer)
            .join(CallbackTask, CallbackTask.id == Attempt.task_id)
            .join(Customer, Customer.id == CallbackTask.customer_id)
            .where(Attempt.id.in_(ids))
        ).all()
        customer_ids = [c.id for _, _, c in rows]
        numbers = [a.phone_e164 for a, _, _ in rows if a.phone_e164]
        phones = {
            (p.customer_id, p.e164): p
            for p in session.scalars(
                select(CustomerPhone).where(CustomerPhone.customer_id.in_(customer_ids))
            )
        }
        dnc: dict[tuple[int | None, str], set[str]] = defaultdict(set)
        for purpose in ("service", "marketing"):
            for k, v in books.do_not_contact(session, purpose, customer_ids, numbers).items():
                dnc[(k[0], k[1] + "|" + purpose)] |= v
        since = now - timedelta(hours=24)
        contacts = {
            cid: (int(n), last)
            for cid, n, last in session.execute(
                select(Attempt.customer_id, func.count(), func.max(Attempt.placed_at))
                .where(
                    Attempt.customer_id.in_(customer_ids),
                    Attempt.placed_at >= since,
                    Attempt.state != AttemptState.CANCELLED,
                )
                .group_by(Attempt.customer_id)
            )
        }
        events = {
            e.id: e
            for e in session.scalars(
                select(ServiceEvent).where(
                    ServiceEvent.id.in_(
                        [t.service_event_id for _, t, _ in rows if t.service_event_id]
                    )
                )
            )
        }
        jobs: list[Job] = []
        for attempt, task, cust in rows:
            spec = self.book.spec(task.campaign_id)
            phone = phones.get((cust.id, attempt.phone_e164 or ""))
            number_ok = phone is not None and books.Phone(
                phone.e164,
                phone.phone_type,
                phone.region,
                phone.voice_ok,
                phone.sms_ok,
                phone.unusable_reason,
            ).takes(attempt.channel)
            blocked = dnc.get((cust.id, "|" + spec.purpose), set()) | dnc.get(
                (None, (attempt.phone_e164 or "") + "|" + spec.purpose), set()
            )
            n, last = contacts.get(cust.id, (0, None))
            who = _reachee(
                tuple(cust.time_zones or ()), cust.quiet_hours, cust.region, cust.marketing_consent
            )
            policy = self._policy(spec, attempt.channel)
            event = events.get(task.service_event_id or -1)
            jobs.append(
                Job(
                    attempt_id=attempt.id,
                    task_id=task.id,
                    channel=attempt.channel,
                    to=attempt.phone_e164 or "",
                    from_=attempt.from_e164 or books.SANDBOX_SENDER,
                    spec=spec,
                    gate=GateInput(
                        channel=attempt.channel,
                        purpose=spec.purpose,
                        who=who,
                        policy=policy,
                        campaign_status=self.book.status.get(task.campaign_id, "active"),
                        halted=False,
                        blocked_channels=frozenset(blocked),
                        number_ok=number_ok,
                        contacts_last_day=n,
                        last_contact_at=last,
                        contact_cap=self.config.contact_cap,
                        min_gap=self.config.min_gap,
                        appointment_at=task.appointment_at,
                    ),
                    language=cust.language,
                    values={
                        "company": self.config.company,
                        "name": cust.name,
                        "title": cust.title or "",
                        "service": (event.service_type if event else None) or "",
                        "date": event.service_date.isoformat() if event else "",
                        "store": (event.store if event else None) or "",
                        "vehicle": (event.vehicle if event else None) or "",
                        "agent": "",
                    },
                    claimed_at=attempt.claimed_at or now,
                )
            )
        return jobs

    def _policy(self, spec: CampaignSpec, channel: str) -> Any:
        """The window a request must fit: for calls it stays open through queue, ring and talk."""
        if channel == "sms":
            return spec.window_policy(min_open=timedelta(0))
        queueing = timedelta(seconds=self.config.claim_batch / max(self.config.cps, 0.1))
        return spec.window_policy(
            min_open=spec.min_open(queueing=min(queueing, timedelta(minutes=5)))
        )

    # -- placing

    def _dispatch(self, ids: list[int], report: TickReport) -> None:
        with self.store.sessions() as session:
            jobs = self._jobs(session, ids)
        futures: dict[Future[tuple[str, Any]], Job] = {}
        for job in jobs:
            decision = check(job.gate, self.clock.now())
            if decision.verdict != "go":
                self._not_now(job, decision, report)
                continue
            futures[self._pool.submit(self._place, job, decision)] = job
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=5.0, return_when=FIRST_COMPLETED)
            with self.store.transaction() as session:
                for fut in done:
                    self._record(session, futures[fut], fut.result(), report)

    def _place(self, job: Job, decision: Decision) -> tuple[str, Any]:
        """In a worker: wait for a pacing slot, re-check the stop, make the request."""
        limits = self._limits(job)
        while True:
            if self.halt() or self._stopping.is_set():
                return "hold", "stopped before the request left"
            wait_s = self.pacer.reserve(limits)
            if wait_s <= 0:
                break
            self.clock.sleep(min(wait_s, 0.25))
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
                )
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
        if what == "placed":
            rec: ProviderRecord = value
            books.mark_placed(
                session, job.attempt_id, rec.sid, rec.status, now, self.config.placed_lease
            )
            r.placed += 1
            if job.channel != "sms" and self.halt():
                # The emergency stop came while this request was in flight: cancel it too.
                self.telephony.cancel_call(rec.sid)
            return
        if what == "hold":
            books.release(session, job.attempt_id, now, value)
            r.held += 1
            return
        if isinstance(value, TransientTelephonyError):
            if value.ambiguous and self._reconcile_one(session, job, r):
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
            books.follow_up(session, self.book, task, attempt, now)
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

    # -- never twice: leases and reconciliation

    def _reconcile_one(self, session: Session, job: Job, r: TickReport) -> bool:
        """After an ambiguous failure: did the request go through after all? Adopt it if so."""
        try:
            found = self.telephony.find(
                books.kind_of(job.channel),  # type: ignore[arg-type]
                to=job.to,
                from_=job.from_,
                created_after=job.claimed_at - timedelta(seconds=5),
            )
        except TelephonyError:
            return False
        known = set(
            session.scalars(
                select(Attempt.provider_sid).where(Attempt.provider_sid.in_([f.sid for f in found]))
            )
        )
        fresh = [f for f in found if f.sid not in known]
        if not fresh:
            return False
        rec = fresh[0]
        books.adopt(
            session,
            self.book,
            job.attempt_id,
            sid=rec.sid,
            status=rec.status,
            created_at=rec.created_at,
            now=self.clock.now(),
            lease=self.config.placed_lease,
            payload=_payload(rec),
        )
        r.adopted += 1
        return True

    def reap(self, report: TickReport) -> None:
        """Expired leases: claimed ones are reconciled then released; placed ones fetched."""
        now = self.clock.now()
        with self.store.sessions() as session:
            expired = session.execute(
                select(
                    Attempt.id,
                    Attempt.state,
                    Attempt.channel,
                    Attempt.phone_e164,
                    Attempt.from_e164,
                    Attempt.claimed_at,
                    Attempt.provider_sid,
                )
                .where(
                    Attempt.state.in_((AttemptState.CLAIMED, AttemptState.PLACED)),
                    Attempt.lease_expires_at < now,
                )
                .limit(500)
            ).all()
        for row in expired:
            kind = books.kind_of(row.channel)
            try:
                if row.state == AttemptState.CLAIMED:
                    found = self.telephony.find(
                        kind,  # type: ignore[arg-type]
                        to=row.phone_e164 or "",
                        from_=row.from_e164 or "",
                        created_after=(row.claimed_at or now) - timedelta(seconds=5),
                    )
                else:
                    found = [self.telephony.fetch(kind, row.provider_sid)]  # type: ignore[arg-type]
            except TelephonyError as exc:
                log.warning("cannot reconcile attempt %s yet: %s", row.id, exc)
                continue
            with self.store.transaction() as session:
                report.reaped += 1
                if row.state == AttemptState.CLAIMED:
                    known = set(
                        session.scalars(
                            select(Attempt.provider_sid).where(
                                Attempt.provider_sid.in_([f.sid for f in found])
                            )
                        )
                    )
                    fresh = [f for f in found if f.sid not in known]
                    if not fresh:
                        books.release(session, row.id, now, "lease expired; not placed")
                        continue
                    rec = fresh[0]
                    books.adopt(
                        session,
                        self.book,
                        row.id,
                        sid=rec.sid,
                        status=rec.status,
                        created_at=rec.created_at,
                        now=now,
                        lease=self.config.placed_lease,
                        payload=_payload(rec),
                    )
                    report.adopted += 1
                    continue
                rec = found[0]
                if rec.terminal:
                    books.apply_status(
                        session,
                        self.book,
                        now,
                        kind=kind,
                        attempt_id=row.id,
                        sid=rec.sid,
                        status=rec.status,
                        sequence=-1,
                        payload=_payload(rec),
                    )
                else:
                    session.execute(
                        update(Attempt)
                        .where(Attempt.id == row.id)
                        .values(lease_expires_at=now + self.config.placed_lease)
                    )


def _payload(rec: ProviderRecord) -> dict[str, Any]:
    """A provider record in the shape of a status callback (for the event log)."""
    out: dict[str, Any] = {"Source": "reconciliation", "Status": rec.status}
    if rec.answered_by:
        out["AnsweredBy"] = rec.answered_by
    if rec.duration is not None:
        out["CallDuration"] = str(rec.duration)
    if rec.error_code is not None:
        out["ErrorCode"] = str(rec.error_code)
    return out


# ----------------------------------------------------------------------------- emergency stop


def stop_all(store: Store, clock: Clock, telephony: Telephony | None, actor: str) -> dict[str, int]:
    """Emergency stop: no new request leaves; calls still queued at Twilio are cancelled."""
    now = clock.now()
    with store.transaction() as session:
        set_halt(session, now, actor, True, "emergency stop")
        queued = session.execute(
            select(Attempt.id, Attempt.provider_sid).where(
                Attempt.state.in_((AttemptState.CLAIMED, AttemptState.PLACED)),
                Attempt.channel != "sms",
                Attempt.provider_sid.is_not(None),
                func.coalesce(Attempt.provider_status, "queued").in_(
                    ("queued", "initiated", "ringing")
                ),
            )
        ).all()
    cancelled = 0
    if telephony is not None:
        for _, sid in queued:
            try:
                if sid and telephony.cancel_call(sid):
                    cancelled += 1
            except TelephonyError as exc:
                log.warning("could not cancel %s: %s", sid, exc)
    return {"queued_calls": len(queued), "cancelled": cancelled}


def resume_all(store: Store, clock: Clock, actor: str) -> None:
    with store.transaction() as session:
        set_halt(session, clock.now(), actor, False, "resumed")


__all__ = [
    "DispatchConfig",
    "Dispatcher",
    "TickReport",
    "resume_all",
    "stop_all",
]
