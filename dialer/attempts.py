"""Attempts as rows: scheduled from due tasks, claimed with a lease, moved by provider statuses.

The books of the dispatcher, with no network in them:
- `schedule_due` turns tasks whose `next_attempt_at` has come into one `scheduled` attempt each
  (channel and number chosen by the campaign's attempt policy and fallback order) and clears
  `next_attempt_at`, so a task has at most one open attempt;
- `claim` takes due attempts with a lease in one statement (`FOR UPDATE SKIP LOCKED` on
  PostgreSQL; SQLite's write lock serialises);
- `apply_status` stores each provider callback once in the event log and moves the attempt
  through one transition table in which terminal states never regress;
- `follow_up` decides the task's next attempt (spacing, backoff, fallback) once one has ended.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal, cast

from sqlalchemy import (
    ARRAY,
    DateTime,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    false,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dialer import agreement
from dialer.campaigns import CampaignSpec
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    CustomerPhone,
    DoNotContact,
    OutcomeName,
    PhoneType,
    TaskState,
)

log = logging.getLogger(__name__)

OPEN_TASK_STATES = (TaskState.PENDING, TaskState.IN_PROGRESS)
ENDED_ATTEMPT_STATES = (AttemptState.COMPLETED, AttemptState.FAILED, AttemptState.CANCELLED)
# `plan_action` of a task handed to a person (the agent channel, or the escalation): the
# assignment (`dialer.assign`) gives such tasks of automated campaigns to agents.
HANDED_TO_AGENT = "agent"
SANDBOX_SENDER = "+15005550006"  # Twilio's magic test number that is valid as a From

# ----------------------------------------------------------------------------- campaigns


class CampaignBook:
    """Campaign specs by id, parsed once per definition; statuses read fresh on `refresh`."""

    def __init__(self) -> None:
        self._specs: dict[int, tuple[str | None, CampaignSpec]] = {}
        self.status: dict[int, str] = {}

    def refresh(self, session: Session) -> None:
        rows = session.execute(
            select(Campaign.id, Campaign.slug, Campaign.status, Campaign.definition_sha256)
        ).all()
        self.status = {r.id: r.status for r in rows}
        for r in rows:
            cached = self._specs.get(r.id)
            if cached is None or cached[0] != r.definition_sha256:
                definition = session.scalar(select(Campaign.definition).where(Campaign.id == r.id))
                spec = CampaignSpec.from_definition(definition or {}, slug=r.slug)
                self._specs[r.id] = (r.definition_sha256, spec)

    def spec(self, campaign_id: int) -> CampaignSpec:
        return self._specs[campaign_id][1]

    def spec_of(self, session: Session, campaign_id: int, sha256: str | None) -> CampaignSpec:
        """The campaign's spec for a caller that read its `definition_sha256` in its own query
        (every TwiML step does): the whole book is read again only when that definition is not
        the one parsed, not on every request."""
        cached = self._specs.get(campaign_id)
        if cached is None or cached[0] != sha256:
            self.refresh(session)
        return self.spec(campaign_id)

    def dispatchable(self) -> list[int]:
        """Campaigns whose tasks the dispatcher places (not agent-handled, not stopped)."""
        return [
            cid
            for cid, (_, spec) in self._specs.items()
            if spec.channels[0] != "agent" and self.status.get(cid) != "stopped"
        ]


# ------------------------------------------------------------------- channel and number choice


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    phone_type: str
    region: str | None
    voice_ok: bool
    sms_ok: bool
    unusable_reason: str | None

    def takes(self, channel: str) -> bool:
        if self.unusable_reason and not (self.voice_ok or self.sms_ok):
            return False
        if channel == "sms":
            try:
                sms_type = PhoneType(self.phone_type).can_receive_sms
            except ValueError:
                sms_type = False
            return self.sms_ok and sms_type
        return self.voice_ok


@dataclass(frozen=True, slots=True)
class Tried:
    channel: str
    at: datetime


def choose(
    spec: CampaignSpec,
    tried: Sequence[Tried],
    phones: Sequence[Phone],
    blocked: Mapping[str, frozenset[str]],
    now: datetime,
    plan_action: str | None = None,
) -> tuple[str, Phone | None] | None:
    """The next (channel, number) by the campaign's fallback order; None when all are used up.

    A channel is used up after `max_attempts` tries, `give_up_after` its first try, or when no
    number can take it. Numbers rotate across tries ("the customer's other valid numbers are
    tried when one fails"). `blocked` maps "" (the customer) and each number to do-not-contact
    channels. A task the planner or the escalation sent to SMS (or to a person) starts there.
    """
    channels = list(spec.channels)
    if plan_action in ("sms", "agent") and plan_action in channels:
        channels = channels[channels.index(plan_action) :]  # sent there by plan or escalation
    customer_block = blocked.get("", frozenset())
    for channel in channels:
        if channel == "agent":
            # A person's call is a call: only to a number that takes calls and is not blocked
            # for them (do-not-contact "all", "voice" or "agent"), as the planner decides.
            if any(
                p.takes("voice")
                and not _blocked(customer_block | blocked.get(p.e164, frozenset()), "voice")
                and not _blocked(customer_block | blocked.get(p.e164, frozenset()), "agent")
                for p in phones
            ):
                return "agent", None
            continue
        policy = spec.attempt_policy(channel)
        mine = [t for t in tried if t.channel == channel]
        if len(mine) >= policy.max_attempts:
            continue
        if mine and policy.give_up_after and now >= mine[0].at + policy.give_up_after:
            continue
        usable = [
            p
            for p in phones
            if p.takes(channel)
            and not _blocked(customer_block | blocked.get(p.e164, frozenset()), channel)
        ]
        if not usable:
            continue
        return channel, usable[len(mine) % len(usable)]
    return None


def _blocked(blocked: frozenset[str], channel: str) -> bool:
    return "all" in blocked or channel in blocked


def sender_for(senders: Mapping[str, str], region: str | None) -> str | None:
    """The caller ID for a destination region: its own, else "default", else None."""
    if region and region.upper() in senders:
        return senders[region.upper()]
    return senders.get("default") or senders.get("DEFAULT")


def do_not_contact(
    session: Session, purpose: str, customer_ids: Iterable[int], numbers: Iterable[str]
) -> dict[tuple[int | None, str], set[str]]:
    """DNC channels by (customer id, "") and (None, number) for the given customers and numbers."""
    scopes = ("all", "marketing") if purpose == "marketing" else ("all",)
    ids, nums = list(set(customer_ids)), list(set(numbers))
    out: dict[tuple[int | None, str], set[str]] = defaultdict(set)
    if ids:
        for cid, channel in session.execute(
            select(DoNotContact.customer_id, DoNotContact.channel).where(
                DoNotContact.customer_id.in_(ids), DoNotContact.scope.in_(scopes)
            )
        ):
            out[(cid, "")].add(channel or "all")
    if nums:
        for e164, channel in session.execute(
            select(DoNotContact.e164, DoNotContact.channel).where(
                DoNotContact.e164.in_(nums), DoNotContact.scope.in_(scopes)
            )
        ):
            if e164:
                out[(None, e164)].add(channel or "all")
    return out


# ----------------------------------------------------------------------------- scheduling


@dataclass
class ScheduleReport:
    scheduled: int = 0
    exhausted: int = 0  # tasks that ended not_reached: every channel used up
    to_agents: int = 0


def phones_of(session: Session, customer_ids: Iterable[int]) -> defaultdict[int, list[Phone]]:
    """Each customer's numbers in their rank order (a customer with none: an empty list)."""
    phones: defaultdict[int, list[Phone]] = defaultdict(list)
    for row in session.execute(
        select(
            CustomerPhone.customer_id,
            CustomerPhone.e164,
            CustomerPhone.phone_type,
            CustomerPhone.region,
            CustomerPhone.voice_ok,
            CustomerPhone.sms_ok,
            CustomerPhone.unusable_reason,
        )
        .where(CustomerPhone.customer_id.in_(set(customer_ids)))
        .order_by(CustomerPhone.customer_id, CustomerPhone.rank)
    ):
        phones[row.customer_id].append(Phone(*row[1:]))
    return phones


def schedule_due(
    session: Session,
    book: CampaignBook,
    now: datetime,
    senders: Mapping[str, str],
    *,
    limit: int = 1000,
) -> ScheduleReport:
    """One scheduled attempt for each open task whose next attempt time has come."""
    report = ScheduleReport()
    campaign_ids = book.dispatchable()
    if not campaign_ids:
        return report
    tasks = session.execute(
        select(
            CallbackTask.id,
            CallbackTask.campaign_id,
            CallbackTask.customer_id,
            CallbackTask.next_attempt_at,
            CallbackTask.appointment_at,
            CallbackTask.attempts_made,
            CallbackTask.plan_action,
            CallbackTask.outcome,
        )
        .where(
            CallbackTask.state.in_(OPEN_TASK_STATES),
            CallbackTask.next_attempt_at <= now,
            CallbackTask.campaign_id.in_(campaign_ids),
        )
        .order_by(CallbackTask.priority, CallbackTask.next_attempt_at)
        .limit(limit)
    ).all()
    if not tasks:
        return report
    task_ids = [t.id for t in tasks]
    tried: dict[int, list[Tried]] = defaultdict(list)
    for tid, channel, created in session.execute(
        select(Attempt.task_id, Attempt.channel, Attempt.created_at)
        .where(Attempt.task_id.in_(task_ids), Attempt.state != AttemptState.CANCELLED)
        .order_by(Attempt.task_id, Attempt.number)
    ):
        tried[tid].append(Tried(channel, created))
    for tid, since in agreement.agreed_at(session, [(t.id, t.outcome) for t in tasks]).items():
        tried[tid] = [x for x in tried[tid] if agreement.counted(x.at, since)]
    customer_ids = {t.customer_id for t in tasks}
    phones = phones_of(session, customer_ids)
    all_numbers = [p.e164 for ps in phones.values() for p in ps]
    dnc_by_purpose = {
        purpose: do_not_contact(session, purpose, customer_ids, all_numbers)
        for purpose in {book.spec(t.campaign_id).purpose for t in tasks}
    }
    new_rows: list[dict[str, Any]] = []
    for t in tasks:
        spec = book.spec(t.campaign_id)
        dnc = dnc_by_purpose[spec.purpose]
        blocked = {"": frozenset(dnc.get((t.customer_id, ""), ()))}
        for p in phones[t.customer_id]:
            blocked[p.e164] = frozenset(dnc.get((None, p.e164), ()))
        choice = choose(spec, tried[t.id], phones[t.customer_id], blocked, now, t.plan_action)
        if choice is None:
            if t.outcome == OutcomeName.CALLBACK_REQUESTED:  # reached before: the outcome stands
                _end_task(session, t.id, now, TaskState.REACHED, OutcomeName.CALLBACK_REQUESTED)
            else:
                _end_task(session, t.id, now, TaskState.NOT_REACHED, OutcomeName.NOT_REACHED)
            report.exhausted += 1
            continue
        channel, phone = choice
        if phone is None:  # the next channel is a person: the agents' queue takes it
            handed: dict[str, Any] = {}
            if t.plan_action != HANDED_TO_AGENT:  # marked, so `assign` gives it to somebody
                handed = {
                    "plan_action": HANDED_TO_AGENT,
                    "plan_reason": "handed to a person: the automated tries did not reach "
                    "the customer",
                }
            session.execute(
                update(CallbackTask)
                .where(CallbackTask.id == t.id)
                .values(next_attempt_at=None, state=TaskState.IN_PROGRESS, updated_at=now, **handed)
            )
            report.to_agents += 1
            continue
        due = t.next_attempt_at
        if t.appointment_at is not None and t.appointment_at > due:
            due = t.appointment_at
        new_rows.append(
            {
                "task_id": t.id,
                "customer_id": t.customer_id,
                "number": t.attempts_made + 1,
                "channel": channel,
                "phone_e164": phone.e164,
                "from_e164": sender_for(senders, phone.region) or SANDBOX_SENDER,
                "state": AttemptState.SCHEDULED,
                "due_at": due,
                "created_at": now,
            }
        )
    if new_rows:
        maker = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        made = session.execute(
            maker(Attempt)
            .on_conflict_do_nothing(index_elements=["task_id", "number"])
            .returning(Attempt.task_id, Attempt.number),
            new_rows,
        ).all()
        if made:
            session.execute(
                _TASK_SCHEDULED,
                [{"b_id": task_id, "b_number": number, "b_now": now} for task_id, number in made],
            )
        report.scheduled = len(made)
    return report


def _end_task(
    session: Session, task_id: int, now: datetime, state: TaskState, outcome: str | None
) -> None:
    session.execute(
        update(CallbackTask)
        .where(CallbackTask.id == task_id, CallbackTask.state.in_(OPEN_TASK_STATES))
        .values(state=state, outcome=outcome, next_attempt_at=None, updated_at=now)
    )


def still(state: Any, expected: AttemptState) -> Any:
    """The guard `state = expected` of an update that finds its row by primary key.

    Written `(state = expected) IS TRUE` (the same for a NOT NULL column) so that PostgreSQL can
    only find the row through its primary key: with a plain `state = 'claimed'` and statistics
    taken while nothing was in flight (a nightly ANALYZE before the morning's drain), the
    planner costs the in-flight partial index (`uq_attempts_one_in_flight`) or
    `ix_attempts_lease` as nearly empty and scans it, filtering on the id: every placement then
    reads every attempt in flight and every one not yet vacuumed, and a drain slows
    quadratically (170 placements/s instead of 15,000 in scripts/bench/scale.py).
    """
    return (state == expected).is_(True)


# ----------------------------------------------------------------------------- claiming


def claimable(postgres: bool) -> Any:
    """`state = 'scheduled'` as the claim's window and `ix_attempts_claimable` write it.

    On PostgreSQL: `coalesce(state = 'scheduled', false)` with the state as a literal, the
    index's predicate to the letter (migration 0011). A literal, so that the predicate is proved
    in a generic (prepared) plan too; an opaque form, so that no index led by `state` can serve
    it: on statistics taken before the day's attempts were scheduled (autovacuum analyses a
    large table only after a tenth of it changed) the planner read every scheduled attempt
    through `ix_attempts_due` and sorted them, for each claim, instead of walking the partial
    index in claim order. No other condition proves it either (`still`'s `IS TRUE` included),
    so lookups by id stay on the primary key.
    """
    if postgres:
        scheduled: Any = literal_column(f"'{AttemptState.SCHEDULED.value}'")
        return func.coalesce(Attempt.state == scheduled, false())
    return Attempt.state == AttemptState.SCHEDULED


ClaimOrder = Literal["priority", "fifo"]
CLAIM_ORDERS: tuple[ClaimOrder, ...] = ("priority", "fifo")
NO_SLACK = 2**62  # a task whose slack was never computed goes after those with any
CANDIDATES_PER_CLAIM = 10  # the claim orders this many times its batch of the earliest due
CANDIDATES_MIN = 1000


def claim_order_by(order: ClaimOrder) -> tuple[Any, ...]:
    """The order in which due attempts are claimed when there are more than the pipe takes.

    `priority` is docs/definitions.md's: members first, then least slack (open calling-window time
    left before the deadline, as last refreshed), then the earliest due. `fifo` is what most
    dialers' hoppers do: the earliest due first, ties in file (task) order; `dialer simulate` runs
    it to show what deadline-aware order buys.
    """
    if order == "fifo":
        return (Attempt.due_at, Attempt.task_id, Attempt.id)
    return (
        CallbackTask.member.desc(),
        func.coalesce(CallbackTask.slack_seconds, NO_SLACK),
        Attempt.due_at,
        Attempt.id,
    )


def _claim_keys(order: ClaimOrder) -> tuple[Any, ...]:
    """`claim_order_by`'s columns as plain values, to sort the claimed rows in Python."""
    if order == "fifo":
        return (Attempt.due_at, Attempt.task_id, Attempt.id)
    return (
        CallbackTask.member,
        func.coalesce(CallbackTask.slack_seconds, NO_SLACK),
        Attempt.due_at,
        Attempt.id,
    )


def _claim_sort_key(order: ClaimOrder) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    if order == "fifo":
        return lambda k: (k[0], k[1], k[2])
    return lambda k: (not k[0], k[1], k[2], k[3])


def claim(
    session: Session,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    *,
    order: ClaimOrder = "priority",
) -> list[int]:
    """Claim up to `limit` due attempts for `worker` in one statement; their ids in claim order.

    The due rows are picked in a materialised CTE (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the
    attempt rows only) and updated from it: an `IN (subquery LIMIT n)` may be re-run by
    PostgreSQL's planner and claim more than `n` rows. `order` is `claim_order_by`'s, applied
    to a window of the earliest-due candidates read from the claim's partial index
    (`CANDIDATES_PER_CLAIM` times the batch): the sort stays that small however many attempts
    wait, and since `schedule_due` creates attempts in priority order the earliest-due ones are
    also the most urgent when a window opens on a backlog.

    On PostgreSQL the window's ids reach the locking query as one array (`id = ANY((SELECT
    array_agg(id) FROM window))`), which the planner can only serve by primary-key lookups:
    written as `id IN (window)` it chose a hash join over a sequential scan of every scheduled
    attempt (and of every task) for each claim, work that grew with the backlog and was most of
    what a claim cost. The window's condition is `claimable` (the partial index's own
    predicate) and the lock step's state checks are `still(...)`, as for every update by id: on
    statistics taken before a morning's attempts were scheduled, plain `state = 'scheduled'`
    checks let the planner sort every scheduled attempt for the window and scan the claimable
    index with `id = ANY` as a non-leading key (300 ms per claim instead of 2 ms;
    tests/store/test_claim_plan.py). The sort keys come back with the claimed ids (RETURNING)
    where the database allows it (SQLite's RETURNING sees only the updated table: it reads them
    back).
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = (
        session.connection()
        .execute(  # Core: no ORM bulk-update bookkeeping per claim
            _claim_statement(postgres, order),
            {
                "c_now": now,
                "c_worker": worker,
                "c_until": now + lease,
                "c_limit": limit,
                "c_window": max(CANDIDATES_MIN, limit * CANDIDATES_PER_CLAIM),
            },
        )
        .all()
    )
    if len(rows) < 2:
        return [r[0] for r in rows]
    if postgres:  # RETURNING keeps no order: sort by the keys it returned
        by = _claim_sort_key(order)
        return [r[0] for r in sorted(rows, key=lambda r: by(r[1:]))]
    return list(  # a primary-key lookup of few rows
        session.scalars(
            select(Attempt.id)
            .join(CallbackTask, CallbackTask.id == Attempt.task_id)
            .where(Attempt.id.in_([r[0] for r in rows]))
            .order_by(*claim_order_by(order))
        )
    )


@cache
def _claim_statement(postgres: bool, order: ClaimOrder) -> Any:
    """`claim`'s statement, built once per engine kind and order, its values bound per call:
    building it (and its cache key) anew cost the dispatcher as much Python as the rest of a
    claim."""
    window = (
        select(Attempt.id)
        .where(claimable(postgres), Attempt.due_at <= bindparam("c_now"))
        .order_by(Attempt.due_at, Attempt.id)
        .limit(bindparam("c_window", type_=Integer))
        .cte("claim_window")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    in_window = (
        Attempt.id
        == any_(sql_cast(select(func.array_agg(window.c.id)).scalar_subquery(), ARRAY(Integer)))
        if postgres
        else Attempt.id.in_(select(window.c.id))
    )
    keys = _claim_keys(order)
    due = (
        select(Attempt.id, *(k.label(f"k{i}") for i, k in enumerate(keys)))
        .join(CallbackTask, CallbackTask.id == Attempt.task_id)
        .where(in_window, still(Attempt.state, AttemptState.SCHEDULED))
        .order_by(*claim_order_by(order))
        .limit(bindparam("c_limit", type_=Integer))
        .with_for_update(skip_locked=True, of=Attempt)
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    returned = (
        (Attempt.id, *(due.c[f"k{i}"] for i in range(len(keys)))) if postgres else (Attempt.id,)
    )
    return (
        update(Attempt)
        .where(Attempt.id == due.c.id, still(Attempt.state, AttemptState.SCHEDULED))
        .values(
            state=AttemptState.CLAIMED,
            claimed_by=bindparam("c_worker"),
            claimed_at=bindparam("c_now"),
            lease_expires_at=bindparam("c_until"),
        )
        .returning(*returned)
    )


def release(session: Session, attempt_id: int, due_at: datetime, note: str | None = None) -> None:
    """Give a claimed attempt back (gate said not now, or a transient error): not a contact."""
    session.execute(
        update(Attempt)
        .where(Attempt.id == attempt_id, still(Attempt.state, AttemptState.CLAIMED))
        .values(
            state=AttemptState.SCHEDULED,
            claimed_by=None,
            claimed_at=None,
            lease_expires_at=None,
            due_at=due_at,
            error_message=note,
        )
    )


def keep_claim(session: Session, attempt_id: int, until: datetime, note: str) -> None:
    """An ambiguous failure: the claim stays until `until`, when the reaper reconciles it."""
    session.execute(
        update(Attempt)
        .where(Attempt.id == attempt_id, still(Attempt.state, AttemptState.CLAIMED))
        .values(lease_expires_at=until, error_message=note)
    )


def mark_placed(
    session: Session,
    attempt_id: int,
    sid: str,
    status: str,
    now: datetime,
    lease: timedelta,
) -> None:
    """Record the provider's acceptance; a status callback that came first is not undone."""
    mark_placed_many(session, [(attempt_id, sid, status, now + lease)], now)


def mark_placed_many(
    session: Session, placed: Sequence[tuple[int, str, str, datetime]], now: datetime
) -> None:
    """`mark_placed` for a batch of (attempt id, sid, status, settle check): one statement, or two.

    The settle check (the placed lease) is each attempt's own: when its final status should have
    come at the latest (`dialer.settle`), so the reaper asks Twilio then if it has not.

    The first moves claimed attempts to placed; the second only fills in the SID and placing
    time of attempts a status callback has already moved on (it finds nothing to do otherwise).
    On PostgreSQL each is one statement over the batch as arrays (`unnest`), the rows found by
    primary key (`id = ANY`): a hundred single-row updates cost the dispatcher's Python and the
    server ten times the CPU of the claim that came before them. SQLite runs each as an
    executemany (in-process: no round trips to save).
    """
    if not placed:
        return
    connection = session.connection()  # Core: the ORM adds nothing to a bulk update by id
    if connection.dialect.name == "postgresql":
        batch: dict[str, Any] = {
            "b_ids": [aid for aid, _, _, _ in placed],
            "b_sids": [sid for _, sid, _, _ in placed],
            "b_statuses": [status for _, _, status, _ in placed],
            "b_leases": [until for _, _, _, until in placed],
            "b_now": now,
        }
        if connection.execute(_PLACED_ARRAYS, batch).rowcount != len(placed):
            connection.execute(_PLACED_LATE_ARRAYS, batch)  # some callbacks came first
        return
    rows = [
        {"b_id": aid, "b_sid": sid, "b_status": status, "b_now": now, "b_lease": until}
        for aid, sid, status, until in placed
    ]
    moved = connection.execute(_PLACED, rows).rowcount
    if moved != len(rows):  # some callbacks came first (or the driver cannot count)
        connection.execute(_PLACED_LATE, rows)


_attempts = cast(Table, Attempt.__table__)
_tasks = cast(Table, CallbackTask.__table__)
_PLACED = (
    update(_attempts)
    .where(_attempts.c.id == bindparam("b_id"), still(_attempts.c.state, AttemptState.CLAIMED))
    .values(
        state=AttemptState.PLACED,
        provider_sid=bindparam("b_sid"),
        provider_status=bindparam("b_status"),
        placed_at=bindparam("b_now"),
        lease_expires_at=bindparam("b_lease"),
    )
)
_PLACED_LATE = (
    update(_attempts)
    .where(_attempts.c.id == bindparam("b_id"), _attempts.c.provider_sid.is_(None))
    .values(provider_sid=bindparam("b_sid"), placed_at=bindparam("b_now"))
)
_BATCH_IDS = bindparam("b_ids", type_=ARRAY(Integer))
_batch = (
    func.unnest(
        _BATCH_IDS,
        bindparam("b_sids", type_=ARRAY(String)),
        bindparam("b_statuses", type_=ARRAY(String)),
        bindparam("b_leases", type_=ARRAY(DateTime(timezone=True))),
    )
    .table_valued("id", "sid", "status", "lease")
    .render_derived(name="batch")
)
_PLACED_ARRAYS = (
    update(_attempts)
    .where(
        _attempts.c.id == any_(_BATCH_IDS),  # the primary key's lookups; then joined to the batch
        _attempts.c.id == _batch.c.id,
        still(_attempts.c.state, AttemptState.CLAIMED),
    )
    .values(
        state=AttemptState.PLACED,
        provider_sid=_batch.c.sid,
        provider_status=_batch.c.status,
        placed_at=bindparam("b_now"),
        lease_expires_at=_batch.c.lease,
    )
)
_PLACED_LATE_ARRAYS = (
    update(_attempts)
    .where(
        _attempts.c.id == any_(_BATCH_IDS),
        _attempts.c.id == _batch.c.id,
        _attempts.c.provider_sid.is_(None),
    )
    .values(provider_sid=_batch.c.sid, placed_at=bindparam("b_now"))
)
_TASK_SCHEDULED = (
    update(_tasks)
    .where(_tasks.c.id == bindparam("b_id"))
    .values(
        next_attempt_at=None,
        attempts_made=bindparam("b_number"),
        state=TaskState.IN_PROGRESS,
        updated_at=bindparam("b_now"),
    )
)


def fail_attempt(
    session: Session,
    attempt_id: int,
    now: datetime,
    *,
    code: int | None,
    message: str,
    state: AttemptState = AttemptState.FAILED,
) -> None:
    session.execute(
        update(Attempt)
        .where(Attempt.id == attempt_id, Attempt.state.notin_(ENDED_ATTEMPT_STATES))
        .values(
            state=state,
            error_code=code,
            error_message=message,
            ended_at=now,
            lease_expires_at=None,
        )
    )


def counts(session: Session) -> dict[str, int]:
    """Attempts by state: the operator's quick look at the books."""
    return {
        state: int(n)
        for state, n in session.execute(select(Attempt.state, func.count()).group_by(Attempt.state))
    }
