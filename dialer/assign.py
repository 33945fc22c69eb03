"""Assigning tasks that need a person to agents (負責客戶數量均衡、兼顧業務能力): the shell.

The pure core is `dialer.balance` (who gets which task) and `dialer.capacity` (is there enough
agent time); their public names are re-exported here so existing imports keep working.

Only an agent whose shift meets the customer's calling window before the deadline can take a
task (`dialer.reach`: the capacity model's 15-minute slots); one who shares part of it takes a
matching part of the load. A task no shift reaches stays unassigned, reported `out of hours`.

`assign_open_tasks` (unassigned tasks and tasks of inactive agents) and `rebalance`
(also sheds the least urgent tasks of agents who fell behind, and the tasks an agent's shift can
never reach in time) read tasks and agents in one query
each, then write with one executemany UPDATE. A task an agent is on a call about never moves
(checked when read and again in the UPDATE). `dialer run` rebalances every few minutes.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, cast

from sqlalchemy import Select, Table, and_, bindparam, exists, false, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dialer import audit
from dialer.agents import AgentProfile, profile_of
from dialer.attempts import HANDED_TO_AGENT
from dialer.balance import (
    FAR_FUTURE,
    OUT_OF_HOURS,
    AgentInfo,
    Balancer,
    BalanceResult,
    TaskInfo,
    balance,
    language_matches,
    skill_weight,
    task_order,
)
from dialer.capacity import CapacityCheck, capacity_check
from dialer.clock import Clock
from dialer.models import (
    Agent,
    AgentRole,
    Attempt,
    AttemptState,
    CallbackTask,
    Campaign,
    Customer,
    TaskState,
)
from dialer.plan_model import REACHEE_COLUMNS, reachee_of
from dialer.reach import Reach, ReachBook, policy_of
from dialer.store import Store
from dialer.windows import Reachee

__all__ = [
    "FAR_FUTURE",
    "OPEN_STATES",
    "AgentInfo",
    "AgentLoad",
    "AssignResult",
    "BalanceResult",
    "CapacityCheck",
    "TaskInfo",
    "assign_open_tasks",
    "balance",
    "capacity_check",
    "language_matches",
    "needs_person_by_definition",
    "rebalance",
    "skill_weight",
]

OPEN_STATES: Final = (TaskState.PENDING.value, TaskState.IN_PROGRESS.value)
ESCALATED_TO_AGENT: Final = HANDED_TO_AGENT
"""`plan_action` of a task of an automated campaign that was handed to a person (escalation)."""
DEFAULT_CAP_DAYS: Final = 3.0
"""Nobody is planned more than three days of work: the three-day rule bounds a useful backlog."""
DEFAULT_BEHIND_DAYS: Final = 2.0
"""An agent holding more than two days of capacity has fallen behind and sheds tasks."""
LIST_LIMIT: Final = 100


# --- the shell -----------------------------------------------------------------------------


def needs_person_by_definition(campaign: Campaign) -> bool:
    """Default rule: the campaign file says `handled_by = "agents"`."""
    return (campaign.definition or {}).get("handled_by") == "agents"


@dataclass(frozen=True, slots=True)
class AgentLoad:
    agent_id: int
    username: str
    active: bool
    backlog: int
    daily_capacity: int
    skill: int
    load_ratio: float
    """backlog ÷ (daily capacity × skill weight): days of work held."""

    def as_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "active": self.active,
            "backlog": self.backlog,
            "daily_capacity": self.daily_capacity,
            "skill": self.skill,
            "load_ratio": round(self.load_ratio, 3),
        }


@dataclass
class AssignResult:
    considered: int = 0
    assigned: int = 0
    """Tasks that had no (active) agent and got one."""
    moved: int = 0
    """Tasks taken off an inactive agent or one who fell behind."""
    kept: int = 0
    unassigned: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    loads: list[AgentLoad] = field(default_factory=list)
    out_of_hours: int = 0
    """Unassigned because no agent who could take them works while the customer can be called
    before the deadline (counted in `unassigned` too)."""
    out_of_hours_tasks: list[int] = field(default_factory=list)
    """Their task ids, the most urgent first (at most LIST_LIMIT)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "considered": self.considered,
            "assigned": self.assigned,
            "moved": self.moved,
            "kept": self.kept,
            "unassigned": self.unassigned,
            "reasons": self.reasons,
            "out_of_hours": self.out_of_hours,
            "out_of_hours_tasks": self.out_of_hours_tasks,
            "agents": [a.as_json() for a in self.loads],
        }


