"""`dialer demo`: the whole job on the embedded default, fast-forwarded, with no account and no network.

A generated customer file (`dialer.demo_data`) is imported into a fresh database and planned by
the shipped service-event campaigns; the sandbox plays Twilio with docs/definitions.md's default
customer behaviour and the webhooks are served in-process. Time is a SettableClock: each step the
runner's own jobs run (escalate, refresh slack), the dispatcher ticks, and the sandbox advances the
clock by one step, running every call and SMS event due on the way. Deterministic for a seed and
a start instant. By default the run ends at the real now (`demo_start`), so the database it
leaves reads as it stands; its last quarter hour takes no new work, so no call is left ringing.

The work that needs a person goes to people. The shipped after-service campaign hands a task to
an agent (its last channel, "agent") when the IVR's calls and the SMS did not reach the
customer; the demo imports a small team (`dialer/samples/agents.csv`: Mandarin speakers in
Taipei, Korean speakers in Seoul, English speakers in New York and Los Angeles, each with their
own hours, days, daily capacity and skills) through the real `dialer agents import` path, and
the simulated agents of `dialer simulate` (`dialer.agent_sim`) work it inside the same loop:
the real assignment gives them the handed-over tasks, each on shift calls the most urgent one
of their queue inside the customer's window at the campaign's handle time, and records the
outcome with their id, so the records name the agent and the report's agent table has rows.

What the steps cost besides the calls themselves is kept small: the file is planned once (it is
all imported before the start), a dispatcher tick runs only when something is due
(`dispatch_due`), and the progress totals are counted only when the display asks for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import func, select

from dialer.agent_sim import SimulatedAgents
from dialer.agents import import_agents, load_agents_file
from dialer.clock import SettableClock
from dialer.config import Settings
from dialer.demo_data import SampleSummary, generate
from dialer.dispatch_config import DispatchConfig
from dialer.dispatcher import Dispatcher
from dialer.fast_forward import SLACK_EVERY, Cadence, dispatch_due, fast_forward
from dialer.ingest import Importer, ImportSummary
from dialer.models import (
    Attempt,
    CallbackTask,
    Customer,
)
from dialer.report_cli import ReportFormat, export_report
from dialer.runner import Runner, RunOptions
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox import Sandbox, SandboxServer
from dialer.telephony.sandbox.testing import SandboxHarness
from dialer.webhooks import create_app

log = logging.getLogger(__name__)

DEMO_SENDERS = {"TW": "+886200000001", "KR": "+8227000001", "default": "+15005550006"}
# The last stretch of the run takes no new work, as `dialer run` stops on SIGTERM: calls in flight
# finish before the end, so the clock never runs past the end (the real now, by default).
DRAIN = timedelta(minutes=15)
SAMPLE_AGENTS = Path(__file__).parent / "samples" / "agents.csv"


@dataclass(frozen=True)
class DemoOptions:
    customers: int = 2000
    days: float = 3.0
    seed: int = 6
    step: timedelta = timedelta(minutes=10)
    cps: float = 10.0
    campaigns_dir: Path = Path("campaigns")


@dataclass
class DemoProgress:
    """Where the run is after a step; `counts()` reads the totals (three COUNT queries), so a
    progress display that refreshes a few times a second asks for them only then."""

    now: datetime
    elapsed: float  # simulated seconds since the start
    total: float
    store: Store

    def counts(self) -> DemoCounts:
        return demo_counts(self.store)


class DemoCounts(NamedTuple):
    tasks: int
    placed: int  # calls and SMS the dispatcher placed
    agent_calls: int  # calls the (simulated) agents made
    reached: int


@dataclass
class DemoResult:
    start: datetime
    end: datetime
    sample: SampleSummary
    imported: ImportSummary
    campaigns: list[str]
    agents: list[str] = field(default_factory=list)  # the team's usernames
    tasks: int = 0
    placed: int = 0
    agent_calls: int = 0
    reached: int = 0
    reports: dict[str, Path] = field(default_factory=dict)


def demo_start(now: datetime, days: float) -> datetime:
    """The default start: `days` before `now` (to the second), so the fast-forwarded days end at
    the real now and `dialer coverage`, `records` and `report` read the result as it stands,
    with no `--at`. The service visits of the sample file come before the start."""
    return now.replace(microsecond=0) - timedelta(days=days)


def database_is_empty(store: Store) -> bool:
    """No schema yet, or a schema without customers and tasks."""
    if store.current_revision() is None:
        return True
    with store.sessions() as session:
        customers = session.scalar(select(func.count()).select_from(Customer)) or 0
        tasks = session.scalar(select(func.count()).select_from(CallbackTask)) or 0
    return customers == 0 and tasks == 0


def demo_counts(store: Store) -> DemoCounts:
    """Tasks, calls and SMS placed, agents' calls, tasks reached in the whole database."""
    with store.sessions() as session:
        tasks = session.scalar(select(func.count()).select_from(CallbackTask)) or 0
        reached = (
            session.scalar(
                select(func.count())
                .select_from(CallbackTask)
                .where(CallbackTask.reached_at.is_not(None))
            )
            or 0
        )
        placed = (
            session.scalar(
                select(func.count()).select_from(Attempt).where(Attempt.provider_sid.is_not(None))
            )
            or 0
        )
        by_agents = (
            session.scalar(
                select(func.count()).select_from(Attempt).where(Attempt.agent_id.is_not(None))
            )
            or 0
        )
    return DemoCounts(int(tasks), int(placed), int(by_agents), int(reached))


