"""The callback record (回訪記錄表): one row per attempt, for the screen and for export files.

docs/definitions.md asks that every callback is recorded completely and that customer data stays
confidential, so this module is the one place that turns `attempts` (with their task, customer,
campaign, outcome and agent) into flat rows: numbers masked unless asked otherwise, times in UTC
and in the customer's own zone, and rows streamed in keyset batches so a campaign with a million
attempts is exported in bounded memory. Writing files (CSV, XLSX) lives here too because both
formats must pass every text cell through `safe_cell` (no formula injection) and be written
atomically; the command (`records_cli`) only wires options, the audit entry and the output.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dialer.atomic_file import write_atomically
from dialer.campaigns import CampaignSpec
from dialer.errors import NotFoundError
from dialer.models import Agent, Attempt, CallbackTask, Campaign, Customer, Outcome
from dialer.phones import mask_phone
from dialer.spreadsheet import safe_cell

BATCH_TASKS: Final = 500
"""Tasks per keyset batch; a task has a handful of attempts, so a batch is a few thousand rows."""
FALLBACK_ZONE: Final = "Asia/Taipei"


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@dataclass(frozen=True, slots=True)
class RecordRow:
    """One attempt as the callback record shows it; field order is the export's column order."""

    task: int
    attempt: int
    """The nth attempt of its task (placed time, else creation time, then id)."""
    attempt_id: int
    campaign: str
    customer_id: str
    """The customer ID from the customer file (a `tel-…` key when the file had none)."""
    customer_ref: int
    """The internal customer id (`#id` in `dialer customers show`)."""
    customer_name: str
    member: bool
    channel: str
    phone: str
    """Masked unless the rows were built with reveal=True."""
    status: str
    provider_status: str
    placed_at: str
    """UTC, ISO 8601 with +00:00; empty for attempts never placed."""
    time_zone: str
    local_time: str
    """`placed_at` in `time_zone`, ISO 8601 with the offset in force that day (DST-correct)."""
    outcome: str
    answer: str
    reason: str
    digits: str
    note: str
    answered_by: str
    duration_seconds: int | None
    agent: str
    error: str

    def cells(self) -> tuple[Any, ...]:
        return astuple(self)


COLUMNS: Final[tuple[str, ...]] = tuple(f.name for f in fields(RecordRow))


@dataclass(frozen=True, slots=True)
class Window:
    """Attempts whose time (placed, else created) falls in [since, until); None = unbounded."""

    since: datetime | None = None
    until: datetime | None = None


def find_campaign(session: Session, slug: str) -> tuple[int, str]:
    """The campaign's id and default time zone, or NotFoundError (exit 5) with what to do."""
    row = session.execute(
        select(Campaign.id, Campaign.definition).where(Campaign.slug == slug)
    ).first()
    if row is None:
        raise NotFoundError(f"no planned campaign named {slug!r}; run `dialer plan {slug}` first")
    return int(row.id), _default_zone(row.definition or {}, slug)


def _default_zone(definition: dict[str, Any], slug: str) -> str:
    zone = definition.get("default_time_zone")
    if isinstance(zone, str) and zone:
        return zone
    try:  # an older definition without the key: let the model supply its default
        return str(CampaignSpec.from_definition(definition, slug=slug).default_time_zone)
    except Exception:  # noqa: BLE001 - a broken stored definition must not stop the record
        return FALLBACK_ZONE


def _when() -> ColumnElement[datetime]:
    return func.coalesce(Attempt.placed_at, Attempt.created_at)


def _conditions(campaign_id: int, window: Window) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [CallbackTask.campaign_id == campaign_id]
    if window.since is not None:
        conds.append(_when() >= window.since)
    if window.until is not None:
        conds.append(_when() < window.until)
    return conds


def count_records(session: Session, campaign_id: int, window: Window = Window()) -> int:
    """How many rows the record has, so a limited screen can say how many it left out."""
    n = session.scalar(
        select(func.count())
        .select_from(Attempt)
        .join(CallbackTask, CallbackTask.id == Attempt.task_id)
        .where(*_conditions(campaign_id, window))
    )
    return int(n or 0)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def iter_records(
    session: Session,
    campaign_id: int,
    slug: str,
    default_zone: str,
    *,
    reveal: bool = False,
    window: Window = Window(),
    batch_tasks: int = BATCH_TASKS,
) -> Iterator[RecordRow]:
    """Every attempt of the campaign, by task then attempt number, in keyset batches of tasks.

    Batches are cut by task (not by attempt) so each task's attempts are numbered from all of
    them, even when the window shows only some; only plain columns are selected, so nothing
    piles up in the session's identity map over a million rows.
    """
    conds = _conditions(campaign_id, window)
    last = 0
    while True:
        task_ids = list(
            session.scalars(
                select(Attempt.task_id)
                .join(CallbackTask, CallbackTask.id == Attempt.task_id)
                .where(*conds, Attempt.task_id > last)
                .group_by(Attempt.task_id)
                .order_by(Attempt.task_id)
                .limit(batch_tasks)
            )
        )
        if not task_ids:
            return
        last = task_ids[-1]
        yield from _batch(session, task_ids, slug, default_zone, reveal, window)


