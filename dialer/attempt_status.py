"""Provider statuses: each callback stored once, attempts moved by one transition table.

`apply_status` keeps the append-only event log (unique on SID + status + sequence) and moves the
attempt only forward: statuses are ranked in the order they can happen and the final ones never
regress, so repeated, late and reordered callbacks change nothing twice. When an attempt ends,
`follow_up` decides the task's next try (spacing and backoff on the same channel, or fall back
now); `adopt` books a placement that was lost and found again at the provider.

Status callbacks are the hottest write path (four or more per call, each answered only once it
is committed), so they run on prebuilt Core statements (on SQLite through the driver's own
cursor), the common move is one conditional UPDATE, and the webhook app hands them to
`dialer.status_writer`: one transaction for all the callbacks waiting (group commit), written on
the event loop itself on SQLite when the write lock is free, else by the writer's thread.
`scripts/bench/webhooks.py` measures it.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    case,
    func,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from dialer import agreement
from dialer.attempts import ENDED_ATTEMPT_STATES, OPEN_TASK_STATES, CampaignBook, mark_placed
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    WebhookEvent,
)

log = logging.getLogger(__name__)

# Provider statuses in the order they can happen; terminal ones (rank 9) end the attempt.
CALL_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, "answered": 3}
SMS_RANK = {"accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2}
CALL_TERMINAL = {"completed", "busy", "no-answer", "failed", "canceled"}
SMS_TERMINAL = {"delivered", "undelivered", "failed", "read", "canceled"}
TERMINAL = 9
_ENDED_AS = {
    "failed": AttemptState.FAILED,
    "undelivered": AttemptState.FAILED,
    "canceled": AttemptState.CANCELLED,
}


def rank(kind: str, status: str | None) -> int:
    if status is None:
        return -1
    table, terminal = (CALL_RANK, CALL_TERMINAL) if kind == "call" else (SMS_RANK, SMS_TERMINAL)
    if status in terminal:
        return TERMINAL
    return table.get(status, -1)


def kind_of(channel: str) -> str:
    return "sms" if channel == "sms" else "call"


class _Compiled(NamedTuple):
    """A statement as SQLite's driver runs it."""

    sql: str
    binds: list[tuple[str, Any, Any]]  # each parameter once: (name, bind processor, bind)
    order: list[int] | None  # the parameters' positions in `sql`; None: each once, in order
    results: list[Any] | None  # result processors; None: no column needs one
    row: Any  # the rows' namedtuple; None: the statement returns none


# A status callback is the hottest write path (several per call), so it runs prebuilt Core
# statements on the transaction's connection: no statement is built per request, no ORM object is
# loaded or flushed (`apply_status` expires the caller's ORM copies of the rows it changed).
class _Prepared:
    """A Core statement for the hot path; on SQLite it runs on the driver's own cursor.

    SQLAlchemy's execution costs about 40 µs a statement, more than SQLite's own work; so on
    SQLite the statement is compiled once, its parameters go through the same type processors
    SQLAlchemy would use (UTC datetimes, JSON) and its rows through the result processors. On
    PostgreSQL it is an ordinary `Connection.execute`. Rows have the columns as attributes.
    A datetime converted for one call is kept for the next (a batch of callbacks shares its
    `now`): datetimes are immutable, so the same object always converts the same.
    """

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt
        self._sqlite: _Compiled | None = None
        self._last_datetime: tuple[datetime, Any, Any] | None = None  # (value, proc, converted)

    def _compiled(self, conn: Connection) -> _Compiled:
        if self._sqlite is None:
            dialect = conn.dialect
            compiled = self.stmt.compile(dialect=dialect)
            positions = list(compiled.positiontup or ())
            names = list(dict.fromkeys(positions))  # a parameter used twice is converted once
            binds = [
                (
                    name,
                    compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                    compiled.binds[name],
                )
                for name in names
            ]
            order = None if names == positions else [names.index(n) for n in positions]
            cols = list(self.stmt.exported_columns)
            results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in cols]
            row = namedtuple("row", [str(c.key) for c in cols], rename=True) if cols else None
            self._sqlite = _Compiled(
                compiled.string, binds, order, results if any(results) else None, row
            )
        return self._sqlite

    def run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[int, list[Any]]:
        """(rows changed, rows returned)."""
        if conn.dialect.name != "sqlite" or conn.dialect.paramstyle != "qmark":
            result = conn.execute(self.stmt, params)
            rows = list(result.all()) if result.returns_rows else []
            return result.rowcount, rows
        sql, binds, order, results, row = self._compiled(conn)
        values = []
        for name, proc, bind in binds:
            if name in params:
                value = params[name]
                if proc is not None:
                    value = self._converted(proc, value)
            else:
                value = bind.effective_value
            values.append(value)
        args = values if order is None else [values[i] for i in order]
        cursor = conn.connection.driver_connection.execute(sql, args)  # type: ignore[union-attr]
        if row is None:
            return cursor.rowcount, []
        fetched = cursor.fetchall()
        if results is None:
            return cursor.rowcount, [row._make(r) for r in fetched]
        out = [
            row(*(proc(v) if proc else v for proc, v in zip(results, r, strict=True)))
            for r in fetched
        ]
        return cursor.rowcount, out

    def _converted(self, proc: Any, value: Any) -> Any:
        if type(value) is not datetime:
            return proc(value)
        last = self._last_datetime  # one read: another thread may set it meanwhile
        if last is not None and last[0] is value and last[1] is proc:
            return last[2]
        converted = proc(value)
        self._last_datetime = (value, proc, converted)
        return converted

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        rows = self.run(conn, params)[1]
        return rows[0] if rows else None


