"""The do-not-contact list as operators keep it: add, remove, import and list entries.

The gate (dialer.gate, fed by `attempts.do_not_contact`) consults `do_not_contact` right before
every request, by customer and by number, so an entry added here stops the next call or SMS even
when it was planned and scheduled before. An entry for every channel also cancels the attempts
already waiting (state SCHEDULED) at once and ends their task the way the gate would
(not_contactable, outcome opted_out), so listings show the truth without waiting for a dispatcher.

Entries made by the customer or the carrier (an SMS STOP, Twilio's 21610) are not the operator's
to lift: `remove` deletes only entries whose source is an operator's and says what it kept.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from dialer.errors import InputFileError, NotFoundError, PhoneError, UsageError
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    Customer,
    DoNotContact,
    OutcomeName,
    TaskState,
)
from dialer.phones import mask_phone, parse_phone

SOURCE: Final = "operator"
"""The source of every entry made from the command line (add and import)."""
OPERATOR_SOURCES: Final = frozenset({SOURCE})
CHANNELS: Final = ("voice", "sms", "all")
SCOPES: Final = ("all", "marketing")
CANCEL_MESSAGE: Final = "on the do-not-contact list (added by an operator)"
_OPEN_TASKS: Final = (TaskState.PENDING, TaskState.IN_PROGRESS)

Scope = Literal["all", "marketing"]


@dataclass(frozen=True, slots=True)
class Target:
    """What an entry blocks: one number (any customer who has it) or one customer (all numbers)."""

    e164: str | None = None
    customer_id: int | None = None
    customer_key: str | None = None

    def label(self, reveal: bool = False) -> str:
        """How to name the target on screen and in the audit log: numbers masked unless revealed."""
        if self.e164 is not None:
            return self.e164 if reveal else mask_phone(self.e164)
        return f"customer {self.customer_key}"


def check_channel(channel: str) -> str:
    value = channel.strip().lower()
    if value not in CHANNELS:
        raise UsageError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
    return value


def resolve(session: Session, ref: str, region: str) -> Target:
    """A customer (by customer ID or `#id`) or else a phone number normalised to E.164.

    The customer file's ID wins over a number so that an operator can block one customer with all
    their numbers; anything else must be a valid number (blocked whoever holds it).
    """
    text = ref.strip()
    cust = session.execute(
        select(Customer.id, Customer.customer_key).where(Customer.customer_key == text)
    ).first()
    if cust is None and text.startswith("#") and text[1:].isdigit():
        cust = session.execute(
            select(Customer.id, Customer.customer_key).where(Customer.id == int(text[1:]))
        ).first()
        if cust is None:
            raise NotFoundError(f"there is no customer {text}")
    if cust is not None:
        return Target(customer_id=int(cust.id), customer_key=str(cust.customer_key))
    try:
        return Target(e164=parse_phone(text, region).e164)
    except PhoneError as exc:
        raise NotFoundError(
            f"{text!r} is neither a customer ID (or #id) nor a usable phone number: {exc.reason}"
        ) from exc


def _same_target(t: Target) -> ColumnElement[bool]:
    if t.e164 is not None:
        return DoNotContact.e164 == t.e164
    return DoNotContact.customer_id == t.customer_id


def _covers(entry_channel: str, entry_scope: str, channel: str, scope: str) -> bool:
    """An existing entry already blocks what is asked: same or wider channel and scope."""
    return entry_channel in (channel, "all") and entry_scope in (scope, "all")


@dataclass
class AddResult:
    entry_id: int
    created: bool
    """False when an entry covering this target, channel and scope existed already."""
    cancelled: int = 0
    """Scheduled attempts cancelled because the new entry blocks every channel."""


def add(
    session: Session,
    now: datetime,
    target: Target,
    channel: str = "all",
    scope: Scope = "all",
    reason: str | None = None,
    source: str = SOURCE,
) -> AddResult:
    """Add one entry unless an existing one covers it already (idempotent)."""
    channel = check_channel(channel)
    existing = session.execute(
        select(DoNotContact.id, DoNotContact.channel, DoNotContact.scope)
        .where(_same_target(target))
        .order_by(DoNotContact.id)
    ).all()
    for row in existing:
        if _covers(row.channel or "all", row.scope or "all", channel, scope):
            return AddResult(int(row.id), created=False)
    entry = DoNotContact(
        e164=target.e164,
        customer_id=target.customer_id,
        channel=channel,
        scope=scope,
        reason=(reason or None) and reason[:200],
        source=source,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    cancelled = cancel_scheduled(session, now, target, scope) if channel == "all" else 0
    return AddResult(int(entry.id), created=True, cancelled=cancelled)


def cancel_scheduled(session: Session, now: datetime, target: Target, scope: Scope) -> int:
    """Cancel the target's waiting attempts and end their tasks as the gate would at placement.

    Only SCHEDULED attempts: one already claimed is in a dispatcher's hands, and the gate checks
    the list again right before its request. A marketing-only entry touches marketing campaigns.
    """
    query = (
        select(Attempt.id, Attempt.task_id)
        .join(CallbackTask, CallbackTask.id == Attempt.task_id)
        .join(Campaign, Campaign.id == CallbackTask.campaign_id)
        .where(Attempt.state == AttemptState.SCHEDULED)
    )
    if target.e164 is not None:
        query = query.where(Attempt.phone_e164 == target.e164)
    else:
        query = query.where(
            or_(
                Attempt.customer_id == target.customer_id,
                CallbackTask.customer_id == target.customer_id,
            )
        )
    if scope == "marketing":
        query = query.where(Campaign.purpose == "marketing")
    rows = session.execute(query).all()
    if not rows:
        return 0
    attempt_ids = [int(r.id) for r in rows]
    task_ids = sorted({int(r.task_id) for r in rows})
    session.execute(
        update(Attempt)
        .where(Attempt.id.in_(attempt_ids), Attempt.state == AttemptState.SCHEDULED)
        .values(
            state=AttemptState.CANCELLED,
            error_message=CANCEL_MESSAGE,
            ended_at=now,
            lease_expires_at=None,
        )
    )
    session.execute(
        update(CallbackTask)
        .where(CallbackTask.id.in_(task_ids), CallbackTask.state.in_(_OPEN_TASKS))
        .values(
            state=TaskState.NOT_CONTACTABLE,
            outcome=OutcomeName.OPTED_OUT,
            next_attempt_at=None,
            updated_at=now,
        )
    )
    return len(attempt_ids)


@dataclass
class RemoveResult:
    removed: list[int] = field(default_factory=list)
    kept: list[tuple[int, str]] = field(default_factory=list)
    """(entry id, source) of entries the customer or carrier made: not lifted by an operator."""


def remove(session: Session, target: Target, channel: str | None = None) -> RemoveResult:
    """Delete the operator's entries for the target (one channel, or every channel when None)."""
    query = select(DoNotContact.id, DoNotContact.channel, DoNotContact.source).where(
        _same_target(target)
    )
    if channel is not None:
        query = query.where(DoNotContact.channel == check_channel(channel))
    result = RemoveResult()
    for row in session.execute(query.order_by(DoNotContact.id)):
        if row.source in OPERATOR_SOURCES:
            result.removed.append(int(row.id))
        else:  # the customer's STOP, the carrier, or a source nobody recorded: not ours to lift
            result.kept.append((int(row.id), str(row.source or "an unknown source")))
    if result.removed:
        session.execute(delete(DoNotContact).where(DoNotContact.id.in_(result.removed)))
    return result


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    e164: str | None
    customer_key: str | None
    channel: str
    scope: str
    reason: str | None
    source: str | None
    created_at: datetime

    def who(self, reveal: bool) -> str:
        if self.e164:
            return self.e164 if reveal else mask_phone(self.e164)
        return f"customer {self.customer_key}" if self.customer_key else ""