def _batch(
    session: Session,
    task_ids: Sequence[int],
    slug: str,
    default_zone: str,
    reveal: bool,
    window: Window,
) -> Iterator[RecordRow]:
    agent_id = func.coalesce(Attempt.agent_id, Outcome.agent_id, CallbackTask.agent_id)
    rows = session.execute(
        select(
            Attempt.id,
            Attempt.task_id,
            Attempt.channel,
            Attempt.phone_e164,
            Attempt.state,
            Attempt.provider_status,
            Attempt.placed_at,
            Attempt.created_at,
            Attempt.answered_by,
            Attempt.duration_seconds,
            Attempt.error_message,
            Customer.id.label("customer_ref"),
            Customer.customer_key,
            Customer.external_id,
            Customer.name,
            Customer.member,
            Customer.time_zones,
            CallbackTask.outcome.label("task_outcome"),
            Outcome.name.label("outcome_name"),
            Outcome.attempt_id.label("outcome_attempt"),
            Outcome.answer,
            Outcome.reason,
            Outcome.digits,
            Outcome.note,
            Agent.display_name.label("agent"),
        )
        .join(CallbackTask, CallbackTask.id == Attempt.task_id)
        .join(Customer, Customer.id == CallbackTask.customer_id)
        .outerjoin(Outcome, Outcome.task_id == CallbackTask.id)
        .outerjoin(Agent, Agent.id == agent_id)
        .where(Attempt.task_id.in_(task_ids))
        .order_by(Attempt.task_id, _when(), Attempt.id)
    ).all()
    by_task: dict[int, list[Any]] = {}
    for r in rows:
        by_task.setdefault(r.task_id, []).append(r)
    for tid in task_ids:
        attempts = by_task.get(tid, [])
        # The answer belongs to the attempt that got it (or, recorded by an agent without one,
        # to the task's last attempt): summing answers over rows then counts each one once.
        holder = next(
            (a.id for a in attempts if a.outcome_attempt is not None and a.id == a.outcome_attempt),
            attempts[-1].id if attempts else None,
        )
        for n, r in enumerate(attempts, start=1):
            when = r.placed_at or r.created_at
            if window.since is not None and when < window.since:
                continue
            if window.until is not None and when >= window.until:
                continue
            yield _row(r, n, slug, default_zone, reveal, show_answer=r.id == holder)


def _row(
    r: Any, n: int, slug: str, default_zone: str, reveal: bool, *, show_answer: bool
) -> RecordRow:
    zones = [z for z in (r.time_zones or []) if isinstance(z, str) and z]
    zone_name = zones[0] if zones else default_zone
    zone = _zone(zone_name)
    placed: datetime | None = r.placed_at
    local = ""
    if placed is not None and zone is not None:
        local = placed.astimezone(zone).isoformat()
    number = r.phone_e164 or ""
    return RecordRow(
        task=int(r.task_id),
        attempt=n,
        attempt_id=int(r.id),
        campaign=slug,
        customer_id=r.external_id or r.customer_key,
        customer_ref=int(r.customer_ref),
        customer_name=r.name,
        member=bool(r.member),
        channel=r.channel,
        phone=number if reveal or not number else mask_phone(number),
        status=r.state,
        provider_status=r.provider_status or "",
        placed_at=placed.astimezone(UTC).isoformat() if placed is not None else "",
        time_zone=zone_name,
        local_time=local,
        outcome=r.task_outcome or r.outcome_name or "",
        answer=(r.answer or "") if show_answer else "",
        reason=(r.reason or "") if show_answer else "",
        digits=(r.digits or "") if show_answer else "",
        note=(r.note or "") if show_answer else "",
        answered_by=r.answered_by or "",
        duration_seconds=r.duration_seconds,
        agent=r.agent or "",
        error=r.error_message or "",
    )


# ----------------------------------------------------------------------------- files


def default_filename(slug: str, fmt: ExportFormat, now: datetime) -> str:
    return f"records-{slug}-{now.astimezone(UTC):%Y-%m-%d}.{fmt.value}"


def _safe(values: Iterable[Any]) -> list[Any]:
    """Every cell of both formats goes through here: text that could run as a formula is quoted."""
    return [
        "" if v is None else ("yes" if v is True else "no" if v is False else safe_cell(v))
        for v in values
    ]


def write_export(rows: Iterable[RecordRow], fmt: ExportFormat, target: Path) -> int:
    """Write the rows to `target` atomically; the number of rows written.

    The file is built as a hidden temporary next to the target and renamed over it only when
    complete, so an interrupted or failed export never leaves half a callback record behind.
    """
    writer = _write_csv if fmt is ExportFormat.CSV else _write_xlsx
    return write_atomically(target, lambda tmp: writer(rows, tmp))


def _write_csv(rows: Iterable[RecordRow], path: Path) -> int:
    count = 0
    # UTF-8 with BOM: Excel then opens Chinese and Korean text correctly.
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(_safe(row.cells()))
            count += 1
    return count


def _write_xlsx(rows: Iterable[RecordRow], path: Path) -> int:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # write_only streams rows to disk instead of keeping every cell object in memory.
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("records")
    ws.append(list(COLUMNS))
    count = 0
    try:
        for row in rows:
            cells = _safe(row.cells())
            ws.append(
                [ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in cells]
            )
            count += 1
    except BaseException:
        # Finish openpyxl's row stream and drop its temporary file: nothing may be left behind.
        with contextlib.suppress(Exception):
            ws.close()
            ws._writer.cleanup()
        raise
    wb.save(str(path))
    return count