def _sql(value: str | int) -> Any:
    """A constant written into the statement (not a bound parameter: fewer to bind each time)."""
    return literal_column(str(value) if isinstance(value, int) else f"'{value}'")


_events = cast(Table, WebhookEvent.__table__)
_attempts = cast(Table, Attempt.__table__)
_tasks = cast(Table, CallbackTask.__table__)
_campaigns = cast(Table, Campaign.__table__)


def _event_insert(maker: Any) -> Any:
    return (
        maker(_events)
        .values(
            provider_sid=bindparam("b_sid"),
            kind=bindparam("b_kind"),
            status=bindparam("b_status"),
            sequence=bindparam("b_seq"),
            attempt_id=bindparam("b_attempt"),
            payload=bindparam("b_payload", type_=_events.c.payload.type),
            received_at=bindparam("b_now", type_=_events.c.received_at.type),
        )
        .on_conflict_do_nothing(index_elements=["provider_sid", "status", "sequence"])
        .returning(_events.c.id)
    )


_INSERT_EVENT = {
    "postgresql": _Prepared(_event_insert(pg_insert)),
    "sqlite": _Prepared(_event_insert(sqlite_insert)),
}
_ATTEMPT_COLUMNS = (
    _attempts.c.id,
    _attempts.c.channel,
    _attempts.c.state,
    _attempts.c.provider_sid,
    _attempts.c.provider_status,
)
_ATTEMPT_BY_ID = (
    select(*_ATTEMPT_COLUMNS).where(_attempts.c.id == bindparam("b_id")).with_for_update()
)
_SET_SID = (
    update(_attempts)
    .where(_attempts.c.id == bindparam("b_id"))
    .values(provider_sid=bindparam("b_sid"))
)
_TASK = _Prepared(
    select(
        _tasks.c.id,
        _tasks.c.campaign_id,
        _tasks.c.state,
        _tasks.c.reached_at,
        _tasks.c.outcome,
        _tasks.c.next_attempt_at,
        _tasks.c.notified_at,
        _tasks.c.updated_at,
    )
    .where(_tasks.c.id == bindparam("b_id"))
    .with_for_update()
)
_TASK_UPDATE = _Prepared(
    update(_tasks)
    .where(_tasks.c.id == bindparam("b_id"))
    .values(
        notified_at=bindparam("b_notified", type_=_tasks.c.notified_at.type),
        next_attempt_at=bindparam("b_next", type_=_tasks.c.next_attempt_at.type),
        updated_at=bindparam("b_updated", type_=_tasks.c.updated_at.type),
    )
)
_TRIES = _Prepared(
    select(func.count())
    .select_from(_attempts)
    .where(
        _attempts.c.task_id == bindparam("b_task"),
        _attempts.c.channel == bindparam("b_channel"),
        _attempts.c.state != _sql(AttemptState.CANCELLED),
    )
)


