"""Complaints as they stood at a past instant, from the append-only case steps.

`dialer.cases.complaint_counts` counts cases by their state now. A report for a past instant
(`dialer report --at T`) must count them as they were then: a case counts when it was opened by
T (`opened_at <= T`), in the state of its last step taken by T (steps ordered by time, then by
id: judging a complaint that does not stand writes `rejected` and `closed` at one instant).
A case with no step at all (written by something other than `dialer.cases`) has no history to
read: it counts in its current state from its opening. Judged not to stand = a `rejected` step
by T; reopened = a step back from `resolved` to `investigating` by T. The reason and source are
attributes of the case, not steps: the stored ones are used.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.cases import NO_REASON, ComplaintCounts
from dialer.models import CallbackTask, Campaign, CaseState, CaseStep, FollowUpCase


def complaint_counts_at(session: Session, campaign: str, at: datetime) -> ComplaintCounts:
    """Cases of campaign `campaign` (a slug) opened by `at`, by reason, source and state at `at`."""
    cases = {
        cid: (reason, source, state)
        for cid, reason, source, state in session.execute(
            select(FollowUpCase.id, FollowUpCase.reason, FollowUpCase.source, FollowUpCase.state)
            .join(CallbackTask, CallbackTask.id == FollowUpCase.task_id)
            .join(Campaign, Campaign.id == CallbackTask.campaign_id)
            .where(Campaign.slug == campaign, FollowUpCase.opened_at <= at)
        )
    }
    state_at: dict[int, str] = {}
    rejected: set[int] = set()
    reopened: set[int] = set()
    stepped: set[int] = set()
    if cases:
        for case_id, from_state, to_state in session.execute(
            select(CaseStep.case_id, CaseStep.from_state, CaseStep.to_state)
            .join(FollowUpCase, FollowUpCase.id == CaseStep.case_id)
            .join(CallbackTask, CallbackTask.id == FollowUpCase.task_id)
            .join(Campaign, Campaign.id == CallbackTask.campaign_id)
            .where(Campaign.slug == campaign, FollowUpCase.opened_at <= at, CaseStep.at <= at)
            .order_by(CaseStep.case_id, CaseStep.at, CaseStep.id)
        ):
            state_at[case_id] = to_state  # the last one by `at` wins
            if to_state == CaseState.REJECTED:
                rejected.add(case_id)
            if from_state == CaseState.RESOLVED and to_state == CaseState.INVESTIGATING:
                reopened.add(case_id)
        stepped = set(
            session.scalars(
                select(CaseStep.case_id)
                .join(FollowUpCase, FollowUpCase.id == CaseStep.case_id)
                .join(CallbackTask, CallbackTask.id == FollowUpCase.task_id)
                .join(Campaign, Campaign.id == CallbackTask.campaign_id)
                .where(Campaign.slug == campaign, FollowUpCase.opened_at <= at)
                .distinct()
            )
        )
    counts = ComplaintCounts()
    for case_id, (reason, source, state) in cases.items():
        if case_id in stepped and case_id not in state_at:
            continue  # its first step (the opening) came after `at`
        counts.total += 1
        counts.by_reason[reason or NO_REASON] += 1
        counts.by_source[source] += 1
        counts.by_state[state_at.get(case_id, state)] += 1
    counts.rejected = len(rejected)
    counts.reopened = len(reopened)
    return counts


__all__ = ["complaint_counts_at"]
