"""`dialer audit`: who saw or changed customer data, when, and what (the audit log)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from dialer import audit
from dialer.console import out, term_safe
from dialer.errors import UsageError


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since takes an ISO date or date-time, got {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def audit_command(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option(help="Only this actor (agent or operator).")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. phone_reveal, outcome_record.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this instant (ISO; UTC without offset).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries.", min=1)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The audit log, newest first: every view of a customer's record or number, every export
    and every change (numbers in it are masked)."""
    c: Any = ctx.find_root().obj
    with c.store().transaction() as session:
        rows = audit.entries(session, since=_since(since), actor=actor, action=action, limit=limit)
        data: list[dict[str, Any]] = [
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
             "subject": f"{e.subject_type or ''} {e.subject_id or ''}".strip(), "detail": e.detail}
            for e in rows
        ]  # fmt: skip
    if as_json:
        for row in data:
            print(json.dumps(row, ensure_ascii=False, default=str))
        return
    table = Table(title=f"audit log: {len(data)} entr{'y' if len(data) == 1 else 'ies'}")
    for col in ("at (UTC)", "actor", "action", "subject", "detail"):
        table.add_column(col)
    for row in data:
        detail = ", ".join(f"{k}={v}" for k, v in row["detail"].items() if v is not None)
        table.add_row(
            row["at"][:19],
            term_safe(row["actor"]),
            row["action"],
            row["subject"],
            term_safe(detail),
        )
    out.print(table)