def _this_kind_earlier(kind: str) -> tuple[Any, ...]:
    """The fast paths' common guard: the attempt named in the URL (`b_id`), of this kind, at a
    status ranked below the callback's (`b_rank`)."""
    table, terminal = (CALL_RANK, CALL_TERMINAL) if kind == "call" else (SMS_RANK, SMS_TERMINAL)
    ranks = {**table, **dict.fromkeys(sorted(terminal), TERMINAL)}
    c = _attempts.c
    return (
        c.id == bindparam("b_id"),
        (c.channel == _sql("sms")) if kind == "sms" else (c.channel != _sql("sms")),
        case(
            *((c.provider_status == _sql(st), _sql(r)) for st, r in ranks.items()),
            else_=_sql(-1),
        )
        < bindparam("b_rank"),
    )


def _answered_by() -> Any:
    """AnsweredBy as the callback says it, else as it was."""
    c = _attempts.c
    return func.coalesce(bindparam("b_answered", type_=c.answered_by.type), c.answered_by)


def _moves(kind: str, final: bool) -> Any:
    """One UPDATE that moves the attempt exactly when `apply_status` would (else no row).

    The common case in one statement: the attempt named in the URL, of this kind, with this SID
    (or none yet), not ended, at an earlier status. Anything else finds no row and goes through
    the reading path, which also decides the rare cases (unknown attempt, other SID, a repeat).
    """
    c = _attempts.c
    claimed = c.state == _sql(AttemptState.CLAIMED)
    stmt = (
        update(_attempts)
        .where(
            *_this_kind_earlier(kind),
            (c.provider_sid == bindparam("b_sid")) | c.provider_sid.is_(None),
            *(c.state != _sql(ended) for ended in ENDED_ATTEMPT_STATES),
        )
        .values(
            provider_sid=bindparam("b_sid"),
            provider_status=bindparam("b_status"),
            placed_at=case(
                (claimed, func.coalesce(c.placed_at, bindparam("b_now", type_=c.placed_at.type))),
                else_=c.placed_at,
            ),
            answered_by=_answered_by(),
        )
    )
    if not final:
        return stmt.values(state=case((claimed, _sql(AttemptState.PLACED)), else_=c.state))
    return stmt.values(
        state=bindparam("b_state"),
        duration_seconds=bindparam("b_duration", type_=c.duration_seconds.type),
        error_code=func.coalesce(bindparam("b_error", type_=c.error_code.type), c.error_code),
        ended_at=bindparam("b_now", type_=c.ended_at.type),
        lease_expires_at=null(),
    ).returning(c.id, c.task_id, c.channel, c.answered_by, c.error_code)


_FAST = {
    (kind, final): _Prepared(_moves(kind, final))
    for kind in ("call", "sms")
    for final in (False, True)
}


def _onward(kind: str) -> Any:
    """`_moves(kind, False)` for an attempt already placed with this SID, the usual case (the
    dispatcher stored the SID before the first callback): the same change, but it sets only
    the two columns that change, so no index is rewritten (SQLite touches an index only when
    the UPDATE sets one of its columns; on PostgreSQL the update can stay HOT)."""
    c = _attempts.c
    return (
        update(_attempts)
        .where(
            *_this_kind_earlier(kind),
            c.provider_sid == bindparam("b_sid"),
            c.state == _sql(AttemptState.PLACED),
        )
        .values(provider_status=bindparam("b_status"), answered_by=_answered_by())
    )


_ONWARD = {kind: _Prepared(_onward(kind)) for kind in ("call", "sms")}