def import_team(store: Store, clock: SettableClock, path: Path = SAMPLE_AGENTS) -> list[str]:
    """The sample team, through the same path as `dialer agents import`; their usernames."""
    specs = load_agents_file(path)
    with store.transaction() as session:
        import_agents(session, clock, specs, actor="demo")
    return [s.username for s in specs]


def run_demo(
    settings: Settings,
    store: Store,
    folder: Path,
    options: DemoOptions,
    *,
    start: datetime,
    on_step: Callable[[DemoProgress], None] | None = None,
    wrote: list[Path] | None = None,
) -> DemoResult:
    """Generate, import, plan and fast-forward `options.days` days; write the reports in `folder`.
    Each file is added to `wrote` before it is written, so an interrupted run can remove it."""
    wrote = wrote if wrote is not None else []
    clock = SettableClock(start)
    wrote.append(folder / "dialer-demo-customers.csv")
    sample = generate(wrote[-1], options.customers,
                      seed=options.seed, start=start)  # fmt: skip
    imported = Importer(store, clock, default_region=settings.default_region, actor="demo").run(
        sample.path
    )
    runner = Runner(
        settings, store, clock, RunOptions(campaigns_dir=options.campaigns_dir, cps=options.cps)
    )
    specs = [s for s in runner.specs if s.trigger.type == "service_event"]
    runner.specs = specs  # date and cron campaigns wait for their own day: not in the demo
    team = import_team(store, clock)
    sandbox = Sandbox(clock, seed=options.seed, cps=options.cps, mps=10.0)
    harness = SandboxHarness(sandbox, SandboxServer(sandbox).start(), clock)
    app = create_app(
        store, clock, sandbox.auth_token, company=settings.company_name, one_caller=True
    )
    result = DemoResult(start, start, sample, imported, [s.slug for s in specs], team)
    try:
        with AppServer(app, name="demo-webhooks") as hooks:
            sandbox.inbound_sms_url = f"{hooks.base_url}/twilio/sms/inbound"
            config = DispatchConfig(
                worker_id="demo",
                public_base_url=hooks.base_url,
                senders=settings.sender_numbers or DEMO_SENDERS,
                cps=options.cps,
                max_in_flight=1,  # one worker: the settable clock moves in one order
                company=settings.company_name,
            )
            telephony = Telephony(
                sandbox.account_sid, sandbox.auth_token, base_url=harness.base_url
            )
            dispatcher = Dispatcher(store, clock, telephony, config)
            runner.dispatcher = dispatcher
            try:
                _fast_forward(runner, harness, options, start, on_step)
            finally:
                dispatcher.close()
        result.end = clock.now()
        result.tasks, result.placed, result.agent_calls, result.reached = demo_counts(store)
        for slug in result.campaigns:
            target = folder / ("dialer-demo-report.html" if len(specs) == 1 else f"{slug}.html")
            wrote.append(target)
            result.reports[slug] = export_report(
                store, clock, "demo", slug, ReportFormat.HTML, target
            )
    finally:
        harness.close()
    return result


def _fast_forward(
    runner: Runner,
    harness: SandboxHarness,
    options: DemoOptions,
    start: datetime,
    on_step: Callable[[DemoProgress], None] | None,
) -> None:
    clock = harness.clock
    end = start + timedelta(days=options.days)
    total = (end - start).total_seconds()

    def progress() -> None:
        if on_step is not None:
            elapsed = min(total, (clock.now() - start).total_seconds())
            on_step(DemoProgress(clock.now(), elapsed, total, runner.store))

    # The people: one team for the campaigns that hand tasks to a person (one shipped campaign
    # does; two such campaigns would each keep their own diary of the same people's time).
    people = [
        SimulatedAgents(runner.store, clock, spec, harness.sandbox, step=options.step)
        for spec in runner.specs
        if "agent" in spec.channels
    ]

    def work(now: datetime) -> None:
        for team in people:
            team.work(now)

    # Planned once (the whole file is imported before the start, nothing comes later); what is
    # due at the end itself still runs, SMS replies still to come stay out.
    cadence = Cadence(
        step=options.step, plan_every=None, slack_every=SLACK_EVERY, skip_idle_ticks=True,
        drain=DRAIN,
    )  # fmt: skip
    fast_forward(
        runner, harness, end, cadence, each_step=work if people else None,
        after_step=progress, settle=0,
    )  # fmt: skip


__all__ = [
    "SAMPLE_AGENTS",
    "DemoCounts",
    "DemoOptions",
    "DemoProgress",
    "DemoResult",
    "database_is_empty",
    "demo_counts",
    "demo_start",
    "dispatch_due",
    "import_team",
    "run_demo",
]