def entries(session: Session, limit: int | None = None) -> Iterator[Entry]:
    """The list, newest first; numbers as stored (the caller masks them unless revealed)."""
    query = (
        select(
            DoNotContact.id,
            DoNotContact.e164,
            Customer.customer_key,
            DoNotContact.channel,
            DoNotContact.scope,
            DoNotContact.reason,
            DoNotContact.source,
            DoNotContact.created_at,
        )
        .outerjoin(Customer, Customer.id == DoNotContact.customer_id)
        .order_by(DoNotContact.created_at.desc(), DoNotContact.id.desc())
    )
    if limit:
        query = query.limit(limit)
    for r in session.execute(query):
        yield Entry(
            int(r.id),
            r.e164,
            r.customer_key,
            r.channel or "all",
            r.scope or "all",
            r.reason,
            r.source,
            r.created_at,
        )


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(DoNotContact)) or 0)


# ----------------------------------------------------------------------------- import


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    e164: str
    channel: str
    scope: Scope
    reason: str | None


@dataclass
class ImportResult:
    read: int = 0
    added: int = 0
    already: int = 0
    cancelled: int = 0


_NUMBER_HEADERS: Final = ("number", "phone", "e164", "phone_number", "電話", "手機", "전화")


def read_import(path: Path, region: str) -> tuple[list[ImportRow], list[BadRow]]:
    """Every row parsed, or the reason it cannot be used with its line in the file.

    Nothing is written here: the command writes the list only when no row is bad, so a file is
    either taken whole or not at all.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise InputFileError(f"there is no file {str(path)!r}") from exc
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{str(path)!r} is not UTF-8 text (save it as CSV UTF-8)") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise InputFileError(f"{str(path)!r} is empty; it needs a header with a number column")
    names = [h.strip().lower() for h in header]
    col = next((names.index(h) for h in _NUMBER_HEADERS if h in names), None)
    if col is None:
        found = ", ".join(repr(h) for h in header) or "none"
        raise InputFileError(
            f"the file is missing the required column number; headers found: {found}"
        )
    ch_col = names.index("channel") if "channel" in names else None
    reason_col = names.index("reason") if "reason" in names else None
    scope_col = names.index("scope") if "scope" in names else None
    good: list[ImportRow] = []
    bad: list[BadRow] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue

        def cell(i: int | None, row: Sequence[str] = cells) -> str:
            return row[i].strip() if i is not None and i < len(row) else ""

        raw = cell(col)
        if not raw:
            bad.append(BadRow(line, "", "no number"))
            continue
        try:
            e164 = parse_phone(raw, region).e164
        except PhoneError as exc:
            bad.append(BadRow(line, raw, exc.reason))
            continue
        channel = (cell(ch_col) or "all").lower()
        if channel not in CHANNELS:
            bad.append(
                BadRow(line, channel, f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
            )
            continue
        scope = (cell(scope_col) or "all").lower()
        if scope not in SCOPES:
            bad.append(BadRow(line, scope, f"scope {scope!r} is not all or marketing"))
            continue
        good.append(
            ImportRow(
                line,
                e164,
                channel,
                "marketing" if scope == "marketing" else "all",
                cell(reason_col) or None,
            )
        )
    return good, bad


def import_rows(session: Session, now: datetime, rows: Sequence[ImportRow]) -> ImportResult:
    """Add every row in the caller's transaction (idempotent per number, channel and scope)."""
    result = ImportResult(read=len(rows))
    for row in rows:
        added = add(session, now, Target(e164=row.e164), row.channel, row.scope, row.reason)
        if added.created:
            result.added += 1
            result.cancelled += added.cancelled
        else:
            result.already += 1
    return result
