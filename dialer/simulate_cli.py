"""`dialer simulate CAMPAIGN`: will we make it? Predicted member coverage before a run.

Prints the predicted member coverage (mean and range over the Monte Carlo runs) in
docs/definitions.md's priority order and first in, first out, the reachable members covered,
non-members too, and the CPS (or agents) that covered every reachable member. The operator's
database is only read (and the reading audited: the simulation copies customer data into a private
temporary file).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields, replace
from datetime import UTC, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dialer import audit
from dialer.campaign_cli import DirOption
from dialer.campaign_files import campaign_path
from dialer.campaigns import CampaignSpec, load_campaign
from dialer.console import err, out
from dialer.coverage_cli import parse_at
from dialer.errors import NotFoundError, UsageError
from dialer.simulate import SIM_CADENCE, Prediction, RunResult, SimOptions, simulate, summary
from dialer.telephony.sandbox.behaviour import Behaviour

CALL_MIX = ("human", "busy", "no_answer", "machine", "failed")


def find_campaign(name: str, folder: Path) -> CampaignSpec:
    """The campaign file `<folder>/<name>.toml` (or a path to one); NotFoundError when absent."""
    path = campaign_path(name, folder)
    if not path.is_file():
        raise NotFoundError(f"there is no campaign {name!r} (looked for {path})")
    return load_campaign(path)


def behaviour_from(
    population: Path | None,
    answer_rate: float | None,
    call_later_rate: float | None,
    sms_reply_rate: float | None,
) -> Behaviour:
    """The default customers (docs/definitions.md), changed by a TOML of Behaviour's fields,
    then by the flags.

    `--answer-rate` sets the share of calls a person answers; busy, no answer, machine and
    failed keep their proportions in the rest.
    """
    b = Behaviour()
    if population is not None:
        try:
            raw = tomllib.loads(population.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read the population file {population}: {exc}") from exc
        known = {f.name for f in fields(Behaviour)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UsageError(
                f"the population file {population} has unknown keys {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {
            k: (tuple(map(tuple, v)) if k == "sms_replies" else tuple(v))
            if isinstance(v, list)
            else v
            for k, v in raw.items()
        }
        b = _checked(lambda: replace(b, **values), str(population))
    if answer_rate is not None:
        rest = [getattr(b, k) for k in CALL_MIX[1:]]
        total = sum(rest) or 1.0
        scaled = {k: (1 - answer_rate) * v / total for k, v in zip(CALL_MIX[1:], rest, strict=True)}
        if not sum(rest):
            scaled["no_answer"] = 1 - answer_rate
        b = _checked(lambda: replace(b, human=answer_rate, **scaled), "--answer-rate")
    if call_later_rate is not None:
        b = _checked(lambda: replace(b, call_later=call_later_rate), "--call-later-rate")
    if sms_reply_rate is not None:
        b = _checked(lambda: replace(b, sms_reply=sms_reply_rate), "--sms-reply-rate")
    return b


def _checked(make: Any, where: str) -> Behaviour:
    try:
        got = make()
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where}: {exc}") from exc
    assert isinstance(got, Behaviour)
    return got


def _pct(stats: dict[str, float] | None) -> str:
    if stats is None:
        return "—"
    mean, lo, hi = stats["mean"] * 100, stats["min"] * 100, stats["max"] * 100
    return f"{mean:.1f}%" if abs(hi - lo) < 0.05 else f"{mean:.1f}% ({lo:.1f}–{hi:.1f}%)"


def _reach(runs: list[RunResult]) -> str:
    if not runs:
        return "—"
    covered = [r.members_in_time for r in runs]
    reachable = [r.members_reachable for r in runs]
    full = sum(r.all_reachable_covered for r in runs)
    return (
        f"{min(covered)}–{max(covered)} of {min(reachable)}–{max(reachable)}"
        if len(set(covered)) > 1 or len(set(reachable)) > 1
        else f"{covered[0]} of {reachable[0]}"
    ) + f" (all in {full}/{len(runs)} runs)"


def render(p: Prediction, options: SimOptions) -> None:
    t = p.template
    out.print(
        f"[bold]{p.campaign}[/bold]: {len(p.runs)} simulated run(s) from "
        f"{p.start.astimezone(UTC):%Y-%m-%d %H:%M} to {p.end.astimezone(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{t.open_tasks} open task(s), {t.open_members} for members"
    )
    people = p.runs[0].agents if p.runs else 0
    capacity = " and ".join(
        [*([] if p.handled_by == "agents" else [f"{options.cps:g} call(s)/s"]),
         *([f"{people} simulated agent(s)"] if people or p.handled_by == "agents" else [])]
    )  # fmt: skip
    b = options.behaviour
    out.print(
        f"capacity: {capacity}; customers: {b.human:.0%} answer a call, {b.sms_reply:.0%} reply "
        "to an SMS (the sandbox's seeded population)"
    )
    when = "the last deadline" if options.days is None else f"{options.days:g} day(s)"
    table = Table(title=f"predicted after {when}", title_justify="left")
    table.add_column("")
    table.add_column("deadline-aware (members, then least slack)")
    if p.fifo:
        table.add_column("first in, first out (file order)")
    pri, fifo = summary(p.runs), summary(p.fifo) if p.fifo else None
    rows = [
        ("member coverage", "member_coverage"),
        ("reachable members covered", "reachable_members_covered"),
        ("non-member coverage", "non_member_coverage"),
    ]
    for label, key in rows:
        cells = [label, _pct(pri[key])]
        if fifo is not None:
            cells.append(_pct(fifo[key]))
        table.add_row(*cells)
    cells = ["members reached in time", _reach(p.runs)]
    if p.fifo:
        cells.append(_reach(p.fifo))
    table.add_row(*cells)
    out.print(table)
    out.print(
        "member coverage = members reached by their deadline ÷ member tasks decided (docs/definitions.md); "
        "reachable = members who answer one of the campaign's tries in that run's population"
    )
    n = p.needed
    if n is not None:
        unit = "agent(s)" if n.unit == "agents" else "call(s)/s"
        tried = ", ".join(f"{v:g}{'✓' if ok else '✗'}" for v, ok in n.probes) or "none"
        goal = "every reachable member"
        if n.target < n.reachable and n.ample is not None:
            goal = (
                f"the {n.target} of {n.reachable} reachable members that ample capacity "
                f"({n.ample:g} {unit}) reaches (the rest are not reached in time even then)"
            )
        if n.value is not None:
            per_min = f" ({n.value * 60:.2g} calls a minute)" if n.unit == "cps" else ""
            short = f"; {n.short_at:g} fell short" if n.short_at is not None else ""
            out.print(
                f"needed to cover {goal}: {n.value:g} {unit}{per_min}{short} (probes: {tried})"
            )
        else:
            out.print(
                f"needed to cover {goal}: more than {n.short_at:g} {unit} "
                f"(probes: {tried}; raise --search-runs to look further)"
            )
    if p.model_cps is not None:
        out.print(
            f"the capacity model's rate for every member's expected calls: {p.model_cps:.3g} call(s)/s"
        )


def simulate_command(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign slug, or the path of its .toml file.")],
    runs: Annotated[int, typer.Option(min=1, max=100, help="Monte Carlo runs (seeds).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the first run's population.")] = 0,
    cps: Annotated[
        float, typer.Option(min=0.0001, max=1000, help="Calls per second (automated campaigns).")
    ] = 1.0,
    agents: Annotated[
        int | None,
        typer.Option(
            min=0, max=10000, help="Simulated agents (agent campaigns; default: the active ones)."
        ),
    ] = None,
    days: Annotated[
        float | None,
        typer.Option(min=0.1, max=45, help="Days to simulate (default: to the last deadline)."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Simulated start (ISO with offset, or 'YYYY-MM-DD HH:MM Zone/Name')."),
    ] = None,
    answer_rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Share of calls a person answers.")
    ] = None,
    call_later_rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Share of answerers who ask for later.")
    ] = None,
    sms_reply_rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Share of SMS that get a reply.")
    ] = None,
    population: Annotated[
        Path | None,
        typer.Option(help="TOML of the sandbox population's rates (Behaviour's field names)."),
    ] = None,
    fifo: Annotated[
        bool, typer.Option("--fifo/--no-fifo", help="Also run first in, first out.")
    ] = True,
    search_runs: Annotated[
        int,
        typer.Option(min=0, max=20, help="Simulated probes for the capacity needed (0: none)."),
    ] = 3,
    step: Annotated[
        float, typer.Option(min=1, max=60, help="Minutes of simulated time per step.")
    ] = 10,
    folder: DirOption = Path("campaigns"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Predict member coverage by the deadline: Monte Carlo runs of the real planner, gate and
    dispatcher on a scratch copy against the sandbox, also first in, first out, and the CPS or
    agents needed to cover every reachable member."""
    c: Any = ctx.find_root().obj
    spec = find_campaign(campaign, folder)
    behaviour = behaviour_from(population, answer_rate, call_later_rate, sms_reply_rate)
    begin = parse_at(start) if start else c.clock.now()

    options = SimOptions(
        runs=runs,
        seed=seed,
        days=days,
        cps=cps,
        agents=agents,
        behaviour=behaviour,
        cadence=replace(SIM_CADENCE, step=timedelta(minutes=step)),
        compare_fifo=fifo,
        search_runs=search_runs,
    )
    store = c.store()
    with store.transaction() as session:
        audit.record(
            session, c.clock, c.settings.operator, "simulate", "campaign", spec.slug,
            runs=runs, seed=seed, cps=cps, agents=agents,
        )  # fmt: skip

    def progress(kind: str, r: RunResult) -> None:
        if not as_json:
            cov = "—" if r.member_coverage is None else f"{r.member_coverage:.1%}"
            capacity = (
                f"{r.agents} agents"
                if spec.handled_by == "agents"
                else f"{r.cps:g} cps" + (f", {r.agents} agents" if r.agents else "")
            )
            err.print(
                f"  {kind} run, seed {r.seed}, {capacity}: member coverage {cov}, "
                f"{r.members_in_time}/{r.members_reachable} reachable members "
                f"({r.wall_seconds:.0f} s)"
            )

    prediction = simulate(c.settings, store, spec, folder, options, start=begin, on_run=progress)
    if as_json:
        print(json.dumps(prediction.as_json(), ensure_ascii=False, default=str))
    else:
        render(prediction, options)


__all__ = ["behaviour_from", "find_campaign", "simulate_command"]
