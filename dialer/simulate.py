"""`dialer simulate CAMPAIGN`: will the campaign reach every member by the deadline?

Monte Carlo over simulated days with the real parts: each run copies the scratch template
(`dialer.sim_scratch`: the operator's customers and the campaign's tasks, planned by the real
planner) and fast-forwards the real runner (plan / escalate / slack), gate and dispatcher
(`dialer.fast_forward`) against the in-process sandbox, whose seeded population answers as
docs/definitions.md's default customers (or as told). Every run is done twice on the same seeded
population: in docs/definitions.md's priority order (members first, then least slack) and first in,
first out (file order through the same gate, as most dialers' hoppers do). Coverage is read by
`dialer.coverage` from the run's database at the end.

`needed_capacity` then searches the calls per second (automated campaigns) or the number of
agents (campaigns handled by agents) at which every reachable member is covered.
"""

from __future__ import annotations

import math
import shutil
import statistics
import tempfile
import time as _time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select

from dialer.agent_sim import SimulatedAgents
from dialer.attempts import CampaignBook
from dialer.campaigns import CampaignSpec
from dialer.clock import SettableClock
from dialer.config import Settings
from dialer.coverage import coverage
from dialer.dispatch_config import DispatchConfig
from dialer.dispatcher import Dispatcher
from dialer.fast_forward import Cadence, fast_forward
from dialer.models import Attempt
from dialer.runner import Runner, RunOptions
from dialer.serving import AppServer
from dialer.sim_capacity import model_cps, open_load
from dialer.sim_scratch import Template, build_template, horizon, needs_agents, reachable_members
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox import Sandbox, SandboxServer
from dialer.telephony.sandbox.behaviour import Behaviour
from dialer.telephony.sandbox.testing import SandboxHarness
from dialer.webhooks import create_app

Order = Literal["priority", "fifo"]
# Nothing new is imported during a simulation (the template is planned at the start), so the
# planner runs twice a day only; escalation every half hour (the runner's is every minute).
SIM_CADENCE = Cadence(
    step=timedelta(minutes=10),
    plan_every=timedelta(hours=12),
    slack_every=timedelta(hours=1),
    escalate_every=timedelta(minutes=30),
    drain_each_step=True,
)
SIM_SENDERS = {"TW": "+886200000001", "KR": "+8227000001", "default": "+15005550006"}


@dataclass(frozen=True)
class SimOptions:
    """One simulation: how many runs, which population, what capacity, how fine the steps."""

    runs: int = 3
    seed: int = 0
    days: float | None = None  # None: until the last open deadline
    cps: float = 1.0  # automated campaigns: the account's calls per second
    agents: int | None = None  # agent campaigns: simulated agents (None: the active agents)
    behaviour: Behaviour = field(default_factory=Behaviour)
    cadence: Cadence = field(default_factory=lambda: SIM_CADENCE)
    compare_fifo: bool = True
    search_runs: int = 3  # simulated probes for the capacity needed (0: no search)


@dataclass
class RunResult:
    """What one simulated run ended with (coverage from `dialer.coverage`)."""

    seed: int
    order: str
    cps: float
    agents: int
    members: int  # the campaign's member tasks
    members_in_time: int
    members_reachable: int  # the population's ceiling: members who answer some try
    member_coverage: float | None  # docs/definitions.md: in time / decided
    non_members: int
    non_members_in_time: int
    placed: int  # calls and SMS that left
    wall_seconds: float

    @property
    def all_reachable_covered(self) -> bool:
        return self.members_in_time >= self.members_reachable

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Needed:
    """The smallest capacity found to cover every reachable member, and how it was found."""

    unit: str  # "cps" or "agents"
    value: float | None  # None: not found within the probes
    covered_at: float | None  # smallest probe that covered every reachable member
    short_at: float | None  # largest probe that did not
    probes: list[tuple[float, bool]] = field(default_factory=list)
    reachable: int = 0  # reachable members in the first seed's population
    target: int = 0  # members the search must cover: the reachable ones any capacity reaches
    ample: float | None = None  # the ample capacity that said so, when it was probed

    def as_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "reachable_members": self.reachable,
            "target_members": self.target,
            "ample": self.ample,
            "value": self.value,
            "covered_at": self.covered_at,
            "short_at": self.short_at,
            "probes": [{"value": v, "covered": ok} for v, ok in self.probes],
        }


@dataclass
class Prediction:
    campaign: str
    start: datetime
    end: datetime
    handled_by: str
    template: Template
    runs: list[RunResult]
    fifo: list[RunResult]
    needed: Needed | None = None
    model_cps: float | None = None  # the capacity model's CPS for every member (automated)

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "handled_by": self.handled_by,
            "open_tasks": self.template.open_tasks,
            "open_member_tasks": self.template.open_members,
            "priority": summary(self.runs),
            "fifo": summary(self.fifo) if self.fifo else None,
            "runs": [r.as_json() for r in self.runs],
            "fifo_runs": [r.as_json() for r in self.fifo],
            "needed": self.needed.as_json() if self.needed else None,
            "model_cps_for_members": self.model_cps,
        }


