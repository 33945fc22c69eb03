"""The callback record (回訪記錄): one outcome per reached task, and what it sets in motion.

Recording an outcome marks the task reached (docs/definitions.md: the customer took part), stops any
try still scheduled for it, opens a follow-up case for a complaint (`unsatisfied`; `average` only
when the campaign says so) carrying the reason and the customer's words, and for
`callback_requested` keeps the agreed time as the task's appointment; `wrong_number` marks the
number that was called unusable for this customer (no campaign calls or texts it again; another
customer who gave the same number is not touched). The outcome of a case's
follow-up callback does not open a case: `cases.on_follow_up_answer` closes or reopens the case it
belongs to. A second outcome for the same task only adds its words to the note.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer import cases
from dialer.campaigns import CampaignSpec
from dialer.models import (
    Attempt,
    AttemptState,
    CallbackTask,
    CaseSource,
    CustomerPhone,
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
    reason: str | None = None,
) -> Outcome:
    """Record `name` for `task` (once); a later call only appends `note` to the record, except
    that the answer given in an agreed callback replaces `callback_requested`. `note` is the
    customer's words and `reason` the reason chosen (e.g. from the IVR reasons menu); both go
    to the follow-up case a complaint opens."""
    outcome = session.scalar(select(Outcome).where(Outcome.task_id == task.id))
    if outcome is not None and not (
        outcome.name == OutcomeName.CALLBACK_REQUESTED and name != outcome.name
    ):
        if note:
            outcome.note = f"{outcome.note}\n{note}" if outcome.note else note
        if reason and not outcome.reason:
            outcome.reason = reason
        cases.add_to_case(session, outcome.id, reason=reason, words=note)
        return outcome
    if outcome is None:
        outcome = Outcome(task_id=task.id, note=note)
        session.add(outcome)
    elif note:  # the agreed call took place: its answer replaces "call me later"
        outcome.note = f"{outcome.note}\n{note}" if outcome.note else note
    outcome.attempt_id, outcome.name, outcome.channel = attempt_id, name, channel
    outcome.answer = name if name in ANSWERS else None
    outcome.digits, outcome.agent_id, outcome.recorded_at = digits, agent_id, now
    if reason:
        outcome.reason = reason
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
    if name == OutcomeName.WRONG_NUMBER and attempt_id is not None:
        _wrong_number(session, task.customer_id, attempt_id, now)
    follow_up_case = cases.case_for_follow_up(session, task.id)
    if follow_up_case is not None:
        if name != OutcomeName.CALLBACK_REQUESTED:
            cases.on_follow_up_answer(session, task, name, now, words=note)
    elif name == OutcomeName.UNSATISFIED or (
        name == OutcomeName.AVERAGE and spec.complaints.average_opens_case
    ):
        cases.open_case(
            session,
            task,
            outcome,
            now,
            reason=outcome.reason,
            words=note,
            source=CaseSource.ANSWER,
        )
    return outcome


def _wrong_number(session: Session, customer_id: int, attempt_id: int, now: datetime) -> None:
    """The person who answered is not this customer: that number is no longer theirs to call."""
    e164 = session.scalar(select(Attempt.phone_e164).where(Attempt.id == attempt_id))
    if e164 is None:
        return
    session.execute(
        update(CustomerPhone)
        .where(CustomerPhone.customer_id == customer_id, CustomerPhone.e164 == e164)
        .values(
            voice_ok=False,
            sms_ok=False,
            unusable_reason=f"wrong number (said in the call of {now:%Y-%m-%d})",
        )
    )