@dataclass(frozen=True, slots=True)
class _Row:
    info: TaskInfo
    agent_id: int | None
    appointment: datetime | None
    campaign_id: int
    who: Reachee


def _load_agents(session: Session) -> tuple[list[Agent], dict[int, AgentProfile]]:
    agents = list(session.scalars(select(Agent).order_by(Agent.username)))
    return agents, {a.id: profile_of(a) for a in agents}


def _agent_infos(
    agents: Sequence[Agent], profiles: Mapping[int, AgentProfile], backlog: Mapping[int, int]
) -> list[AgentInfo]:
    return [
        AgentInfo(
            id=a.id,
            username=a.username,
            languages=frozenset(a.languages or ()),
            skills=profiles[a.id].skills,
            daily_capacity=a.daily_capacity,
            skill=a.skill,
            active=a.active and a.role != AgentRole.SUPERVISOR,
            backlog=backlog.get(a.id, 0),
        )
        for a in agents
    ]


def _task_query(
    campaign_ids: Sequence[int], escalated_ids: Sequence[int] = ()
) -> Select[*tuple[Any, ...]]:
    """The open tasks of these campaigns with their customer's language; of `escalated_ids`
    (automated campaigns that can hand a task to a person), only the tasks escalated to one."""
    return (
        select(
            CallbackTask.id,
            CallbackTask.campaign_id,
            CallbackTask.agent_id,
            CallbackTask.member,
            CallbackTask.priority,
            CallbackTask.deadline,
            CallbackTask.appointment_at,
            Customer.language,
            *REACHEE_COLUMNS,
        )
        .join(Customer, Customer.id == CallbackTask.customer_id)
        .where(
            CallbackTask.state.in_(OPEN_STATES),
            or_(
                CallbackTask.campaign_id.in_(campaign_ids),
                and_(
                    CallbackTask.campaign_id.in_(escalated_ids),
                    CallbackTask.plan_action == ESCALATED_TO_AGENT,
                ),
            ),
        )
    )


def _rows(rows: Iterable[Any], kinds: Mapping[int, str]) -> Iterator[_Row]:
    for tid, cid, agent_id, member, prio, deadline, appt, lang, *window in rows:
        yield _Row(
            TaskInfo(
                id=tid,
                kind=kinds[cid],
                language=lang,
                member=bool(member),
                priority=prio or 0,
                deadline=deadline,
            ),
            agent_id,
            appt,
            cid,
            reachee_of(*window),
        )


def _held_tasks(
    session: Session,
    kinds: Mapping[int, str],
    active: Collection[int],
    escalated: Collection[int] = (),
) -> list[_Row]:
    """Open tasks that active agents hold: bounded by their backlog, so read in one go."""
    if not kinds or not active:
        return []
    query = _task_query(*_split(kinds, escalated)).where(CallbackTask.agent_id.in_(sorted(active)))
    return list(_rows(session.connection().execute(query), kinds))


def _split(kinds: Mapping[int, str], escalated: Collection[int]) -> tuple[list[int], list[int]]:
    """(campaigns handled by agents, automated campaigns whose escalated tasks need a person)."""
    return sorted(set(kinds) - set(escalated)), sorted(escalated)