def summary(runs: Sequence[RunResult]) -> dict[str, Any]:
    """Mean and range of member coverage (and of the rest) over the runs."""
    cov = [r.member_coverage for r in runs if r.member_coverage is not None]
    reach = [r.members_in_time / r.members_reachable for r in runs if r.members_reachable]
    non = [r.non_members_in_time / r.non_members for r in runs if r.non_members]
    return {
        "runs": len(runs),
        "member_coverage": _stats(cov),
        "reachable_members_covered": _stats(reach),
        "non_member_coverage": _stats(non),
        "all_reachable_members_covered": sum(r.all_reachable_covered for r in runs),
    }


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
    }


# ------------------------------------------------------------------------------ one run


def run_once(
    settings: Settings,
    template: Template,
    spec: CampaignSpec,
    campaigns_dir: Path,
    folder: Path,
    *,
    seed: int,
    order: Order,
    cps: float,
    agents: int | None,
    behaviour: Behaviour,
    cadence: Cadence,
    end: datetime,
) -> RunResult:
    """Copy the template, fast-forward the real runner and dispatcher to `end`, read coverage."""
    wall = _time.perf_counter()
    path = folder / f"run-{order}-{seed}-{cps:g}-{agents}.db"
    shutil.copyfile(template.path, path)
    store = Store.open(f"sqlite:///{path}", upgrade=False)
    clock = SettableClock(template.start)
    runner = Runner(settings, store, clock, RunOptions(campaigns_dir=campaigns_dir, cps=cps))
    runner.specs = [spec]
    sandbox = Sandbox(clock, behaviour, seed=seed, cps=max(cps, 1.0), mps=10.0)
    harness = SandboxHarness(sandbox, SandboxServer(sandbox).start(), clock)
    people = (
        SimulatedAgents(store, clock, spec, sandbox, count=agents, step=cadence.step, order=order)
        if needs_agents(spec)
        else None
    )
    try:
        reachable = reachable_members(
            store, spec, behaviour, seed, template.start,
            people=people is not None and people.count > 0,
        )  # fmt: skip
        app = create_app(
            store, clock, sandbox.auth_token, company=settings.company_name, one_caller=True
        )
        with AppServer(app, name="simulate-webhooks") as hooks:
            sandbox.inbound_sms_url = f"{hooks.base_url}/twilio/sms/inbound"
            config = DispatchConfig(
                worker_id=f"simulate-{order}",
                public_base_url=hooks.base_url,
                senders=settings.sender_numbers or SIM_SENDERS,
                cps=cps,
                max_in_flight=1,  # one worker: the settable clock moves in one order
                # About ten seconds of calls per claim (its SMS rate would claim a hundred, and
                # a slow account's calls would then wait hours each in a worker); the
                # fast-forward moves the clock to each next call slot.
                claim_batch=max(1, min(100, int(cps * 10))),
                company=settings.company_name,
                claim_order=order,
            )
            telephony = Telephony(
                sandbox.account_sid, sandbox.auth_token, base_url=harness.base_url
            )
            dispatcher = Dispatcher(store, clock, telephony, config)
            runner.dispatcher = dispatcher
            try:
                fast_forward(
                    runner,
                    harness,
                    end,
                    cadence,
                    each_step=people.work if people is not None else None,
                )
            finally:
                dispatcher.close()
        at = max(end, clock.now())
        with store.sessions() as session:
            report = coverage(session, CampaignBook(), at, campaign=spec.slug)
            placed = session.scalar(
                select(func.count()).select_from(Attempt).where(Attempt.provider_sid.is_not(None))
            )
        cov = report.campaigns[0]
        return RunResult(
            seed=seed,
            order=order,
            cps=cps,
            agents=people.count if people is not None else 0,
            members=sum(cov.members.values()),
            members_in_time=cov.members["in_time"],
            members_reachable=reachable,
            member_coverage=cov.member_coverage,
            non_members=sum(cov.non_members.values()),
            non_members_in_time=cov.non_members["in_time"],
            placed=int(placed or 0) + (people.calls if people is not None else 0),
            wall_seconds=_time.perf_counter() - wall,
        )
    finally:
        harness.close()
        store.close()
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------ the whole job