def insert_event(
    session: Session,
    sid: str,
    kind: str,
    status: str,
    sequence: int,
    attempt_id: int | None,
    payload: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Append one provider event; False when (sid, status, sequence) is stored already."""
    return _insert_event(
        session.connection(), sid, kind, status, sequence, attempt_id, payload, now
    )


def _insert_event(
    conn: Connection,
    sid: str,
    kind: str,
    status: str,
    sequence: int,
    attempt_id: int | None,
    payload: Mapping[str, Any],
    now: datetime,
) -> bool:
    return None is not _INSERT_EVENT[
        "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
    ].first(
        conn,
        {
            "b_sid": sid,
            "b_kind": kind,
            "b_status": status,
            "b_seq": sequence,
            "b_attempt": attempt_id,
            "b_payload": dict(payload),
            "b_now": now,
        },
    )  # RETURNING, not rowcount: reliable on both drivers


def apply_status(
    session: Session,
    book: CampaignBook,
    now: datetime,
    *,
    kind: str,
    attempt_id: int | None,
    sid: str,
    status: str,
    sequence: int,
    payload: Mapping[str, Any],
) -> bool:
    """Store one provider status once and move its attempt; False when it was a repeat."""
    session.flush()  # the caller's pending ORM changes first: what follows is Core
    done = _apply(session.connection(), book, now, kind, attempt_id, sid, status, sequence, payload)
    if done.attempt_id is not None:  # the session reads what was written, not what it held
        _expire(session, Attempt, done.attempt_id)
    if done.task_id is not None:
        _expire(session, CallbackTask, done.task_id)
    return done.stored


def apply_status_on(
    conn: Connection,
    book: CampaignBook,
    now: datetime,
    *,
    kind: str,
    attempt_id: int | None,
    sid: str,
    status: str,
    sequence: int,
    payload: Mapping[str, Any],
) -> bool:
    """`apply_status` on a connection in a transaction (no session: the status writer's way)."""
    return _apply(conn, book, now, kind, attempt_id, sid, status, sequence, payload).stored


class _Applied(NamedTuple):
    stored: bool  # False: a repeat, nothing done
    attempt_id: int | None = None  # the rows changed
    task_id: int | None = None


def _apply(
    conn: Connection,
    book: CampaignBook,
    now: datetime,
    kind: str,
    attempt_id: int | None,
    sid: str,
    status: str,
    sequence: int,
    payload: Mapping[str, Any],
) -> _Applied:
    if not _insert_event(conn, sid, f"{kind}_status", status, sequence, attempt_id, payload, now):
        return _Applied(False)
    new = rank(kind, status)
    answered = str(payload.get("AnsweredBy") or "") or None
    duration = str(payload.get("CallDuration") or payload.get("Duration") or "")
    error = str(payload.get("ErrorCode") or "")
    params: dict[str, Any] = {
        "b_id": attempt_id,
        "b_sid": sid,
        "b_status": status,
        "b_rank": new,
        "b_now": now,
        "b_answered": answered,
    }
    if new == TERMINAL:
        params |= {
            "b_state": _ENDED_AS.get(status, AttemptState.COMPLETED),
            "b_duration": int(duration) if duration.isdigit() else None,
            "b_error": int(error) if error.isdigit() else None,
        }
    if attempt_id is not None:
        if new != TERMINAL:
            if (
                _ONWARD[kind].run(conn, params)[0] == 1
                or _FAST[kind, False].run(conn, params)[0] == 1
            ):
                return _Applied(True, attempt_id)
        else:
            ended = _FAST[kind, True].first(conn, params)
            if ended is not None:
                return _Applied(True, attempt_id, _finish(conn, book, ended, params, now))
    # The reading path: no attempt with that id, another kind or SID, ended, or a late status.
    # A callback moves only the attempt its URL names (never one found by the SID it carries:
    # a signed callback to one attempt's URL must not move another); no id, nothing moves.
    row = None
    if attempt_id is not None:
        row = conn.execute(_ATTEMPT_BY_ID, {"b_id": attempt_id}).first()
    if row is None or kind_of(row.channel) != kind:
        log.warning("status %s for %s matches no attempt; kept in the event log", status, sid)
        return _Applied(True)
    if row.provider_sid is not None and row.provider_sid != sid:
        log.warning("status for %s does not belong to attempt %s; ignored", sid, row.id)
        return _Applied(True)
    if row.state in ENDED_ATTEMPT_STATES or new <= rank(kind, row.provider_status):
        # terminal states never regress; an earlier status after a later one changes nothing
        if row.provider_sid is None:
            conn.execute(_SET_SID, {"b_id": row.id, "b_sid": sid})
        return _Applied(True, row.id)
    params["b_id"] = row.id
    if new != TERMINAL:
        _FAST[kind, False].run(conn, params)
        return _Applied(True, row.id)
    ended = _FAST[kind, True].first(conn, params)
    task_id = _finish(conn, book, ended, params, now) if ended is not None else None
    return _Applied(True, row.id, task_id)


def _finish(
    conn: Connection, book: CampaignBook, ended: Any, params: dict[str, Any], now: datetime
) -> int | None:
    """`ended` (the attempt's columns as updated) has just ended: its task's next try; its id."""
    task = _TASK.first(conn, {"b_id": ended.task_id})
    if task is None:
        return None
    notified_at = task.notified_at
    if notified_at is None and (
        (ended.channel == "sms" and params["b_status"] in ("delivered", "read"))
        or (ended.answered_by or "").startswith(("machine", "fax"))
    ):
        notified_at = now
    attempt = EndedAttempt(ended.id, ended.channel, params["b_state"], ended.error_code, now)
    when = next_try(conn, book, task, attempt, now)
    if when is not None or notified_at != task.notified_at:
        _TASK_UPDATE.run(
            conn,
            {
                "b_id": task.id,
                "b_notified": notified_at,
                "b_next": when or task.next_attempt_at,
                "b_updated": now if when else task.updated_at,
            },
        )
    return int(task.id)


def _expire(session: Session, model: type[Any], pk: int) -> None:
    """Make the session reload a row it holds that Core has just changed (or is changing)."""
    obj = session.identity_map.get(identity_key(model, pk))
    if obj is not None:
        session.expire(obj)


class TaskView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def campaign_id(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def reached_at(self) -> datetime | None: ...
    @property
    def outcome(self) -> str | None: ...
    @property
    def next_attempt_at(self) -> datetime | None: ...


class AttemptView(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def ended_at(self) -> datetime | None: ...


class EndedAttempt(NamedTuple):
    id: int
    channel: str
    state: str
    error_code: int | None
    ended_at: datetime | None


def follow_up(
    session: Session, book: CampaignBook, task: CallbackTask, attempt: Attempt, now: datetime
) -> None:
    """After an attempt ended: the next try on this channel after its spacing, or fall back now.

    A task with an outcome (reached, or ended by the script) is left alone, except an agreed
    callback that did not get through: it is tried again, its tries counted from the agreement.
    So is one that has an open attempt already. `schedule_due` picks channel and number when
    the time comes.
    """
    session.flush()  # the attempt's end is counted below
    when = next_try(session.connection(), book, task, attempt, now)
    if when is not None:
        task.next_attempt_at = when
        task.updated_at = now


def next_try(
    conn: Connection, book: CampaignBook, task: TaskView, attempt: AttemptView, now: datetime
) -> datetime | None:
    """When `task` is next due now that `attempt` has ended (stored); None: leave it alone."""
    agreed = agreement.agreed(task.outcome)
    if task.state not in OPEN_TASK_STATES or (
        not agreed and (task.reached_at is not None or task.outcome)
    ):
        return None
    if task.next_attempt_at is not None:
        return None
    spec = book.spec(task.campaign_id)
    if attempt.channel == "agent" or attempt.channel not in spec.channels:
        return None
    policy = spec.attempt_policy(attempt.channel)
    if agreed:  # an agreed callback's tries count from the agreement
        tries = _tries_since_agreed(conn, task, attempt.channel)
    else:
        [(count,)] = _TRIES.run(conn, {"b_task": task.id, "b_channel": attempt.channel})[1]
        tries = int(count)
    if tries >= policy.max_attempts or (
        attempt.state == AttemptState.FAILED and attempt.error_code
    ):
        return now  # this channel is done (or this number failed): fall back
    spacing = policy.spacing * (policy.backoff ** max(0, tries - 1))
    return (attempt.ended_at or now) + spacing


def _tries_since_agreed(conn: Connection, task: TaskView, channel: str) -> int:
    """The tries on `channel` that count after the customer agreed another time."""
    since = agreement.agreed_at(conn, [(task.id, task.outcome)]).get(task.id)
    made = conn.execute(
        select(Attempt.created_at).where(
            Attempt.task_id == task.id,
            Attempt.channel == channel,
            Attempt.state != AttemptState.CANCELLED,
        )
    ).scalars()
    return sum(1 for created_at in made if agreement.counted(created_at, since))


def adopt(
    session: Session,
    book: CampaignBook,
    attempt_id: int,
    *,
    sid: str,
    status: str,
    created_at: datetime | None,
    now: datetime,
    lease: timedelta,
    payload: Mapping[str, Any],
) -> None:
    """A lost placement found at the provider: record it (and its end, if it has ended)."""
    mark_placed(session, attempt_id, sid, "queued", created_at or now, lease)
    kind = kind_of(session.scalar(select(Attempt.channel).where(Attempt.id == attempt_id)) or "")
    apply_status(
        session,
        book,
        now,
        kind=kind,
        attempt_id=attempt_id,
        sid=sid,
        status=status,
        sequence=-1,  # found by reconciliation, not posted by the provider
        payload=payload,
    )