def _free_tasks(
    session: Session,
    kinds: Mapping[int, str],
    active: Collection[int],
    escalated: Collection[int] = (),
) -> Iterator[_Row]:
    """Unassigned tasks and tasks of inactive agents, most urgent first, streamed.

    The database sorts in `task_order` (priority, members first, deadline, id), so a million
    open tasks never sit in memory at once.
    """
    if not kinds:
        return
    held = CallbackTask.agent_id.in_(sorted(active)) if active else false()
    query = (
        _task_query(*_split(kinds, escalated))
        .where(or_(CallbackTask.agent_id.is_(None), ~held))
        .order_by(
            func.coalesce(CallbackTask.priority, 0),
            CallbackTask.member.desc(),
            CallbackTask.deadline,
            CallbackTask.id,
        )
    )
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        yield from _rows(_sqlite_stream(conn, query), kinds)
        return
    # yield_per on the statement: on the connection it would stick (server-side cursors on
    # PostgreSQL refuse the executemany UPDATE that follows).
    yield from _rows(conn.execute(query.execution_options(yield_per=10_000)), kinds)


def _sqlite_stream(conn: Connection, query: Select[*tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The query on the driver's own cursor, in chunks: tuples, the deadline parsed once per
    distinct stored value (a million rows through SQLAlchemy's Row and type processing cost more
    than the balancing)."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    values = tuple(params[k] for k in compiled.positiontup or ())
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), values)
        while chunk := cursor.fetchmany(10_000):
            for tid, cid, agent_id, member, prio, deadline, *rest in chunk:
                appt, *more = rest
                at = _stored_utc(appt) if appt is not None else None
                yield tid, cid, agent_id, member, prio, _stored_utc(deadline), at, *more
    finally:
        cursor.close()


@lru_cache(maxsize=1 << 16)
def _stored_utc(text: str) -> datetime:
    """A deadline as SQLite stores it (naive UTC text) back to aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _backlog(session: Session) -> dict[int, int]:
    """Open tasks per agent, across every campaign (an agent's day is one day)."""
    rows = session.execute(
        select(CallbackTask.agent_id, func.count())
        .where(CallbackTask.state.in_(OPEN_STATES), CallbackTask.agent_id.is_not(None))
        .group_by(CallbackTask.agent_id)
    )
    return {int(aid): int(n) for aid, n in rows if aid is not None}


def _in_agent_call(session: Session) -> set[int]:
    """Tasks an agent is on the phone about right now: they stay with that agent (moving one
    would leave the agent unable to record the outcome). Few rows, read by `ix_attempts_due`."""
    return set(
        session.scalars(
            select(Attempt.task_id).where(
                Attempt.state == AttemptState.PLACED, Attempt.channel == "agent"
            )
        )
    )


def _write(session: Session, now: datetime, moves: Mapping[int, int | None]) -> None:
    """One executemany UPDATE; a task that closed meanwhile, or whose agent started a call on it
    since it was read, is left alone (the counts reported may then be off by those few)."""
    if not moves:
        return
    conn = session.connection()
    if conn.dialect.name == "sqlite":  # the driver's executemany: no per-row type processing
        stamp = now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        conn.exec_driver_sql(_SQLITE_MOVE, [(a, stamp, t) for t, a in moves.items()])
        return
    table = cast(Table, CallbackTask.__table__)
    stmt = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            # not IN (...): expanding parameters cannot be used with executemany
            or_(*(table.c.state == state for state in OPEN_STATES)),
            ~exists().where(
                Attempt.task_id == table.c.id,
                Attempt.state == AttemptState.PLACED,
                Attempt.channel == "agent",
            ),
        )
        .values(agent_id=bindparam("b_agent"), updated_at=bindparam("b_now"))
    )
    params = [{"b_id": t, "b_agent": a, "b_now": now} for t, a in moves.items()]
    for i in range(0, len(params), 5_000):
        conn.execute(stmt, params[i : i + 5_000])


# Built once from constants, never from data.
_SQLITE_MOVE = (
    "UPDATE callback_tasks SET agent_id = ?, updated_at = ? WHERE id = ? AND state IN ("  # noqa: S608
    + ", ".join(f"'{s}'" for s in OPEN_STATES)
    + ") AND NOT EXISTS (SELECT 1 FROM attempts WHERE attempts.task_id = callback_tasks.id"
    + f" AND attempts.state = '{AttemptState.PLACED.value}' AND attempts.channel = 'agent')"
)


