"""Do the books balance? The database's attempts, tasks and outcomes against the sandbox's log.

Shared by the fault-survival tests (connection cuts, fault storms, clock jumps): whatever went
wrong during the run, afterwards every attempt is in a known state, every call or SMS the
sandbox made belongs to exactly one attempt with the sandbox's final status, nobody was
contacted twice for one attempt, and the outcomes agree with what the simulated customers did.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from sqlalchemy import func, select

from dialer.models import Attempt, AttemptState, CallbackTask, Outcome, OutcomeName, TaskState
from dialer.store import Store
from dialer.telephony.sandbox import Sandbox

ENDED_AS = {"failed": AttemptState.FAILED, "undelivered": AttemptState.FAILED,
            "canceled": AttemptState.CANCELLED}  # fmt: skip
REACHED_OUTCOMES = {
    OutcomeName.SATISFIED, OutcomeName.AVERAGE, OutcomeName.UNSATISFIED,
    OutcomeName.CALLBACK_REQUESTED, OutcomeName.REFUSED, OutcomeName.OPTED_OUT,
    OutcomeName.WRONG_NUMBER,
}  # fmt: skip
SETTLED = (AttemptState.SCHEDULED, AttemptState.COMPLETED, AttemptState.FAILED,
           AttemptState.CANCELLED)  # fmt: skip


def unsettled(store: Store) -> int:
    """Attempts still claimed or placed: a run under faults goes on until there are none."""
    with store.sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Attempt)
                .where(Attempt.state.in_((AttemptState.CLAIMED, AttemptState.PLACED)))
            )
            or 0
        )


@dataclass
class Books:
    attempts: int
    placed: int
    contacts: int
    reached: int
    states: dict[str, int]


def check_books(store: Store, sandbox: Sandbox) -> Books:
    """Assert the books balance against the sandbox's log; the figures, for the report."""
    contacts = sandbox.contacts()
    by_sid = {c.sid: c for c in contacts}
    assert len(by_sid) == len(contacts)
    with store.sessions() as s:
        attempts = list(s.scalars(select(Attempt).order_by(Attempt.id)))
        tasks = {t.id: t for t in s.scalars(select(CallbackTask))}
        outcomes = {o.task_id: o for o in s.scalars(select(Outcome))}
    # Every attempt is in a known, settled state: nothing left claimed or placed.
    stuck = [(a.id, a.state, a.provider_status) for a in attempts if a.state not in SETTLED]
    assert not stuck, f"attempts not settled: {stuck[:10]}"
    # Placed = the sandbox's log, one to one, with the sandbox's final status.
    owned = [a for a in attempts if a.provider_sid is not None]
    sids = collections.Counter(a.provider_sid for a in owned)
    assert not [sid for sid, n in sids.items() if n > 1], "one call booked by two attempts"
    assert set(sids) == set(by_sid), (
        f"{len(set(by_sid) - set(sids))} sandbox contacts belong to no attempt; "
        f"{len(set(sids) - set(by_sid))} attempts name a SID the sandbox never made"
    )
    for a in owned:
        c = by_sid[a.provider_sid or ""]
        assert c.to == a.phone_e164 and c.kind == ("sms" if a.channel == "sms" else "call")
        assert a.provider_status == c.status, (a.id, a.provider_status, c.status)
        assert a.state == ENDED_AS.get(c.status, AttemptState.COMPLETED), (a.id, a.state, c.status)
    # Nobody contacted twice: per number, the sandbox's contacts are the attempts placed to it.
    per_number = collections.Counter(c.to for c in contacts)
    booked = collections.Counter(a.phone_e164 for a in owned)
    assert per_number == booked
    # Outcomes agree with what the customers did: reached only after a person answered (or an
    # SMS reply), and every reached task carries a reached outcome.
    answered_tasks = {
        a.task_id
        for a in owned
        if by_sid[a.provider_sid or ""].answered_by == "human"
        or by_sid[a.provider_sid or ""].sms_reply is not None
    }
    reached = {tid for tid, t in tasks.items() if t.state == TaskState.REACHED}
    assert reached <= answered_tasks, sorted(reached - answered_tasks)[:10]
    for tid in reached:
        assert tasks[tid].outcome in REACHED_OUTCOMES and outcomes[tid].name == tasks[tid].outcome
    for t in tasks.values():
        if t.state == TaskState.NOT_REACHED:
            assert t.outcome == OutcomeName.NOT_REACHED
    return Books(
        attempts=len(attempts),
        placed=len(owned),
        contacts=len(contacts),
        reached=len(reached),
        states=dict(collections.Counter(str(a.state) for a in attempts)),
    )
