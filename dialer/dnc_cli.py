"""`dialer dnc add | remove | import | list`: the do-not-contact list from the command line.

Numbers become E.164 with the same helpers as customer files (`--region` for numbers written
without a country code). Every change, and every `list --reveal`, is written to the audit log in
the same transaction; the log names numbers masked, since it is read more widely than the list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from dialer import audit, dnc
from dialer.config import Settings
from dialer.console import err, out, sub_app, term_safe
from dialer.errors import InputFileError, UsageError

dnc_app = sub_app("The do-not-contact list: numbers and customers never to call or text.")

Region = Annotated[
    str | None,
    typer.Option(help="Region for numbers without +country (default DIALER_DEFAULT_REGION)."),
]
MAX_BAD_SHOWN = 50


def _root(ctx: typer.Context) -> Any:
    return ctx.find_root().obj


def _region(c: Any, region: str | None) -> str:
    if not region:
        return str(c.settings.default_region)
    try:
        return Settings(default_region=region).default_region
    except ValidationError as exc:
        raise UsageError(f"--region {region!r} is not a two-letter region code") from exc


@dnc_app.command("add")
def add_cmd(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(metavar="NUMBER_OR_CUSTOMER", help="A phone number, a customer ID or #id."),
    ],
    channel: Annotated[str, typer.Option(help="voice, sms or all.")] = "all",
    reason: Annotated[str | None, typer.Option(help="Why (kept with the entry).")] = None,
    marketing_only: Annotated[
        bool,
        typer.Option("--marketing-only", help="Block marketing campaigns only, not service."),
    ] = False,
    region: Region = None,
) -> None:
    """Put a number or a customer on the list; adding it again changes nothing."""
    c = _root(ctx)
    channel = dnc.check_channel(channel)
    scope: dnc.Scope = "marketing" if marketing_only else "all"
    store, now = c.store(), c.clock.now()
    with store.transaction() as session:
        target = dnc.resolve(session, ref, _region(c, region))
        result = dnc.add(session, now, target, channel, scope, reason)
        audit.record(
            session,
            c.clock,
            c.settings.operator,
            "dnc.add",
            "do_not_contact",
            result.entry_id,
            target=target.label(),
            customer_id=target.customer_id,
            channel=channel,
            scope=scope,
            reason=reason,
            created=result.created,
            cancelled_attempts=result.cancelled,
        )
    what = f"{term_safe(target.label())} ({channel}{', marketing only' if marketing_only else ''})"
    if not result.created:
        out.print(f"{what} is already on the do-not-contact list (entry #{result.entry_id})")
        return
    extra = f"; {result.cancelled} scheduled attempt(s) cancelled" if result.cancelled else ""
    out.print(f"{what} added to the do-not-contact list (entry #{result.entry_id}){extra}")


@dnc_app.command("remove")
def remove_cmd(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(metavar="NUMBER_OR_CUSTOMER", help="A phone number, a customer ID or #id."),
    ],
    channel: Annotated[
        str | None,
        typer.Option(
            help="Only the entry for this channel (default: every entry).", show_default=False
        ),
    ] = None,
    region: Region = None,
) -> None:
    """Take a number or customer off the list (entries the customer or carrier made stay)."""
    c = _root(ctx)
    store = c.store()
    with store.transaction() as session:
        target = dnc.resolve(session, ref, _region(c, region))
        result = dnc.remove(session, target, channel)
        audit.record(
            session,
            c.clock,
            c.settings.operator,
            "dnc.remove",
            "do_not_contact",
            result.removed[0] if len(result.removed) == 1 else None,
            target=target.label(),
            customer_id=target.customer_id,
            channel=channel,
            removed=result.removed,
            kept=[entry for entry, _ in result.kept],
        )
    label = target.label()
    if result.removed:
        out.print(f"{label}: {len(result.removed)} entry(ies) removed from the do-not-contact list")
    elif not result.kept:
        out.print(f"{label} was not on the do-not-contact list; nothing removed")
    if result.kept:
        sources = ", ".join(sorted({src for _, src in result.kept}))
        out.print(
            f"{label}: {len(result.kept)} entry(ies) kept — made by {sources} (the customer's "
            "opt-out or the carrier), which only the customer can lift"
        )


@dnc_app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (UTF-8) with a header: number, and optional channel, reason, scope."
        ),
    ],
    region: Region = None,
) -> None:
    """Add every number of a CSV file; with any bad row nothing is added (lines are listed)."""
    c = _root(ctx)
    rows, bad = dnc.read_import(file, _region(c, region))
    if bad:
        for b in bad[:MAX_BAD_SHOWN]:
            err.print(f"line {b.line}: {b.reason}", highlight=False, markup=False)
        if len(bad) > MAX_BAD_SHOWN:
            err.print(f"... and {len(bad) - MAX_BAD_SHOWN} more bad line(s)")
        raise InputFileError(
            f"{len(bad)} bad line(s) in {file.name}; nothing was added — fix them and import again"
        )
    store, now = c.store(), c.clock.now()
    with store.transaction() as session:
        result = dnc.import_rows(session, now, rows)
        audit.record(
            session,
            c.clock,
            c.settings.operator,
            "dnc.import",
            "do_not_contact",
            None,
            file=str(file),
            read=result.read,
            added=result.added,
            already=result.already,
            cancelled_attempts=result.cancelled,
        )
    extra = f"; {result.cancelled} scheduled attempt(s) cancelled" if result.cancelled else ""
    out.print(
        f"{file.name}: read {result.read}  added {result.added}  already on the list "
        f"{result.already}{extra}"
    )


@dnc_app.command("list")
def list_cmd(
    ctx: typer.Context,
    reveal: Annotated[bool, typer.Option(help="Show full numbers (audited).")] = False,
    limit: Annotated[
        int, typer.Option(min=0, help="At most this many, newest first (0 = all).")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The list, newest first, numbers masked."""
    c = _root(ctx)
    store = c.store()
    with store.transaction() as session:
        total = dnc.count(session)
        items = list(dnc.entries(session, limit or None))
        if reveal:
            audit.record(
                session,
                c.clock,
                c.settings.operator,
                "dnc.reveal",
                "do_not_contact",
                None,
                rows=len(items),
            )
    if as_json:
        for e in items:
            print(
                json.dumps(
                    {
                        "id": e.id,
                        "number": e.who(reveal) if e.e164 else None,
                        "customer_id": e.customer_key,
                        "channel": e.channel,
                        "scope": e.scope,
                        "reason": e.reason,
                        "source": e.source,
                        "created_at": e.created_at.isoformat(),
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table("#", "number / customer", "channel", "scope", "reason", "source", "added (UTC)")
    for e in items:
        table.add_row(
            str(e.id),
            term_safe(e.who(reveal)),
            e.channel,
            e.scope,
            term_safe(e.reason),
            term_safe(e.source),
            f"{e.created_at:%Y-%m-%d %H:%M}",
        )
    if items:
        out.print(table)
    more = f", showing the newest {len(items)}" if len(items) < total else ""
    out.print(f"{total} entry(ies) on the do-not-contact list{more}")
