"""`dialer run`: plan, dispatch and serve the webhooks until SIGTERM or Ctrl-C (then drain)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from dialer.campaign_cli import DirOption
from dialer.console import out
from dialer.errors import UsageError
from dialer.runner import ROLES, Runner, RunOptions
from dialer.serve_cli import ForOption, HostOption, PortOption, check_port, serve_command
from dialer.serving import StopSignal


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
    stop = StopSignal()
    runner = Runner(c.settings, c.store(), c.clock, options)
    runner.start()
    where = "the sandbox" if runner.sandbox is not None else "Twilio"
    doing = {
        "all": f"webhooks at {runner.webhooks.base_url if runner.webhooks else '-'}, "
        f"dialling {where}",
        "dispatcher": f"role dispatcher, dialling {where}",
        "planner": "role planner",
    }[role]
    out.print(
        f"dialer running: {doing}, {len(runner.specs)} campaign(s); Ctrl-C or SIGTERM stops",
        highlight=False,
    )
    try:
        interrupted = stop.wait(duration)
    finally:
        runner.stop()
    st = runner.stats
    out.print(
        f"stopped: {st.ticks} ticks, {st.placed} calls/SMS placed, {st.plans} plans, "
        f"{st.imported_files} files imported, triggers fired: {', '.join(st.triggers_fired) or 'none'}"
    )
    if interrupted:
        raise typer.Exit(130)
