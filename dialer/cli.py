"""The `dialer` command line: thin commands over the service modules, one clear sentence on error.

Exit codes: 0 done; 1 failed (or a check found a problem); 2 bad usage, settings or campaign
file; 3 an input file cannot be read; 4 the database cannot be used; 5 not found;
6 `import --strict` found rejected rows; 130 interrupted.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dialer import audit
from dialer.agent_work_cli import assignments_command, call_command, outcome_command, passwd_command
from dialer.agents_cli import agents_app
from dialer.atomic_file import write_atomically
from dialer.audit_cli import audit_command
from dialer.campaign_cli import campaign_app
from dialer.cases_cli import cases_app
from dialer.clock import Clock, SystemClock
from dialer.config import Settings
from dialer.console import err, out, sub_app, term_safe
from dialer.coverage_cli import coverage_command
from dialer.customers import (
    CustomerFilter,
    count_customers,
    find_customer,
    last_service,
    list_customers,
    phone_view,
)
from dialer.demo_cli import demo_command
from dialer.dispatch_cli import (
    attempts_app,
    emergency_stop_cmd,
    pause_cmd,
    resume_all_cmd,
    resume_cmd,
    stop_cmd,
)
from dialer.dnc_cli import dnc_app
from dialer.errors import ConfigError, DialerError, UsageError
from dialer.ingest import Importer, ImportSummary, rejected_rows
from dialer.models import Customer, ImportRun
from dialer.plan_cli import plan_command
from dialer.records_cli import records_command
from dialer.report_cli import report_command
from dialer.run_cli import run_command
from dialer.sandbox_cli import sandbox_command
from dialer.serve_cli import serve_command
from dialer.simulate_cli import simulate_command
from dialer.spreadsheet import safe_cell
from dialer.store import Store, describe_url
from dialer.subdivisions import state_zones

EXIT_REJECTED = 6
PHONE_TYPE_SHORT = {"fixed_line_or_mobile": "fixed/mobile", "fixed_line": "fixed"}
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="dialer",
    help="Outbound callback campaigns: import customer files, plan callbacks, reach every member "
    "within three days, never in their rest hours.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = sub_app("The database: create or upgrade its schema.")
customers_app = sub_app("Imported customers (numbers masked).")
imports_app = sub_app("Past imports and their rejected rows.")
app.add_typer(db_app, name="db")
app.add_typer(customers_app, name="customers")
app.add_typer(imports_app, name="imports")
app.add_typer(campaign_app, name="campaign")
app.add_typer(agents_app, name="agents")
app.add_typer(cases_app, name="cases")
app.command("plan")(plan_command)
app.command("coverage")(coverage_command)
campaign_app.command("pause")(pause_cmd)
campaign_app.command("resume")(resume_cmd)
campaign_app.command("stop")(stop_cmd)
app.command("stop")(emergency_stop_cmd)
app.command("resume")(resume_all_cmd)
app.add_typer(attempts_app, name="attempts")
app.command("sandbox")(sandbox_command)
app.command("run")(run_command)
app.command("serve")(serve_command)
app.command("records")(records_command)
app.command("report")(report_command)
app.command("demo")(demo_command)
app.command("simulate")(simulate_command)
app.add_typer(dnc_app, name="dnc")
app.command("assignments")(assignments_command)
app.command("call")(call_command)
app.command("outcome")(outcome_command)
agents_app.command("passwd")(passwd_command)
app.command("audit")(audit_command)


@dataclass
class Context:
    """What every command needs, built once per invocation: settings, clock, and a lazy store."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    _store: Store | None = None

    def store(self, *, upgrade: bool = True) -> Store:
        if self._store is None:
            self._store = Store.open(
                self.settings.database_url,
                upgrade=upgrade,
                busy_timeout_ms=int(self.settings.sqlite_busy_timeout * 1000),
            )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _ctx(ctx: typer.Context) -> Context:
    obj = ctx.find_root().obj
    assert isinstance(obj, Context)
    return obj


