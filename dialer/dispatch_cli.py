"""Operator commands over dispatching: pause/resume/stop a campaign, the emergency stop, attempts.

`dialer campaign pause|resume|stop NAME` (mounted on the campaign group), `dialer stop --all`,
`dialer resume --all` and `dialer attempts list`. Every change is written to the audit log;
phone numbers are masked unless `--reveal` (audited too).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select, update

from dialer import audit
from dialer.console import out, sub_app, term_safe
from dialer.dispatcher import resume_all, stop_all
from dialer.errors import NotFoundError, UsageError
from dialer.models import Attempt, CallbackTask, Campaign, CampaignStatus, Customer
from dialer.phones import mask_phone
from dialer.telephony.setup import telephony_from_settings

attempts_app = sub_app("Calls and SMS placed or scheduled for callback tasks (numbers masked).")


def _root(ctx: typer.Context) -> Any:
    return ctx.find_root().obj


def _set_status(ctx: typer.Context, name: str, status: CampaignStatus) -> None:
    c = _root(ctx)
    store, now, actor = c.store(), c.clock.now(), c.settings.operator
    with store.transaction() as session:
        row = session.scalar(select(Campaign).where(Campaign.slug == name))
        if row is None:
            raise NotFoundError(
                f"no planned campaign named {name!r}; run `dialer plan {name}` first"
            )
        if row.status == CampaignStatus.STOPPED and status != CampaignStatus.STOPPED:
            raise UsageError(f"campaign {name!r} was stopped; a stopped campaign stays stopped")
        before = row.status
        row.status, row.updated_at = status, now
        cancelled = 0
        if status == CampaignStatus.STOPPED:
            cancelled = session.execute(
                update(CallbackTask)
                .where(
                    CallbackTask.campaign_id == row.id,
                    CallbackTask.state.in_(("pending", "in_progress")),
                    CallbackTask.next_attempt_at.is_not(None),
                )
                .values(state="cancelled", next_attempt_at=None, updated_at=now)
            ).rowcount
        audit.record(session, c.clock, actor, f"campaign.{status}", "campaign", name, before=before)
    extra = f"; {cancelled} waiting task(s) cancelled" if status == CampaignStatus.STOPPED else ""
    out.print(f"campaign {name}: {before} → {status}{extra}")


def pause_cmd(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Campaign slug.")]
) -> None:
    """Pause a campaign: no new call or SMS leaves until it is resumed."""
    _set_status(ctx, name, CampaignStatus.PAUSED)


def resume_cmd(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Campaign slug.")]
) -> None:
    """Resume a paused campaign."""
    _set_status(ctx, name, CampaignStatus.ACTIVE)


def stop_cmd(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Campaign slug.")]
) -> None:
    """Stop a campaign for good: its waiting attempts are cancelled."""
    _set_status(ctx, name, CampaignStatus.STOPPED)


def emergency_stop_cmd(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Stop every campaign now.")] = False,
) -> None:
    """Emergency stop: no new request leaves within a second; queued calls are cancelled."""
    if not all_:
        raise UsageError("say `dialer stop --all` (or `dialer campaign stop NAME` for one)")
    c = _root(ctx)
    store = c.store()
    telephony = telephony_from_settings(c.settings, required=False)
    result = stop_all(store, c.clock, telephony, c.settings.operator)
    with store.transaction() as session:
        audit.record(session, c.clock, c.settings.operator, "dispatch.halt", None, None, **result)
    note = "" if telephony else " (no Twilio credentials here: nothing to cancel remotely)"
    out.print(
        f"emergency stop on: {result['cancelled']} of {result['queued_calls']} queued call(s) "
        f"cancelled{note}; `dialer resume --all` lifts it"
    )


def resume_all_cmd(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Lift the emergency stop.")] = False,
) -> None:
    """Lift the emergency stop."""
    if not all_:
        raise UsageError("say `dialer resume --all` (or `dialer campaign resume NAME` for one)")
    c = _root(ctx)
    resume_all(c.store(), c.clock, c.settings.operator)
    with c.store().transaction() as session:
        audit.record(session, c.clock, c.settings.operator, "dispatch.resume", None, None)
    out.print("emergency stop lifted")


@attempts_app.command("list")
def attempts_list(
    ctx: typer.Context,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign (slug).")] = None,
    state: Annotated[str | None, typer.Option(help="Only attempts in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    reveal: Annotated[bool, typer.Option(help="Show full numbers (audited).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Attempts, newest first: channel, number (masked), state, provider status, times."""
    c = _root(ctx)
    store = c.store()
    query = (
        select(Attempt, Customer.customer_key, Campaign.slug)
        .join(CallbackTask, CallbackTask.id == Attempt.task_id)
        .join(Customer, Customer.id == CallbackTask.customer_id)
        .join(Campaign, Campaign.id == CallbackTask.campaign_id)
        .order_by(Attempt.id.desc())
        .limit(limit)
    )
    if campaign:
        query = query.where(Campaign.slug == campaign)
    if state:
        query = query.where(Attempt.state == state)
    with store.transaction() as session:
        rows = session.execute(query).all()
        if reveal:
            audit.record(
                session, c.clock, c.settings.operator, "attempts.reveal", None, None, rows=len(rows)
            )
    table = Table(
        "id", "campaign", "customer", "#", "channel", "to", "state", "status", "placed (UTC)"
    )
    for a, key, slug in rows:
        number = (a.phone_e164 if reveal else mask_phone(a.phone_e164)) if a.phone_e164 else ""
        if as_json:
            print(
                json.dumps(
                    {
                        "id": a.id,
                        "campaign": slug,
                        "customer_id": key,
                        "number": a.number,
                        "channel": a.channel,
                        "to": number,
                        "state": a.state,
                        "provider_status": a.provider_status,
                        "error_code": a.error_code,
                        "placed_at": a.placed_at.isoformat() if a.placed_at else None,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            table.add_row(
                str(a.id),
                slug,
                term_safe(key),
                str(a.number),
                a.channel,
                number,
                a.state,
                a.provider_status or "",
                f"{a.placed_at:%Y-%m-%d %H:%M:%S}" if a.placed_at else "",
            )
    if not as_json:
        out.print(table)