def simulate(
    settings: Settings,
    source: Store,
    spec: CampaignSpec,
    campaigns_dir: Path,
    options: SimOptions,
    *,
    start: datetime,
    on_run: Callable[[str, RunResult], None] | None = None,
) -> Prediction:
    """Monte Carlo runs in priority order and FIFO, then the capacity search; nothing is written
    to `source` (every database used lives in a private temporary folder, removed at the end)."""
    with tempfile.TemporaryDirectory(prefix="dialer-simulate-") as tmp:
        folder = Path(tmp)
        template = build_template(source, spec, folder / "template.db", start)
        end = horizon(template, options.days)
        prediction = Prediction(spec.slug, start, end, spec.handled_by, template, [], [])
        if spec.handled_by != "agents":
            with _opened(template.path) as scratch:
                load = open_load(scratch, spec, start)
            prediction.model_cps = model_cps(
                spec, load, start, answer_rate=options.behaviour.human, members_only=True
            )

        def one(seed: int, order: Order, cps: float, agents: int | None) -> RunResult:
            return run_once(
                settings, template, spec, campaigns_dir, folder,
                seed=seed, order=order, cps=cps, agents=agents,
                behaviour=options.behaviour, cadence=options.cadence, end=end,
            )  # fmt: skip

        for i in range(options.runs):
            seed = options.seed + i
            got = one(seed, "priority", options.cps, options.agents)
            prediction.runs.append(got)
            if on_run is not None:
                on_run("priority", got)
            if options.compare_fifo:
                fifo = one(seed, "fifo", options.cps, options.agents)
                prediction.fifo.append(fifo)
                if on_run is not None:
                    on_run("fifo", fifo)
        if options.search_runs > 0 and prediction.runs:
            prediction.needed = needed_capacity(
                spec, prediction.runs, options,
                lambda value: one(options.seed, "priority", *_capacity(spec, value, options)),
                first=prediction.model_cps,
                on_run=on_run,
            )  # fmt: skip
    return prediction


@contextmanager
def _opened(path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{path}", upgrade=False)
    try:
        yield store
    finally:
        store.close()


def _capacity(spec: CampaignSpec, value: float, options: SimOptions) -> tuple[float, int | None]:
    """(cps, agents) for one probe of the search."""
    if spec.handled_by == "agents":
        return options.cps, int(value)
    return value, options.agents


SATURATE = 8  # "ample" capacity: this many times what was simulated (agents: at least 4)


def needed_capacity(
    spec: CampaignSpec,
    runs: Sequence[RunResult],
    options: SimOptions,
    probe: Callable[[float], RunResult],
    *,
    first: float | None = None,
    on_run: Callable[[str, RunResult], None] | None = None,
) -> Needed:
    """The smallest CPS (or number of agents) at which every reachable member was covered.

    Every probe is one simulated run on the first seed's population, compared with that seed's
    run. When that run missed reachable members, one probe with ample capacity first says how
    many any capacity reaches (a try that falls after the deadline or an SMS sent too late is
    not a matter of capacity): that becomes the target. Then the capacity model's estimate
    (`first`) is tried, and the search halves (the runs covered the target), doubles (a probe
    fell short with nothing covering yet) or bisects between the two, `options.search_runs`
    probes in all. Agents are whole people, CPS is kept to three significant digits.
    """
    agents = spec.handled_by == "agents"
    base = runs[0]
    current = float(base.agents if agents else base.cps)
    needed = Needed("agents" if agents else "cps", None, None, None)
    needed.reachable = needed.target = base.members_reachable
    budget = options.search_runs

    def rounded(v: float) -> float:
        if agents:
            return float(max(1, round(v)))
        return float(f"{v:.3g}")

    def test(v: float) -> int:
        nonlocal budget
        budget -= 1
        got = probe(v)
        if on_run is not None:
            on_run("search", got)
        needed.probes.append((v, got.members_in_time >= needed.target))
        return got.members_in_time

    good: float | None = None
    bad: float | None = None
    if base.members_in_time >= needed.target:
        good = current
    else:
        bad = current
        if budget > 0:
            ample = rounded(max(current * SATURATE, 4.0) if agents else current * SATURATE)
            reached = test(ample)
            needed.target = min(needed.target, reached)
            needed.ample = ample
            needed.probes[-1] = (ample, True)
            good = ample
            if base.members_in_time >= needed.target:  # the runs' capacity was enough after all
                good, bad = current, None
    if first is not None and budget > 0:
        v = rounded(first)
        if (good is None or v < good) and (bad is None or v > bad):
            if test(v) >= needed.target:
                good = v
            else:
                bad = v
    while budget > 0:
        if good is None:
            assert bad is not None
            v = rounded(bad * 2 if not agents else max(bad + 1, bad * 2))
        elif bad is None:
            v = rounded(good / 2)
            if v >= good:
                break
        else:
            v = rounded(math.sqrt(good * bad) if not agents else (good + bad) / 2)
            if v in (good, bad) or (agents and good - bad <= 1):
                break
        if test(v) >= needed.target:
            good = v
        else:
            bad = v
    needed.covered_at, needed.short_at = good, bad
    needed.value = good
    return needed


__all__ = [
    "Needed",
    "Prediction",
    "RunResult",
    "SimOptions",
    "needed_capacity",
    "run_once",
    "simulate",
    "summary",
]