def _run(
    store: Store,
    clock: Clock,
    *,
    campaign_id: int | None,
    needs_person: Callable[[Campaign], bool],
    max_days: float | None,
    behind_days: float | None,
    actor: str,
    action: str,
    audit_unchanged: bool = True,
) -> AssignResult:
    with store.transaction() as session:
        chosen = [c for c in session.scalars(select(Campaign)) if campaign_id in (None, c.id)]
        campaigns = [c for c in chosen if needs_person(c)]
        # Automated campaigns with an agent channel: their escalated tasks need a person too.
        escalated = {
            c.id
            for c in chosen
            if not needs_person(c) and "agent" in ((c.definition or {}).get("channels") or [])
        }
        kinds = {c.id: c.kind for c in campaigns} | {
            c.id: c.kind for c in chosen if c.id in escalated
        }
        agents, profiles = _load_agents(session)
        backlog = _backlog(session)
        infos = {a.id: a for a in _agent_infos(agents, profiles, backlog)}
        active = {aid for aid, a in infos.items() if a.active}

        now = clock.now()
        reach = ReachBook(
            now,
            [(aid, profiles[aid]) for aid in sorted(active)],
            {c.id: policy_of(c.definition) for c in chosen if c.id in kinds},
        )

        def reach_of(row: _Row) -> Reach | None:
            """An appointment still ahead needs an agent at work at its agreed time; other tasks
            (and appointments whose time has passed) an agent whose shift meets the window."""
            if row.appointment is not None and row.appointment > now:
                return reach.at(row.appointment)
            return reach.of(row.campaign_id, row.who, row.info.deadline)

        held = _held_tasks(session, kinds, active, escalated)
        busy = _in_agent_call(session)
        kept = len(held)
        shed: list[_Row] = []
        unreachable: set[int] = set()  # held by an agent whose shift never meets the customer
        if behind_days is not None:  # rebalance: such tasks leave their agent
            for row in held:
                if row.appointment is not None or row.info.id in busy:
                    continue  # an agent's own appointment stays with them (the customer agreed)
                r = reach_of(row)
                if r is not None and row.agent_id not in r.share:
                    shed.append(row)
                    unreachable.add(row.info.id)
                    if row.agent_id is not None:
                        backlog[row.agent_id] -= 1
                    kept -= 1
            held = [row for row in held if row.info.id not in unreachable]
        # Agents who fell behind shed their least urgent tasks, never their own appointments.
        if behind_days is not None:
            mine_by_agent: dict[int, list[_Row]] = defaultdict(list)
            for row in held:
                if row.agent_id is not None and not row.appointment and row.info.id not in busy:
                    mine_by_agent[row.agent_id].append(row)
            for aid, mine in mine_by_agent.items():
                a = infos[aid]
                allowed = int(behind_days * a.daily_capacity * skill_weight(a.skill))
                surplus = backlog.get(aid, 0) - allowed
                if surplus <= 0:
                    continue
                mine.sort(key=lambda r: task_order(r.info), reverse=True)
                for row in mine[:surplus]:
                    shed.append(row)
                    backlog[aid] -= 1
                    kept -= 1
            max_days = behind_days if max_days is None else min(max_days, behind_days)
        shed.sort(key=lambda r: task_order(r.info))

        pool = [
            AgentInfo(**{**_fields(a), "backlog": backlog.get(a.id, 0)}) for a in infos.values()
        ]
        balancer = Balancer(pool, max_days=max_days)
        moves: dict[int, int | None] = {}
        stayed: Counter[int] = Counter()  # fell-behind agents keep what nobody has room for
        reasons: Counter[str] = Counter()
        result = AssignResult(considered=len(held), kept=kept)
        # Tasks of inactive ("away") agents move, appointments included.
        free = _free_tasks(session, kinds, active, escalated)
        ordered = heapq.merge(shed, free, key=lambda r: task_order(r.info)) if shed else free
        for row in ordered:
            src = row.agent_id
            if src is not None and src not in active and row.info.id in busy:
                result.considered += 1  # an away agent still on the call: it moves afterwards
                result.kept += 1
                continue
            if src is None or src not in active:
                result.considered += 1
                if src is not None:
                    backlog[src] -= 1
            r = reach_of(row)
            dst, why = balancer.offer(row.info, r)
            if dst is None:
                if src is not None and src in active and row.info.id not in unreachable:
                    result.kept += 1
                    stayed[src] += 1
                    continue
                result.unassigned += 1
                reasons[why or ""] += 1
                if r is not None and why is not None and why.startswith(OUT_OF_HOURS):
                    result.out_of_hours += 1
                    if len(result.out_of_hours_tasks) < LIST_LIMIT:
                        result.out_of_hours_tasks.append(row.info.id)
                if row.info.id in unreachable:
                    moves[row.info.id] = None  # nobody can call it in time: shown unassigned
                continue
            if dst == src:
                result.kept += 1
                continue
            moves[row.info.id] = dst
            if src is None:
                result.assigned += 1
            else:
                result.moved += 1
        result.reasons = dict(reasons.most_common())
        loads = dict(balancer.load)
        for aid, n in stayed.items():
            loads[aid] = loads.get(aid, 0) + n
        _write(session, now, moves)
        result.loads = [
            AgentLoad(
                agent_id=a.id,
                username=a.username,
                active=a.active,
                backlog=loads.get(a.id, 0) if a.active else backlog.get(a.id, 0),
                daily_capacity=a.daily_capacity,
                skill=a.skill,
                load_ratio=(loads.get(a.id, 0) if a.active else backlog.get(a.id, 0))
                / (a.daily_capacity * skill_weight(a.skill)),
            )
            for a in sorted(infos.values(), key=lambda x: x.username)
        ]
        if moves or (result.unassigned and audit_unchanged):
            audit.record(
                session,
                clock,
                actor,
                action,
                "campaign" if campaign_id is not None else None,
                campaign_id,
                assigned=result.assigned,
                moved=result.moved,
                unassigned=result.unassigned,
                reasons=result.reasons,
                out_of_hours=result.out_of_hours,
                per_agent=dict(Counter(infos[a].username for a in moves.values() if a is not None)),
            )
    return result


