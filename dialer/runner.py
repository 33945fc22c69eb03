"""`dialer run`: the scheduler that keeps a campaign moving, plus the webhooks it needs.

APScheduler 3 (in-memory job store: its stores must not be shared between schedulers) runs
one-line jobs that call tick functions: import new files dropped in a watched folder (the daily
customer extract), plan new service events, dispatch (which reaps leases first), escalate tasks
whose next try would miss the deadline, hand the agents' queue out to agents (assign and
rebalance, as `dialer agents rebalance`), refresh open tasks' slack and capacity flag (read by
`dialer coverage`), write the nightly summary report (23:30 in the campaign's zone, when it asks
for one), and fire the date/cron triggers of holiday and maintenance campaigns in their own time
zones. Each trigger's firing is kept in the `trigger_firings` table, so a restart neither misses
nor repeats one. The lease holder also runs its interval jobs as soon as it leads, at start-up
or on taking the lease over (`Runner.catch_up`), not only after their first interval.
The webhooks are served in the same process; without Twilio credentials a sandbox is started and
dialled instead. SIGTERM stops new work and drains what is in flight.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from dialer.agent_work import close_forgotten_calls
from dialer.assign import DEFAULT_CAP_DAYS, AssignResult, rebalance
from dialer.attempts import CampaignBook
from dialer.campaign_files import campaign_folder
from dialer.campaigns import CampaignSpec, load_campaigns
from dialer.clock import Clock
from dialer.config import Settings
from dialer.console_web import mount_console
from dialer.console_web.bridge import Ringer
from dialer.coverage import refresh_slack
from dialer.dispatcher import DispatchConfig, Dispatcher, TickReport
from dialer.election import PERIODIC, TTL, acquire, release
from dialer.errors import ConfigError, DialerError, NotFoundError
from dialer.ingest import Importer
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    ImportRun,
    ImportStatus,
    TaskState,
    TriggerFiring,
)
from dialer.planner import occurrence_for, plan_campaign
from dialer.report_cli import ReportFormat, export_report
from dialer.serving import AppServer
from dialer.settle import Settling
from dialer.store import Store, first_line
from dialer.telephony.client import Telephony
from dialer.telephony.setup import telephony_from_settings
from dialer.watch_folder import customer_files, read_regular
from dialer.webhooks import create_app

log = logging.getLogger(__name__)

ESCALATION = {"sms": "SMS", "agent": "a person"}
SLACK_MINUTES = 5  # how stale the slack `dialer coverage` reads may get
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
ROLES = ("all", "dispatcher", "planner", "web")  # what one `dialer run` process of a fleet does
# The interval jobs a new leader runs at once (`Runner.catch_up`, `Runner._bring_forward`).
CATCH_UP_JOBS = ("import", "triggers", "plan", "forgotten-calls", "escalate", "assign", "slack")


@dataclass
class RunOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    campaigns_dir: Path = Path("campaigns")
    watch: Path | None = None
    tick_seconds: float = 1.0
    plan_minutes: float = 5.0
    assign_minutes: float = 5.0  # how often tasks that need a person are given to agents
    speed: float = 1.0  # the sandbox's speed, when one is started
    cps: float = 1.0
    reports_dir: Path = Path("reports")  # nightly summary reports: <slug>-<local date>.html
    role: str = "all"  # all | dispatcher | planner (see ROLES); `web` is `dialer serve`
    lease: timedelta = timedelta(minutes=2)  # a claimed attempt's lease (dispatch_config)
    placed_grace: timedelta | None = None  # the settle checks' margin; None: the settings'


@dataclass
class RunStats:
    ticks: int = 0
    placed: int = 0
    imported_files: int = 0
    plans: int = 0
    triggers_fired: list[str] = field(default_factory=list)
    escalated: int = 0
    assigned: int = 0  # tasks given to an agent or moved to another by the assign job
    errors: int = 0


OPEN_TASKS = (TaskState.PENDING, TaskState.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class RunStatus:
    """What `dialer run` says every minute (`Runner.status`)."""

    at: datetime
    placed: int
    answered: int
    reached: int
    members_open: int
    due_now: int
    next_due: datetime | None

    def line(self) -> str:
        if self.due_now:
            window = f"open now, {self.due_now} tries due"
        elif self.next_due is not None:
            window = f"next try at {self.next_due.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        else:
            window = "no try scheduled"
        return (
            f"{self.at.astimezone(UTC):%H:%M} UTC · since start: {self.placed} placed, "
            f"{self.answered} answered, {self.reached} reached · {self.members_open} members "
            f"pending · next window: {window}"
        )


class Runner:
    """Owns the scheduler, the dispatcher, the webhook server and (maybe) a sandbox."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, options: RunOptions) -> None:
        self.settings, self.store, self.clock, self.options = settings, store, clock, options
        self.stats = RunStats()
        self.specs: list[CampaignSpec] = load_campaigns(campaign_folder(options.campaigns_dir))
        self.sandbox: Any = None
        self._sandbox_server: Any = None
        self.webhooks: AppServer | None = None
        self.dispatcher: Dispatcher | None = None
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
        self._lock = threading.Lock()
        self._book = CampaignBook()  # campaign specs for the slack refresh, parsed once
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False  # holds the periodic jobs' lease (see `dialer.election`)
        self._catch_up_on_take_over = False  # from the end of start(): see `_bring_forward`
        # Set by the first SIGINT/SIGTERM (`dialer run` shares its StopSignal's event): start-up
        # and catch-up stop between steps, and the jobs still running are waited for at most
        # STOP_GRACE seconds (`stop`).
        self.stopping = threading.Event()
        self.on_status: Callable[[str], None] | None = None  # the minute's status line
        self.started_at = clock.now()
        self._running: dict[str, int] = {}  # guarded jobs running now, by name
        self._running_lock = threading.Condition()

    # -- start and stop

    def start(self, *, schedule: bool = True) -> None:
        """Serve the webhooks, build the dispatcher, catch up, and (unless told not to, as tests
        that drive the ticks by hand do) start the scheduler."""
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)  # "skipped: running"
        role = self.options.role
        if role not in ROLES or role == "web":
            raise ConfigError(f"the runner runs roles all, dispatcher or planner, not {role!r}")
        self.store.check_writable()  # a locked database: one sentence and exit 4, before any job
        if role in ("all", "dispatcher"):
            self._start_dispatching(role)
        self.started_at = self.clock.now()
        if role in ("all", "planner"):
            self._schedule_periodic()
            if self.lead():
                self.catch_up()
            self._catch_up_on_take_over = True
        if self.on_status is not None:
            self.scheduler.add_job(self.status_tick, "interval", minutes=1, id="status")
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full passes, whose pauses would bunch paced requests.
        gc.collect()
        gc.freeze()
        if schedule:
            self.scheduler.start()

    def _start_dispatching(self, role: str) -> None:
        """The dispatcher (and, in role `all`, the webhooks and maybe a sandbox)."""
        if role == "dispatcher" and not self.settings.has_twilio_credentials:
            raise ConfigError(
                "--role dispatcher dials Twilio or a fleet's sandbox: set "
                "DIALER_TWILIO_ACCOUNT_SID and DIALER_TWILIO_AUTH_TOKEN"
            )
        if role == "dispatcher" and not self.settings.public_base_url:
            raise ConfigError(
                "--role dispatcher serves no webhooks: set DIALER_PUBLIC_BASE_URL to where "
                "--role web receives them"
            )
        telephony, auth_token = self._telephony()
        public = (self.settings.public_base_url or "").rstrip("/")
        if role == "all":
            app = create_app(
                self.store,
                self.clock,
                auth_token,
                self.settings.public_base_url,
                company=self.settings.company_name,
            )
            mount_console(
                app, self.store, self.clock, company=self.settings.company_name,
                public_base_url=self.settings.public_base_url, auth_token=auth_token,
                senders=self.settings.sender_numbers,
                # click-to-call only through a real Twilio: on its own sandbox agents dial by hand
                click_to_call=None if self.sandbox is not None else Ringer(
                    telephony, lambda: self.settings.public_base_url or self._base_url(),
                    self.settings.sender_numbers),
            )  # fmt: skip
            self.webhooks = AppServer(
                app, self.options.host, self.options.port, "webhooks",
                forwarded_allow_ips=self.settings.forwarded_allow_ips,
            )  # fmt: skip
            self.webhooks.start()
            public = (self.settings.public_base_url or self.webhooks.base_url).rstrip("/")
        if self.sandbox is not None:
            self.sandbox.inbound_sms_url = f"{public}/twilio/sms/inbound"
        self.dispatcher = Dispatcher(
            self.store,
            self.clock,
            telephony,
            DispatchConfig(
                worker_id=f"{socket.gethostname()}:{os.getpid()}",
                public_base_url=public,
                senders=self.settings.sender_numbers,
                cps=self.options.cps,
                company=self.settings.company_name,
                lease=self.options.lease,
                settling=Settling(grace=self._placed_grace()),
                fleet_pacing=self.store.dialect == "postgresql",
                crash_point=self.settings.crash_point,
            ),
        )
        self.scheduler.add_job(
            self.dispatch_tick, "interval", seconds=self.options.tick_seconds, id="dispatch"
        )

    def _placed_grace(self) -> timedelta:
        """`--placed-grace`, else DIALER_PLACED_GRACE: the settle checks' margin."""
        if self.options.placed_grace is not None:
            return self.options.placed_grace
        return timedelta(seconds=self.settings.placed_grace)

    def _schedule_periodic(self) -> None:
        """Planning, escalation, assignment, slack, triggers, imports and reports: run by the
        lease holder."""
        s, once = self.scheduler, self._if_leading
        s.add_job(self.lead, "interval", seconds=TTL.total_seconds() / 3, id="lead")
        s.add_job(once(self.plan_tick), "interval", minutes=self.options.plan_minutes, id="plan")
        s.add_job(once(self.escalate_tick), "interval", minutes=1, id="escalate")
        s.add_job(once(self.assign_tick), "interval", minutes=self.options.assign_minutes,
                  id="assign")  # fmt: skip
        s.add_job(once(self.fire_due_triggers), "interval", minutes=1, id="triggers")
        s.add_job(once(self.slack_tick), "interval", minutes=SLACK_MINUTES, id="slack")
        s.add_job(once(self.forgotten_calls_tick), "interval", minutes=5, id="forgotten-calls")
        if self.options.watch is not None:
            s.add_job(once(self.import_tick), "interval", seconds=30, id="import")
        for spec in self.specs:
            trigger = _aps_trigger(spec, self.clock.now())
            if trigger is not None:
                s.add_job(once(self.fire_due_triggers), trigger, id=f"trigger:{spec.slug}")
            if spec.nightly_report:
                s.add_job(
                    once(self.nightly_report),
                    CronTrigger(hour=23, minute=30, timezone=ZoneInfo(spec.default_time_zone)),
                    args=[spec.slug],
                    id=f"report:{spec.slug}",
                )

    def lead(self) -> bool:
        """Take or renew the periodic jobs' lease; True while this process holds it."""

        def take() -> bool:
            with self.store.transaction() as session:
                return acquire(session, PERIODIC, self.holder, self.clock.now())

        was, self.leading = self.leading, bool(self._guard("lease", take))
        if self.leading != was:
            log.info("%s the periodic jobs", "running" if self.leading else "no longer running")
            if self.leading and self._catch_up_on_take_over:
                self._bring_forward()
        return self.leading

    def _bring_forward(self) -> None:
        """Taken over from a leader that died or stopped: the interval jobs run now, not at
        their next interval (up to 5 minutes away). Moved, not added: each job still runs one
        instance at a time, and this heartbeat goes on renewing the lease meanwhile."""
        now = self.clock.now()
        for job_id in CATCH_UP_JOBS:
            if self.scheduler.get_job(job_id) is not None:
                self.scheduler.modify_job(job_id, next_run_time=now)

    def _if_leading(self, job: Callable[..., Any]) -> Callable[..., Any]:
        """`job`, run only by the lease holder (the lease renewed first): once across the fleet."""

        def run(*args: Any) -> Any:
            return job(*args) if self.lead() else None

        return run

    def _base_url(self) -> str:
        assert self.webhooks is not None
        return self.webhooks.base_url

    def catch_up(self) -> None:
        """What a leader at start-up owes at once, in order and before the first tick, rather
        than at its jobs' first runs up to 5 minutes later: files waiting, triggers missed
        while down, a plan, forgotten calls closed, late tasks escalated, then the tasks that
        need a person given to agents (a freshly started fleet assigns new tasks at once) and
        the slack refreshed (`dialer coverage` is not stale from the start). A process that
        takes the lease over later has these jobs brought forward instead (`_bring_forward`)."""
        steps: list[Callable[[], Any]] = [
            self.fire_due_triggers,
            self.plan_tick,
            self.forgotten_calls_tick,
            lambda: self._guard("escalate", self.escalate_tick),
            self.assign_tick,
            self.slack_tick,
        ]
        if self.options.watch is not None:
            steps.insert(0, self.import_tick)
        for step in steps:
            if self.stopping.is_set():  # a signal during start-up: stop, do not finish it
                return
            step()

    def stop(self, grace: float = 30.0) -> list[str]:
        """Stop new work, let the running jobs and the requests in flight finish, close
        everything; the names of the jobs still running after `grace` seconds, which are left
        behind (each one's work is one transaction: what it did not commit, the next start does
        again). The calls in flight are always drained: each one's outcome is recorded."""
        self.stopping.set()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        left = self._wait_for_jobs(grace)
        if self.dispatcher is not None:
            self.drain()
            if "dispatch" not in left:
                self.dispatcher.close()
        if self.leading:  # a clean stop hands the periodic jobs over at once
            with self.store.transaction() as session:
                release(session, PERIODIC, self.holder)
            self.leading = False
        if self.webhooks is not None:
            self.webhooks.stop()
        if self.sandbox is not None:
            self.sandbox.close()
            self._sandbox_server.stop()
        return left

    def _wait_for_jobs(self, grace: float) -> list[str]:
        """Wait (on a condition, not by polling) until no guarded job runs, or `grace` passed."""
        with self._running_lock:
            self._running_lock.wait_for(lambda: not self._running, timeout=grace)
            return sorted(self._running)

    def _telephony(self) -> tuple[Telephony, str]:
        telephony = telephony_from_settings(self.settings, required=False)
        if telephony is not None:
            return telephony, telephony.auth_token
        from dialer.telephony.sandbox import Sandbox, SandboxServer

        self.sandbox = Sandbox(self.clock, cps=self.options.cps, speed=self.options.speed)
        self._sandbox_server = SandboxServer(self.sandbox).start()
        self.sandbox.run_in_background()
        base = self._sandbox_server.base_url
        log.info("no Twilio credentials: dialling the sandbox at %s", base)
        sb = self.sandbox
        return Telephony(sb.account_sid, sb.auth_token, base_url=base), sb.auth_token

    # -- the jobs (each one line of work, guarded so one failure never stops the scheduler)

    def _guard(self, name: str, fn: Any) -> Any:
        with self._running_lock:
            self._running[name] = self._running.get(name, 0) + 1
        try:
            return fn()
        except DialerError as exc:
            self.stats.errors += 1
            log.error("%s failed: %s", name, exc)
        except Exception as exc:
            self.stats.errors += 1
            if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                # A restarted or failed-over database: the job's next run reconnects (the pool
                # replaces the dropped connection); a traceback would only bury that in the log.
                log.warning("%s: database connection lost (%s); the next run goes on", name,
                            first_line(exc.orig))  # fmt: skip
            else:
                log.exception("%s failed", name)
        finally:
            with self._running_lock:
                self._running[name] -= 1
                if not self._running[name]:
                    del self._running[name]
                self._running_lock.notify_all()
        return None

    def dispatch_tick(self) -> None:
        assert self.dispatcher is not None
        report = self._guard("dispatch", lambda: self.dispatcher.tick(wait=False))
        if report is not None:
            self.stats.ticks += 1
            self.stats.placed += report.placed

    def drain(self) -> None:
        """Wait for the dispatcher's requests in flight and count what they placed."""
        if self.dispatcher is not None:
            self.stats.placed += self.dispatcher.drain(TickReport()).placed

    def plan_tick(self) -> None:
        """Plan every service-event campaign (idempotent: only new events become tasks)."""
        for spec in self.specs:
            if spec.trigger.type != "service_event" or self.stopping.is_set():
                continue
            if self._guard(
                f"plan {spec.slug}", lambda s=spec: plan_campaign(self.store, self.clock, s)
            ):
                self.stats.plans += 1

    def fire_due_triggers(self) -> list[str]:
        """Plan each date/cron campaign whose latest occurrence has come and was not fired yet."""
        fired = []
        now = self.clock.now()
        for spec in self.specs:
            if spec.trigger.type == "service_event":
                continue
            occurrence = occurrence_for(spec, now)
            if occurrence is None or occurrence > now:
                continue
            with self._lock:
                if not self._claim_firing(spec.slug, occurrence, now):
                    continue
            if self._guard(
                f"trigger {spec.slug}",
                lambda s=spec: plan_campaign(self.store, self.clock, s, now=now),
            ):
                fired.append(spec.slug)
        self.stats.triggers_fired.extend(fired)
        return fired

    def _claim_firing(self, slug: str, occurrence: datetime, now: datetime) -> bool:
        """Record the firing once; False when this occurrence was fired before (a restart)."""
        with self.store.transaction() as session:
            maker = pg_insert if self.store.dialect == "postgresql" else sqlite_insert
            got = session.execute(
                maker(TriggerFiring)
                .values(campaign_slug=slug, occurrence_at=occurrence, fired_at=now)
                .on_conflict_do_nothing()
                .returning(TriggerFiring.campaign_slug)
            ).scalar()
        return got is not None

    def import_tick(self) -> int:
        """Import every customer file in the watched folder not imported completely before."""
        folder = self.options.watch
        if folder is None or not folder.is_dir():
            return 0
        done = 0
        for path in customer_files(folder):
            try:
                digest = hashlib.sha256(read_regular(path)).hexdigest()
            except OSError as exc:  # swapped for a link or FIFO since the listing, or vanished
                log.warning("watched file %s skipped: %s", path.name, exc.strerror or exc)
                continue
            with self.store.sessions() as session:
                seen = session.scalar(
                    select(ImportRun.id).where(
                        ImportRun.source_sha256 == digest,
                        ImportRun.status == ImportStatus.COMPLETED,
                    )
                )
            if seen is not None:
                continue
            importer = Importer(
                self.store, self.clock, default_region=self.settings.default_region, actor="runner"
            )
            if self._guard(f"import {path.name}", lambda p=path, i=importer: i.run(p)) is not None:
                done += 1
        if done:
            self.stats.imported_files += done
            self.plan_tick()
        return done

    def status(self) -> RunStatus:
        """The figures of the minute's status line: since this process started, the calls and
        SMS it placed, the calls answered by a person, the tasks reached; now, the member tasks
        still open and when the next try may go (the earliest scheduled attempt: the gate
        defers a try to its window's opening, so this is the next window)."""
        now, since = self.clock.now(), self.started_at
        a, t = Attempt, CallbackTask
        with self.store.sessions() as session:
            answered = session.scalar(
                select(func.count()).where(
                    a.placed_at >= since,
                    a.channel != "sms",
                    a.provider_status == "completed",
                    func.coalesce(a.answered_by, "human").in_(("human", "unknown")),
                )
            )
            reached = session.scalar(select(func.count()).where(t.reached_at >= since))
            members = session.scalar(
                select(func.count()).where(t.state.in_(OPEN_TASKS), t.member.is_(True))
            )
            due_now = session.scalar(
                select(func.count()).where(a.state == AttemptState.SCHEDULED, a.due_at <= now)
            )
            nxt = session.scalar(
                select(func.min(a.due_at)).where(a.state == AttemptState.SCHEDULED, a.due_at > now)
            )
        return RunStatus(now, self.stats.placed, int(answered or 0), int(reached or 0),
                         int(members or 0), int(due_now or 0), nxt)  # fmt: skip

    def status_tick(self) -> str | None:
        """The status line, handed to `on_status` (the scheduler runs this every minute)."""
        got: RunStatus | None = self._guard("status", self.status)
        if got is None:
            return None
        line = got.line()
        if self.on_status is not None:
            self.on_status(line)
        return line

    def slack_tick(self) -> int:
        """Refresh open tasks' slack and capacity flag (`capacity_short`, with this runner's
        calls per second for automated campaigns), so `dialer coverage` at "now" reads both
        from the rows."""
        now = self.clock.now()

        def run() -> int:
            with self.store.transaction() as session:
                return refresh_slack(session, self._book, now, cps=self.options.cps)

        return int(self._guard("slack", run) or 0)

    def nightly_report(self, slug: str) -> Path | None:
        """Write `reports/<slug>-<local date>.html` (the campaign's default zone); audited.
        A campaign not planned yet has nothing to report: skipped."""
        spec = next(s for s in self.specs if s.slug == slug)
        day = self.clock.now().astimezone(ZoneInfo(spec.default_time_zone)).date()

        def run() -> Path | None:
            folder = self.options.reports_dir
            folder.mkdir(parents=True, exist_ok=True)
            try:
                return export_report(
                    self.store,
                    self.clock,
                    "runner",
                    slug,
                    ReportFormat.HTML,
                    folder / f"{slug}-{day.isoformat()}.html",
                    book=self._book,
                )
            except NotFoundError:
                log.info("nightly report of %s skipped: the campaign is not planned yet", slug)
                return None

        got = self._guard(f"report {slug}", run)
        return got if isinstance(got, Path) else None

    def forgotten_calls_tick(self) -> int:
        """Agent calls left open for hours are closed, so their tasks go back to the queue."""

        def run() -> int:
            with self.store.transaction() as session:
                return close_forgotten_calls(session, self.clock)

        return int(self._guard("forgotten calls", run) or 0)

    def assign_tick(self) -> AssignResult | None:
        """Give tasks that need a person to agents, as `dialer agents assign` does (new and
        escalated tasks, tasks of agents gone inactive; at most `DEFAULT_CAP_DAYS` of work
        each), and rebalance: an agent holding more than that (their capacity was lowered) sheds
        the least urgent, and a task an agent's shift can no longer reach in time moves.
        Appointments stay with their agent (unless the agent is away), and so does a task an
        agent is on a call about. Audited as "runner" when a task changed hands; one log line of
        counts (no customer data)."""
        result: AssignResult | None = self._guard(
            "assign", lambda: rebalance(self.store, self.clock, actor="runner",
                                        behind_days=DEFAULT_CAP_DAYS, audit_unchanged=False)
        )  # fmt: skip
        if result is not None:
            self.stats.assigned += result.assigned + result.moved
            log.info(
                "assign: %d assigned, %d moved, %d kept, %d unassigned (%d out of hours)",
                result.assigned, result.moved, result.kept, result.unassigned,
                result.out_of_hours,
            )  # fmt: skip
        return result

    def escalate_tick(self) -> int:
        """Tasks whose next try would come after their deadline are escalated now.

        A member of a campaign that can text goes to SMS at once (the next attempt is chosen
        from SMS on; the gate still finds the SMS window); in a campaign that cannot text but
        has an agent channel, to a person (the agents' queue); any other such task has its
        retry pulled in, so the gate finds the earliest open slot before the deadline.
        """
        now = self.clock.now()
        late = (
            CallbackTask.state.in_((TaskState.PENDING, TaskState.IN_PROGRESS)),
            CallbackTask.next_attempt_at > CallbackTask.deadline,
            CallbackTask.deadline > now,
        )
        with self.store.transaction() as session:
            ids = {c.slug: c.id for c in session.execute(select(Campaign.slug, Campaign.id))}
            by_channel = {
                channel: [
                    ids[s.slug]
                    for s in self.specs
                    if channel in s.channels
                    and s.slug in ids
                    and (channel == "sms" or "sms" not in s.channels)
                ]
                for channel in ("sms", "agent")
            }
            to_other = 0
            for channel, campaign_ids in by_channel.items():
                to_other += session.execute(
                    update(CallbackTask)
                    .where(
                        *late,
                        CallbackTask.member.is_(True),
                        CallbackTask.campaign_id.in_(campaign_ids),
                        func.coalesce(CallbackTask.plan_action, "") != channel,
                    )
                    .values(
                        next_attempt_at=now,
                        plan_action=channel,
                        plan_reason=f"escalated to {ESCALATION[channel]}: the next call would "
                        "come after the deadline",
                        updated_at=now,
                    )
                ).rowcount  # type: ignore[attr-defined]
            pulled = session.execute(
                update(CallbackTask).where(*late).values(next_attempt_at=now, updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
        moved = int(to_other or 0) + int(pulled or 0)
        self.stats.escalated += moved
        return moved


def _aps_trigger(spec: CampaignSpec, now: datetime) -> Any:
    """The APScheduler trigger of a date/cron campaign, in the campaign's own time zone.

    A date already past gets none: `fire_due_triggers` catches it up at start.
    """
    zone = ZoneInfo(spec.trigger.time_zone)
    if spec.trigger.type == "cron" and spec.trigger.cron:
        return CronTrigger.from_crontab(spec.trigger.cron, timezone=zone)
    if spec.trigger.type == "fixed_date" and spec.trigger.start is not None:
        start = spec.trigger.start
        at = start if start.tzinfo else start.replace(tzinfo=zone)
        return DateTrigger(run_date=at) if at > now else None
    return None


__all__ = ["RunOptions", "RunStats", "RunStatus", "Runner"]
