"""The callback record (回訪記錄): one outcome per reached task, and what it sets in motion.

Recording an outcome marks the task reached (DOMAIN.md: the customer took part), stops any try
still scheduled for it, opens a follow-up case for a complaint (`unsatisfied`; `average` only
when the campaign says so), and for `callback_requested` keeps the agreed time as the task's
appointment. A second outcome for the same task only adds its words to the note.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer.campaigns import CampaignSpec
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    CaseState,
    FollowUpCase,
    Outcome,
    OutcomeName,
    TaskState,
)

REACHED = frozenset(
    {
        OutcomeName.SATISFIED,
        OutcomeName.AVERAGE,
        OutcomeName.UNSATISFIED,
        OutcomeName.CALLBACK_REQUESTED,
        OutcomeName.REFUSED,
        OutcomeName.OPTED_OUT,
        OutcomeName.WRONG_NUMBER,
    }
)
ANSWERS = {"satisfied", "average", "unsatisfied"}


def record_outcome(
    session: Session,
    spec: CampaignSpec,
    task: CallbackTask,
    name: str,
    now: datetime,
    *,
    channel: str,
    attempt_id: int | None = None,
    note: str | None = None,
    digits: str | None = None,
    appointment_at: datetime | None = None,
    agent_id: int | None = None,
) -> Outcome:
    """Record `name` for `task` (once); a later call only appends `note` to the record, except
    that the answer given in an agreed callback replaces `callback_requested`."""
    outcome = session.scalar(select(Outcome).where(Outcome.task_id == task.id))
    if outcome is not None and not (
        outcome.name == OutcomeName.CALLBACK_REQUESTED and name != outcome.name
    ):
        if note:
            outcome.note = f"{outcome.note}\n{note}" if outcome.note else note
        return outcome
    if outcome is None:
        outcome = Outcome(task_id=task.id, note=note)
        session.add(outcome)
    elif note:  # the agreed call took place: its answer replaces "call me later"
        outcome.note = f"{outcome.note}\n{note}" if outcome.note else note
    outcome.attempt_id, outcome.name, outcome.channel = attempt_id, name, channel
    outcome.answer = name if name in ANSWERS else None
    outcome.digits, outcome.agent_id, outcome.recorded_at = digits, agent_id, now
    session.flush()
    task.outcome = name
    task.updated_at = now
    if name in REACHED:
        task.reached_at = task.reached_at or now
    if name == OutcomeName.CALLBACK_REQUESTED:
        # The customer took part and asked for another time: the appointment passes the gate.
        task.state = TaskState.PENDING
        task.appointment_at = appointment_at
        task.next_attempt_at = appointment_at or now
    else:
        task.state = TaskState.REACHED if name in REACHED else TaskState.NOT_REACHED
        task.next_attempt_at = None
        session.execute(
            update(Attempt)
            .where(Attempt.task_id == task.id, Attempt.state == AttemptState.SCHEDULED)
            .values(state=AttemptState.CANCELLED, error_message=f"task ended: {name}")
        )
    if name == OutcomeName.UNSATISFIED or (
        name == OutcomeName.AVERAGE and spec.complaints.average_opens_case
    ):
        session.add(
            FollowUpCase(
                task_id=task.id,
                customer_id=task.customer_id,
                outcome_id=outcome.id,
                state=CaseState.INTAKE,
                description=note,
                opened_at=now,
            )
        )
    return outcome