def _fields(a: AgentInfo) -> dict[str, Any]:
    return {name: getattr(a, name) for name in AgentInfo.__dataclass_fields__}


def assign_open_tasks(
    store: Store,
    clock: Clock,
    campaign_id: int | None = None,
    *,
    needs_person: Callable[[Campaign], bool] = needs_person_by_definition,
    max_days: float | None = DEFAULT_CAP_DAYS,
    actor: str = "system",
) -> AssignResult:
    """Give every open, unassigned task that needs a person to an agent (idempotent)."""
    return _run(
        store,
        clock,
        campaign_id=campaign_id,
        needs_person=needs_person,
        max_days=max_days,
        behind_days=None,
        actor=actor,
        action="tasks_assign",
    )


def rebalance(
    store: Store,
    clock: Clock,
    campaign_id: int | None = None,
    *,
    needs_person: Callable[[Campaign], bool] = needs_person_by_definition,
    behind_days: float = DEFAULT_BEHIND_DAYS,
    max_days: float | None = DEFAULT_CAP_DAYS,
    actor: str = "system",
    audit_unchanged: bool = True,
) -> AssignResult:
    """assign_open_tasks, plus: agents holding more than `behind_days` of capacity shed their
    least urgent tasks (never their appointments) to agents with room.

    A task an agent is on a call about never moves. With `audit_unchanged` False (the runner's
    periodic job) a run that moved nothing writes no audit entry, even with tasks left
    unassigned: the same out-of-hours tasks are not re-audited every few minutes."""
    return _run(
        store,
        clock,
        campaign_id=campaign_id,
        needs_person=needs_person,
        max_days=max_days,
        behind_days=behind_days,
        actor=actor,
        action="tasks_rebalance",
        audit_unchanged=audit_unchanged,
    )