def _version(value: bool) -> None:
    if value:
        from dialer import __version__

        out.print(f"dialer {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL, or a SQLite file path (default: DIALER_DATABASE_URL or ./dialer.db).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    overrides: dict[str, Any] = {}
    if db:
        overrides["database_url"] = db
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting DIALER_{where.upper()} is invalid: {first['msg']}") from exc
    ctx.obj = Context(settings=settings)
    ctx.call_on_close(ctx.obj.close)


# --- db ---


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the schema or bring it up to date (other commands do this on first use too)."""
    c = _ctx(ctx)
    store = c.store()
    out.print(
        f"database {describe_url(c.settings.database_url)} is at revision "
        f"{store.current_revision()}"
    )


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision without changing anything."""
    c = _ctx(ctx)
    out.print(c.store(upgrade=False).current_revision() or "empty (run `dialer db upgrade`)")


# --- import ---


def _parse_maps(maps: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in maps:
        column, sep, target = item.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise UsageError(f"--map takes COLUMN=FIELD, got {item!r}")
        result[column.strip()] = target.strip()
    return result


def sample_file() -> Path:
    """The bundled sample customer file (a Taiwanese/Korean/English mix with a few bad rows)."""
    return Path(str(resources.files("dialer") / "samples" / "customers.csv"))


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(help="Customer file: CSV, TSV or XLSX.", show_default=False),
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Import the bundled sample customer file.")
    ] = False,
    encoding: Annotated[
        str | None, typer.Option(help="Force the text encoding (utf-8, cp950, gb18030, cp949...).")
    ] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="Force the format: csv, tsv or xlsx.")
    ] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Map a header to a field: COLUMN=FIELD (repeatable; FIELD 'ignore' drops it).",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            help="Region for numbers written without +country (default DIALER_DEFAULT_REGION)."
        ),
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Write the rejected rows to this CSV file.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help=f"Exit {EXIT_REJECTED} when any row is rejected.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="End with one JSON summary object.")
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty", help="Accept an empty or header-only file (otherwise exit 3)."
        ),
    ] = False,
) -> None:
    """Import a customer file: customers, their numbers and service events (idempotent).

    Numbers without a country code are read in the row's country column, else --region, else
    the region the file clearly is in (script, encoding, which region makes its numbers valid),
    else DIALER_DEFAULT_REGION; a file whose country is not clear is refused (exit 3).
    """
    c = _ctx(ctx)
    if sample == (file is not None):
        raise UsageError("give either a FILE or --sample")
    path = sample_file() if sample else file
    assert path is not None
    default_region = c.settings.default_region
    chosen: str | None = None
    if region:
        try:
            chosen = Settings(default_region=region).default_region
        except ValidationError as exc:
            raise UsageError(f"--region {region!r} is not a two-letter region code") from exc
    overrides = _parse_maps(maps or [])
    store = c.store()
    importer = Importer(
        store,
        c.clock,
        default_region=default_region,
        region=chosen,
        allow_empty=allow_empty,
        actor=c.settings.operator,
    )
    show_bar = not as_json and err.is_terminal
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show_bar,
        transient=True,
    ) as bar:
        task = bar.add_task(f"importing {path.name}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        try:
            summary = importer.run(
                path,
                encoding=encoding,
                file_format=file_format,
                overrides=overrides,
                progress=progress,
            )
        except KeyboardInterrupt:
            err.print(
                "import interrupted; every customer written so far is complete — run the same "
                "command again to finish"
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if rejects is not None:
        _write_rejects(store, summary.run_id, rejects)
    _report_import(summary, as_json, rejects)
    if strict and summary.rejected:
        raise typer.Exit(EXIT_REJECTED)


def _report_import(summary: ImportSummary, as_json: bool, rejects: Path | None) -> None:
    if as_json:
        data = summary.as_json()
        data["rejects_file"] = str(rejects) if rejects else None
        out.print_json(data=data) if out.is_terminal else print(
            json.dumps(data, ensure_ascii=False)
        )
        return
    enc = f", {summary.encoding}" if summary.encoding else ""
    out.print(
        f"[bold]{summary.source}[/] ({summary.file_format}{enc}), import run #{summary.run_id}"
    )
    note = summary.region.note() if summary.region else None
    if note:
        out.print(f"[yellow]{escape(note)}[/]")
    out.print(
        f"read {summary.read}  imported {summary.imported}  updated {summary.updated}  "
        f"unchanged {summary.unchanged}  rejected {summary.rejected}"
        + (f" ({summary.members_rejected} members)" if summary.members_rejected else "")
        + f"  service events added {summary.events_added}"
        + f"  numbers dropped {summary.numbers_dropped}"
    )
    if summary.numbers_valid_in_both and summary.region:
        out.print(
            f"{summary.numbers_valid_in_both} number(s) are valid in {summary.region.default} "
            f"too; they were read as {summary.region.region}"
        )
    if summary.numbers_removed:
        out.print(
            f"{summary.numbers_removed} number(s) the file no longer states were removed "
            f"({summary.attempts_cancelled} scheduled attempt(s) to them cancelled)"
        )
    for dup in summary.possible_duplicates:
        out.print(
            f"possible duplicate: row {dup.row}, {dup.phone} is also the number of "
            f"{term_safe(dup.names[0])}; kept apart from {term_safe(dup.names[1])}"
        )
    if summary.ignored_columns:
        out.print(f"columns not used: {term_safe(', '.join(summary.ignored_columns))}")
    if summary.read == 0:
        out.print("[yellow]the file has no data rows: nothing was imported[/]")
    if summary.rejected or summary.numbers_dropped or summary.fields_dropped:
        where = (
            f"written to {rejects}" if rejects else f"see `dialer imports rejects {summary.run_id}`"
        )
        fields = f", {summary.fields_dropped} value(s) left out" if summary.fields_dropped else ""
        out.print(
            f"[yellow]{summary.rejected} row(s) rejected, {summary.numbers_dropped} number(s) "
            f"dropped{fields}[/]: {where}"
        )


REJECT_HEADER = ["row", "column", "value", "reason"]


def _write_rejects(store: Store, run_id: int, target: Path) -> int:
    """Rejected rows with their original cells, ready to fix and import again; written atomically."""

    def write(tmp: Path) -> int:
        count = 0
        with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            raw_header: list[str] | None = None
            for rej in rejected_rows(store, run_id):
                if raw_header is None:
                    raw_header = list(rej.raw)
                    writer.writerow(REJECT_HEADER + [safe_cell(h) for h in raw_header])
                writer.writerow(
                    [
                        safe_cell(cell)
                        for cell in (rej.row_number, rej.column or "", rej.value or "", rej.reason)
                    ]
                    + [safe_cell(rej.raw.get(h, "")) for h in raw_header]
                )
                count += 1
            if raw_header is None:
                writer.writerow(REJECT_HEADER)
        return count

    return write_atomically(target, write, what="the rejects file")


# --- imports ---


@imports_app.command("list")
def imports_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run.")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """Recent import runs, newest first."""
    from sqlalchemy import select

    c = _ctx(ctx)
    with c.store().sessions() as session:
        runs = session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)).all()
    if as_json:
        for r in runs:
            print(json.dumps(_run_json(r), ensure_ascii=False))
        return
    table = Table(
        "run",
        "started (UTC)",
        "file",
        "status",
        "read",
        "imported",
        "updated",
        "unchanged",
        "rejected",
    )
    for r in runs:
        table.add_row(
            str(r.id),
            f"{r.started_at:%Y-%m-%d %H:%M}",
            term_safe(Path(r.source_name).name),
            r.status,
            str(r.rows_read),
            str(r.rows_imported),
            str(r.rows_updated),
            str(r.rows_unchanged),
            str(r.rows_rejected),
        )
    out.print(table)


def _run_json(r: ImportRun) -> dict[str, Any]:
    return {
        "run_id": r.id,
        "source": r.source_name,
        "status": r.status,
        "started_at": r.started_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "read": r.rows_read,
        "imported": r.rows_imported,
        "updated": r.rows_updated,
        "unchanged": r.rows_unchanged,
        "rejected": r.rows_rejected,
        "members_rejected": r.members_rejected,
        "events_added": r.events_added,
        "numbers_dropped": r.numbers_dropped,
    }


@imports_app.command("rejects")
def imports_rejects(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(help="Import run number.")],
    output: Annotated[Path | None, typer.Option("--out", help="Write a CSV file instead.")] = None,
) -> None:
    """The rows one import rejected, with row number, column, value and reason."""
    from dialer.errors import NotFoundError

    c = _ctx(ctx)
    store = c.store()
    with store.sessions() as session:
        if session.get(ImportRun, run_id) is None:
            raise NotFoundError(f"there is no import run #{run_id}")
    if output is not None:
        n = _write_rejects(store, run_id, output)
        out.print(f"{n} rejected row(s) written to {output}")
        return
    table = Table("row", "column", "value", "reason")
    for rej in rejected_rows(store, run_id):
        table.add_row(
            str(rej.row_number), term_safe(rej.column), term_safe(rej.value), term_safe(rej.reason)
        )
    out.print(table)


# --- customers ---


def _audit_reveal(c: Context, store: Store, what: str, subjects: list[int]) -> None:
    with store.transaction() as session:
        audit.record(
            session,
            c.clock,
            c.settings.operator,
            "reveal_phone",
            "customer",
            subjects[0] if len(subjects) == 1 else None,
            command=what,
            customers=subjects[:1000],
            count=len(subjects),
        )


@customers_app.command("list")
def customers_list(
    ctx: typer.Context,
    members: Annotated[
        bool | None,
        typer.Option(
            "--members/--non-members", help="Only members, or only non-members.", show_default=False
        ),
    ] = None,
    search: Annotated[str | None, typer.Option(help="Part of a name or customer ID.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="At most this many (0 = all).")] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show full phone numbers (written to the audit log).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per customer.")] = False,
) -> None:
    """List customers with their first number masked, members first-class."""
    c = _ctx(ctx)
    store = c.store()
    flt = CustomerFilter(member=members, search=search, limit=limit or None, offset=offset)
    with store.sessions() as session:
        custs = list(list_customers(session, flt))
        shown = [cu.id for cu in custs]
        lines = [customer_json(cust, reveal) for cust in custs] if as_json else []
        table = None if as_json else _customers_table(session, custs, reveal)
    if reveal and shown:  # committed before a single number is printed: no entry, no numbers
        _audit_reveal(c, store, "customers list", shown)
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))
    if table is not None:
        out.print(table)


def _customers_table(session: Session, custs: list[Customer], reveal: bool) -> Table:
    last = last_service(session, [cu.id for cu in custs])
    total, member_count = count_customers(session)
    table = Table(title=f"{len(custs)} of {total} customers ({member_count} members)")
    table.add_column("customer", no_wrap=True, overflow="ellipsis", max_width=20)
    table.add_column("name", max_width=24, min_width=6)
    table.add_column("member")
    table.add_column("phone", no_wrap=True)
    table.add_column("type")
    table.add_column("time zone")
    table.add_column("lang")
    table.add_column("last service")
    for cu in custs:
        phone = cu.phones[0] if cu.phones else None
        more = f" +{len(cu.phones) - 1}" if len(cu.phones) > 1 else ""
        zones = cu.time_zones[0] if cu.time_zones else _no_zone_label(cu.subdivision, cu.region)
        if len(cu.time_zones) > 1:
            zones += f" +{len(cu.time_zones) - 1}"
        table.add_row(
            term_safe(cu.customer_key),
            term_safe(cu.name),
            "yes" if cu.member else "no",
            (phone_view(phone.e164, reveal) + more) if phone else "",
            PHONE_TYPE_SHORT.get(phone.phone_type, phone.phone_type) if phone else "",
            term_safe(zones),
            term_safe(cu.language),
            term_safe(last.get(cu.id, "")),
        )
    return table


def customer_json(cust: Customer, reveal: bool) -> dict[str, Any]:
    """The JSON shape of a customer for scripts; numbers masked unless revealed."""
    phones = [
        {
            "phone_e164": phone_view(p.e164, reveal),
            "phone_type": p.phone_type,
            "extension": p.extension,
            "time_zones": p.time_zones,
            "sms_ok": p.sms_ok,
            "voice_ok": p.voice_ok,
        }
        for p in cust.phones
    ]
    first = phones[0] if phones else {}
    return {
        "customer_id": cust.customer_key,
        "name": cust.name,
        "member": bool(cust.member),
        "phone_e164": first.get("phone_e164"),
        "phone_type": first.get("phone_type"),
        "phones_masked": not reveal,
        "phones": phones,
        "time_zones": list(cust.time_zones),
        "time_zone_explicit": cust.time_zone_explicit,
        "marketing_consent": cust.marketing_consent,
        "language": cust.language,
        "language_source": cust.language_source,
        "region": cust.region,
        "state": cust.subdivision,
        "quiet_hours": cust.quiet_hours,
    }


def _no_zone_label(state: str | None, region: str | None, long: bool = False) -> str:
    """What a customer without a zone is called in: their state's zones (a state of the
    number's country, as `windows.effective_zones` has it), else the safe window."""
    if state and state_zones(state) and (not region or state.startswith(f"{region}-")):
        return f"(none: the zones of {state}, the address)" if long else f"({state}'s zones)"
    return "(none: the safe window of its country)" if long else "(country's safe window)"


@customers_app.command("show")
def customers_show(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(help="Customer ID, #number, or one of their phone numbers.")
    ],
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show full phone numbers (written to the audit log).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One customer with all numbers and service events."""
    c = _ctx(ctx)
    store = c.store()
    with store.transaction() as session:
        cust = find_customer(session, ref, c.settings.default_region)
        audit.record(
            session,
            c.clock,
            c.settings.operator,
            "reveal_phone" if reveal else "view_customer",
            "customer",
            cust.id,
            command="customers show",
        )
        data = customer_json(cust, reveal)
        data["service_events"] = [
            {
                "service_date": e.service_date.isoformat(),
                "service_at": e.service_at.isoformat() if e.service_at else None,
                "service_type": e.service_type,
                "vehicle": e.vehicle,
                "mileage_km": e.mileage_km,
                "store": e.store,
            }
            for e in cust.events
        ]
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    out.print(
        f"[bold]{term_safe(cust.name)}[/] ({term_safe(data['customer_id'])}) — "
        f"{'member' if data['member'] else 'not a member'}"
    )
    for p in data["phones"]:
        ext = f" ext. {p['extension']}" if p["extension"] else ""
        line = f"  {p['phone_e164']}{ext}  {p['phone_type']}  {', '.join(p['time_zones'])}"
        out.print(term_safe(line))
    out.print(
        term_safe(
            f"  time zones: {', '.join(data['time_zones']) or _no_zone_label(cust.subdivision, cust.region, True)}"
            f"{' (from the file)' if data['time_zone_explicit'] else ''}"
        )
    )
    for key in ("language", "marketing_consent", "quiet_hours", "region", "state"):
        if data[key] is not None:
            source = data["language_source"] if key == "language" else None
            if key == "state":
                source = "address"
            said = {
                "file": " (from the file)",
                "number": " (from the number's country)",
                "address": " (from the address; its floor applies too)",
            }
            value = term_safe(data[key])
            out.print(f"  {key.replace('_', ' ')}: {value}{said.get(source or '', '')}")
    if data["service_events"]:
        table = Table("date", "service", "vehicle", "km", "store")
        for e in data["service_events"]:
            table.add_row(
                e["service_date"],
                term_safe(e["service_type"]),
                term_safe(e["vehicle"]),
                str(e["mileage_km"] or ""),
                term_safe(e["store"]),
            )
        out.print(table)


def main() -> None:
    """Entry point: run the app and turn every expected failure into one sentence and an exit code."""
    try:
        app()
    except DialerError as exc:
        err.print(f"[red]error:[/] {term_safe(exc)}", highlight=False)
        sys.exit(exc.exit_code)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        err.print(f"[red]error:[/] the database refused the operation: {first}", highlight=False)
        sys.exit(4)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        if os.environ.get("DIALER_DEBUG"):
            raise
        err.print(
            f"[red]internal error:[/] {type(exc).__name__}: {exc} "
            "(set DIALER_DEBUG=1 for the traceback and please report it)",
            highlight=False,
        )
        sys.exit(1)
