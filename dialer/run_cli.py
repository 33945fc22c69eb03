"""`dialer run`: plan, dispatch and serve the webhooks until SIGTERM or Ctrl-C (then drain)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dialer.console import out
from dialer.errors import UsageError
from dialer.runner import Runner, RunOptions
from dialer.serve_cli import ForOption, HostOption, PortOption, check_port
from dialer.serving import StopSignal


def run_command(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    folder: Annotated[
        Path,
        typer.Option(
            "--dir",
            envvar="DIALER_CAMPAIGNS_DIR",
            help="Folder of campaign files (default: DIALER_CAMPAIGNS_DIR or ./campaigns).",
            show_default=False,
        ),
    ] = Path("campaigns"),
    watch: Annotated[
        Path | None, typer.Option(help="Import customer files dropped in this folder.")
    ] = None,
    tick: Annotated[float, typer.Option(help="Seconds between dispatch ticks.")] = 1.0,
    cps: Annotated[float, typer.Option(help="Calls per second the account may place.")] = 1.0,
    speed: Annotated[
        float, typer.Option(help="Without Twilio credentials: the sandbox's speed-up.")
    ] = 1.0,
    duration: ForOption = None,
) -> None:
    """Run the campaigns: import, plan, dispatch, serve webhooks (the sandbox without Twilio)."""
    check_port(port)
    if tick <= 0 or cps <= 0 or speed <= 0:
        raise UsageError("--tick, --cps and --speed must be positive numbers")
    if watch is not None and not watch.is_dir():
        raise UsageError(f"the watched folder {str(watch)!r} does not exist")
    c: Any = ctx.find_root().obj
    options = RunOptions(
        host=host, port=port, campaigns_dir=folder, watch=watch, tick_seconds=tick, speed=speed,
        cps=cps,
    )  # fmt: skip
    stop = StopSignal()
    runner = Runner(c.settings, c.store(), c.clock, options)
    runner.start()
    assert runner.webhooks is not None
    where = "the sandbox" if runner.sandbox is not None else "Twilio"
    out.print(
        f"dialer running: webhooks at {runner.webhooks.base_url}, dialling {where}, "
        f"{len(runner.specs)} campaign(s); Ctrl-C or SIGTERM stops",
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
