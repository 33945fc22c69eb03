"""`dialer demo`: three days of the after-service campaign in about a minute, on the sandbox,
with a sample team of simulated agents calling the customers the IVR and SMS did not reach."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dialer.attempts import CampaignBook
from dialer.console import err, out
from dialer.coverage import CoverageReport, coverage
from dialer.coverage_cli import parse_at, render_coverage_table, render_listed
from dialer.coverage_lists import Listed, listed
from dialer.demo import DemoOptions, DemoProgress, database_is_empty, demo_start, run_demo
from dialer.errors import UsageError
from dialer.store import Store, describe_url

DEMO_DB = "dialer-demo.db"
BREACHED_SHOWN = 10  # the demo's last lines name this many breached members, and how many more
REDRAW = 0.25  # seconds of real time between two drawings of the progress bar


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) and url != prefix else None


def _fresh_demo_db(folder: Path) -> str:
    """Remove the previous demo database (and its WAL files) and return its URL."""
    path = folder / DEMO_DB
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _breached_table(report: CoverageReport, breached: list[Listed], db_arg: str) -> None:
    """The demo's breached members and why: what was tried, what holds them now."""
    total = sum(cov.members["breached"] for cov in report.campaigns)
    if not total:
        out.print("no member breached its deadline")
        return
    out.print(f"{total} member(s) breached their deadline — what was tried and why:")
    render_listed(breached, empty="")
    if total > len(breached):
        out.print(
            f"… and {total - len(breached)} more: dialer --db {db_arg} coverage --list breached"
        )


def demo_command(
    ctx: typer.Context,
    customers: Annotated[
        int, typer.Option(min=1, max=50000, help="Customers in the generated sample file.")
    ] = 2000,
    days: Annotated[
        float, typer.Option(min=0.1, max=14, help="Days of campaign time to fast-forward.")
    ] = 3.0,
    seed: Annotated[int, typer.Option(help="Seed of the sample file and of the sandbox.")] = 6,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="Simulated start (ISO with offset, or 'YYYY-MM-DD HH:MM Zone/Name'); default: "
            "DAYS before now, so that the run ends now.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the after-service campaign on a generated customer file against the sandbox, with a
    sample team of simulated agents for what needs a person, fast-forwarding three days in about
    a minute; then show coverage and write the report."""
    c: Any = ctx.find_root().obj
    named = ctx.find_root().params.get("db")
    if named:
        url = c.settings.database_url
        sqlite = _sqlite_file(url)
        existed = sqlite is None or sqlite.exists()  # a server database is never removed
        probe = Store.open(url, upgrade=False)
        try:
            empty = database_is_empty(probe)
        finally:
            probe.close()
        if not empty:
            raise UsageError(
                f"the database {describe_url(url)} already holds customers or tasks; the demo "
                "only runs on a new or empty database (leave out --db to use ./dialer-demo.db)"
            )
        folder = sqlite.resolve().parent if sqlite is not None else Path.cwd()
    else:
        folder = Path.cwd()
        url = _fresh_demo_db(folder)
        sqlite, existed = folder / DEMO_DB, False
    # What this run writes, removed again when it is interrupted (Ctrl-C).
    wrote: list[Path] = [] if existed or sqlite is None else _sqlite_files(sqlite)
    c.settings = c.settings.model_copy(update={"database_url": url})
    begin = parse_at(start) if start else demo_start(c.clock.now(), days)
    store = c.store()
    try:
        _run_and_show(c, store, url, named, folder, begin, customers, days, seed, start, wrote)
    except KeyboardInterrupt:
        store.close()
        removed = [p.name for p in wrote if p.exists()]
        for path in wrote:
            path.unlink(missing_ok=True)
        kept = "" if not existed else f"; the database {describe_url(url)} was there before: kept"
        err.print(
            f"interrupted: removed what the demo wrote ({', '.join(removed) or 'nothing yet'})"
            f"{kept}",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None


def _sqlite_files(path: Path) -> list[Path]:
    return [path, *(Path(f"{path}{end}") for end in ("-wal", "-shm", "-journal"))]


def _run_and_show(
    c: Any, store: Store, url: str, named: Any, folder: Path, begin: datetime, customers: int,
    days: float, seed: int, start: str | None, wrote: list[Path],
) -> None:  # fmt: skip
    """The run, its progress bar and its last lines (coverage, the breached, where things are)."""
    out.print(
        f"dialer demo: {customers} generated customers, {days:g} day(s) of campaign time from "
        f"{begin.astimezone(UTC):%Y-%m-%d %H:%M} UTC, the sandbox as Twilio (seed {seed})\n"
        f"database: {describe_url(url)}"
    )
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    # Drawn a few times a second of real time, not at every step: rendering the bar and
    # counting the totals are not the demo's work.
    with Progress(*columns, console=err, transient=False, auto_refresh=False) as bar:
        job = bar.add_task("importing and planning", total=days * 86400, counts="")
        bar.refresh()
        drawn = c.clock.monotonic()

        def step(p: DemoProgress) -> None:
            nonlocal drawn
            if c.clock.monotonic() - drawn < REDRAW and p.elapsed < p.total:
                return
            drawn = c.clock.monotonic()
            n = p.counts()
            bar.update(
                job,
                completed=p.elapsed,
                description=f"{p.now.astimezone(UTC):%a %Y-%m-%d %H:%M} UTC",
                counts=f"{n.tasks} tasks, {n.placed} calls/SMS placed, {n.agent_calls} agent "
                f"calls, {n.reached} reached",
            )
            bar.refresh()

        result = run_demo(
            c.settings, store, folder, DemoOptions(customers=customers, days=days, seed=seed),
            start=begin, on_step=step, wrote=wrote,
        )  # fmt: skip
    imp = result.imported
    out.print(
        f"imported {imp.imported} customers, {imp.rejected} bad rows rejected "
        f"(see `dialer imports rejects {imp.run_id}`); {result.tasks} tasks, "
        f"{result.placed} calls/SMS placed, {result.agent_calls} calls by agents, "
        f"{result.reached} customers reached\n"
        f"agents: {len(result.agents)} from the sample team ({', '.join(result.agents)}) worked "
        "what the IVR and SMS did not reach; see the report's agent performance"
    )
    # Ended now: the table as `dialer coverage` shows it from now on (the real clock has moved on
    # by the run's own minute); a chosen start: as it stood at the run's end.
    ended_at = result.end if start else c.clock.now()
    with store.sessions() as session:
        book = CampaignBook()
        report = coverage(session, book, ended_at)
        breached = listed(
            session, book, ended_at, "breached", members_only=True, limit=BREACHED_SHOWN
        )
    render_coverage_table(report)
    db_arg = url if named else f"sqlite:///{DEMO_DB}"
    _breached_table(report, breached, db_arg)
    for slug, path in result.reports.items():
        out.print(f"summary report ({slug}): {path.resolve()}")
    out.print(f"database: {describe_url(url)}")
    ended = f"{result.end.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if start:  # a chosen start: the run ended at its own instant, not now
        out.print(
            f"explore it: dialer --db {db_arg} coverage|report ... --at '{ended}' (the demo's "
            f"clock stopped then), dialer --db {db_arg} records ..."
        )
    else:
        out.print(
            f"explore it: dialer --db {db_arg} coverage|records|report ... "
            f"(the demo's {days:g} day(s) ended now, at {ended})"
        )


__all__ = ["demo_command"]
