"""`dialer run`: plan, dispatch and serve the webhooks until SIGTERM or Ctrl-C (then drain).

It says where the console and the webhooks listen, then one status line a minute (the
scheduler's job, `Runner.status_tick`; `--quiet` silences it). The first signal stops it, even
during start-up: what is in flight is drained, then it exits 130 (Ctrl-C) or 0 (SIGTERM); a
second signal exits at once."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from dialer.campaign_cli import DirOption
from dialer.console import out
from dialer.console_web import PATH as CONSOLE_PATH
from dialer.errors import UsageError
from dialer.runner import ROLES, Runner, RunOptions
from dialer.serve_cli import ForOption, HostOption, PortOption, check_port, serve_command
from dialer.serving import StopRequested, StopSignal


def run_command(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    folder: DirOption = Path("campaigns"),
    watch: Annotated[
        Path | None, typer.Option(help="Import customer files dropped in this folder.")
    ] = None,
    tick: Annotated[float, typer.Option(help="Seconds between dispatch ticks.")] = 1.0,
    cps: Annotated[float, typer.Option(help="Calls per second the account may place.")] = 1.0,
    speed: Annotated[
        float, typer.Option(help="Without Twilio credentials: the sandbox's speed-up.")
    ] = 1.0,
    duration: ForOption = None,
    role: Annotated[
        str,
        typer.Option(
            help="What this process of a fleet does: all, dispatcher (claims and dials; many may "
            "share one PostgreSQL), planner (planning, escalation, assignment, triggers, "
            "reports: run once across the fleet by the lease holder) or web (the webhooks, as `dialer serve`)."
        ),
    ] = "all",
    quiet: Annotated[bool, typer.Option("--quiet", help="No status line every minute.")] = False,
    lease: Annotated[
        float,
        typer.Option(
            help="Seconds a claimed attempt stays with its dispatcher; after that another "
            "reconciles it with Twilio (a dispatcher that died) before it is dialled again."
        ),
    ] = 120.0,
    placed_grace: Annotated[
        float | None,
        typer.Option(
            help="Seconds past a placed call's or SMS's expected end before Twilio is asked "
            "about it when its final status has not come (default: DIALER_PLACED_GRACE, 30)."
        ),
    ] = None,
) -> None:
    """Run the campaigns: import, plan, dispatch, serve webhooks (the sandbox without Twilio)."""
    check_port(port)
    if role not in ROLES:
        raise UsageError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "web":
        serve_command(ctx, host=host, port=port, duration=duration)
        return
    grace_bad = placed_grace is not None and placed_grace <= 0
    if tick <= 0 or cps <= 0 or speed <= 0 or lease <= 0 or grace_bad:
        raise UsageError(
            "--tick, --cps, --speed, --lease and --placed-grace must be positive numbers"
        )
    if watch is not None and not watch.is_dir():
        raise UsageError(f"the watched folder {str(watch)!r} does not exist")
    c: Any = ctx.find_root().obj
    options = RunOptions(
        host=host, port=port, campaigns_dir=folder, watch=watch, tick_seconds=tick, speed=speed,
        cps=cps, role=role, lease=timedelta(seconds=lease),
        placed_grace=None if placed_grace is None else timedelta(seconds=placed_grace),
    )  # fmt: skip
    stop = StopSignal(force_on_second=True)
    runner = Runner(c.settings, c.store(), c.clock, options)
    runner.stopping = stop.event  # the first signal stops start-up and catch-up too
    if not quiet:
        runner.on_status = lambda line: out.print(line, highlight=False, soft_wrap=True)
    try:
        with stop.raising():
            runner.start()
    except StopRequested:
        pass
    else:
        out.print(_running_line(runner, role), highlight=False, soft_wrap=True)
    try:
        interrupted = stop.wait(duration)
    finally:
        left = runner.stop()
    st = runner.stats
    out.print(
        f"stopped: {st.ticks} ticks, {st.placed} calls/SMS placed, {st.plans} plans, "
        f"{st.imported_files} files imported, triggers fired: {', '.join(st.triggers_fired) or 'none'}"
    )
    code = 130 if interrupted else 0
    if left:  # a job still busy after the grace: its work is one transaction, done again later
        out.print(f"not waited for: {', '.join(left)} (the next start does it again)")
        out.file.flush()
        os._exit(code)  # its thread would hold the interpreter's exit
    if code:
        raise typer.Exit(code)


def _running_line(runner: Runner, role: str) -> str:
    """Where the console and the webhooks listen, and what this process dials."""
    where = "the sandbox" if runner.sandbox is not None else "Twilio"
    base = runner.webhooks.base_url if runner.webhooks else "-"
    doing = {
        "all": f"webhooks at {base}, console at {base}{CONSOLE_PATH}/, dialling {where}",
        "dispatcher": f"role dispatcher, dialling {where}",
        "planner": "role planner",
    }[role]
    public = runner.settings.public_base_url
    seen = f" (Twilio posts to {public.rstrip('/')})" if public and role == "all" else ""
    return (
        f"dialer running: {doing}{seen}, {len(runner.specs)} campaign(s); a status line every "
        "minute (--quiet: none); Ctrl-C or SIGTERM stops"
    )
