"""My calls: an agent's open tasks in the planner's order of urgency, appointments at their time.

Each line says how long is left before the deadline, whether the customer's calling window is open
now (in the customer's own zone) and when it opens otherwise. Used by the console's "My calls"
and `dialer assignments`; only a supervisor may ask for another agent's queue.

A task past its deadline stays in the queue: it is breached (docs/definitions.md) until reached, and
a reach now still counts, as reached late, so it remains workable. But it can no longer count
towards coverage in time, so it comes **after** every task that still can. An appointment is
different: the customer agreed a time and waits for the call, so one whose agreed time passed
without the call (more than the hour the gate still keeps it, `APPOINTMENT_KEPT`) is overdue
and urgent: it comes right after the appointments that can still be kept on time (their hour
runs out soon; the missed one is late whatever happens), the longest-waiting customer first.

The order: due appointments, overdue appointments, tasks still in time (planner's urgency),
overdue tasks (members first, then the most recently overdue: the service is freshest in the
customer's mind, a week-old miss is the least worth a call), appointments still ahead. Each line
says whether it is overdue (past the deadline, or past the agreed time) and by how much; the
queue's limit is filled with in-time tasks first, so a pile of old misses never hides a task that
can still be saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agent_work import OPEN_STATES, Actor, actor_named
from dialer.appointments import customer_reachee, customer_zone
from dialer.attempts import CampaignBook
from dialer.errors import NotFoundError
from dialer.gate import APPOINTMENT_KEPT, APPOINTMENT_SLACK
from dialer.models import CallbackTask, Customer
from dialer.windows import is_open, next_open

QUEUE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One line of "My calls"."""

    task_id: int
    customer_name: str
    member: bool
    campaign: str
    language: str | None
    deadline: datetime
    time_left: timedelta
    appointment_at: datetime | None
    due: bool  # an appointment whose time has come, or an ordinary task
    window_open: bool
    opens_at: datetime | None  # when the window opens next, if closed
    zone: str
    local_now: datetime
    state: str
    outcome: str | None

    @property
    def overdue(self) -> bool:
        """Past the deadline and still open: breached until reached (then reached late)."""
        return self.time_left <= timedelta(0)

    @property
    def overdue_by(self) -> timedelta:
        return max(-self.time_left, timedelta(0))

    @property
    def appointment_overdue_by(self) -> timedelta:
        """How long ago the agreed time passed, once the gate no longer keeps it (zero before,
        and without an appointment): the customer has been waiting that long."""
        if self.appointment_at is None:
            return timedelta(0)
        waited = self.local_now - self.appointment_at
        return waited if waited > APPOINTMENT_KEPT else timedelta(0)

    @property
    def appointment_overdue(self) -> bool:
        """The agreed time passed without the call: urgent, the customer waits."""
        return self.appointment_overdue_by > timedelta(0)


def queue(
    session: Session, book: CampaignBook, actor: Actor, now: datetime, *, agent: str | None = None
) -> list[QueueItem]:
    """The open tasks of `agent` (default: the actor) in the planner's order of urgency, with
    appointments whose time has come first (those still kept on time, then the overdue) and
    appointments still ahead last, at their time. Only a supervisor may name another agent."""
    owner = actor
    if agent is not None and agent != actor.username:
        if not actor.supervisor:
            raise NotFoundError(f"there is no agent {agent!r}")
        owner = actor_named(session, agent)
    book.refresh(session)
    mine = (
        select(CallbackTask, Customer)
        .join(Customer, Customer.id == CallbackTask.customer_id)
        .where(CallbackTask.agent_id == owner.agent_id, CallbackTask.state.in_(OPEN_STATES))
    )
    rows = list(
        session.execute(
            mine.where(CallbackTask.deadline > now)
            .order_by(
                CallbackTask.priority,
                CallbackTask.member.desc(),
                CallbackTask.deadline,
                CallbackTask.id,
            )
            .limit(QUEUE_LIMIT)
        )
    )
    if len(rows) < QUEUE_LIMIT:
        rows += session.execute(
            mine.where(CallbackTask.deadline <= now)
            .order_by(CallbackTask.member.desc(), CallbackTask.deadline.desc(), CallbackTask.id)
            .limit(QUEUE_LIMIT - len(rows))
        ).all()
    items = [_item(book, task, cust, now) for task, cust in rows]
    appts = sorted((i for i in items if i.appointment_at), key=_appt_key)
    kept = [i for i in appts if i.due and not i.appointment_overdue]
    missed = [i for i in appts if i.appointment_overdue]  # the longest-waiting first
    later = [i for i in appts if not i.due]
    in_time = [i for i in items if not i.appointment_at and not i.overdue]
    overdue = [i for i in items if not i.appointment_at and i.overdue]
    return [*kept, *missed, *in_time, *overdue, *later]


def _appt_key(item: QueueItem) -> datetime:
    assert item.appointment_at is not None
    return item.appointment_at


def _item(book: CampaignBook, task: CallbackTask, cust: Customer, now: datetime) -> QueueItem:
    spec = book.spec(task.campaign_id)
    who = customer_reachee(cust)
    policy = spec.window_policy()
    zone = customer_zone(spec, cust)
    open_now = is_open(who, policy, now)
    appt = task.appointment_at
    return QueueItem(
        task_id=task.id,
        customer_name=cust.name,
        member=task.member,
        campaign=spec.name,
        language=cust.language,
        deadline=task.deadline,
        time_left=task.deadline - now,
        appointment_at=appt,
        due=appt is None or appt - APPOINTMENT_SLACK <= now,
        window_open=open_now,
        opens_at=None if open_now else next_open(who, policy, now),
        zone=zone.key,
        local_now=now.astimezone(zone),
        state=task.state,
        outcome=task.outcome,
    )
