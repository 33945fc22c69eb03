"""Provider statuses: each callback stored once, attempts moved by one transition table.

`apply_status` keeps the append-only event log (unique on SID + status + sequence) and moves the
attempt only forward: statuses are ranked in the order they can happen and the final ones never
regress, so repeated, late and reordered callbacks change nothing twice. When an attempt ends,
`follow_up` decides the task's next try (spacing and backoff on the same channel, or fall back
now); `adopt` books a placement that was lost and found again at the provider.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dialer.attempts import (
    ENDED_ATTEMPT_STATES,
    OPEN_TASK_STATES,
    CampaignBook,
    agreed_since,
    mark_placed,
)
from dialer.models import Attempt, AttemptState, CallbackTask, OutcomeName, WebhookEvent

log = logging.getLogger(__name__)

# Provider statuses in the order they can happen; terminal ones (rank 9) end the attempt.
CALL_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, "answered": 3}
SMS_RANK = {"accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2}
CALL_TERMINAL = {"completed", "busy", "no-answer", "failed", "canceled"}
SMS_TERMINAL = {"delivered", "undelivered", "failed", "read", "canceled"}
TERMINAL = 9


def rank(kind: str, status: str | None) -> int:
    if status is None:
        return -1
    table, terminal = (CALL_RANK, CALL_TERMINAL) if kind == "call" else (SMS_RANK, SMS_TERMINAL)
    if status in terminal:
        return TERMINAL
    return table.get(status, -1)


def kind_of(channel: str) -> str:
    return "sms" if channel == "sms" else "call"


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
    maker = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = session.execute(
        maker(WebhookEvent)
        .values(
            provider_sid=sid,
            kind=kind,
            status=status,
            sequence=sequence,
            attempt_id=attempt_id,
            payload=dict(payload),
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["provider_sid", "status", "sequence"])
        .returning(WebhookEvent.id)
    )
    return result.scalar() is not None  # RETURNING, not rowcount: reliable on both drivers


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
    if not insert_event(session, sid, f"{kind}_status", status, sequence, attempt_id, payload, now):
        return False
    attempt = None
    if attempt_id is not None:
        attempt = session.get(Attempt, attempt_id, with_for_update=True)
    if attempt is None:
        attempt = session.scalar(select(Attempt).where(Attempt.provider_sid == sid))
    if attempt is None or kind_of(attempt.channel) != kind:
        log.warning("status %s for %s matches no attempt; kept in the event log", status, sid)
        return True
    if attempt.provider_sid is None:
        attempt.provider_sid = sid
    elif attempt.provider_sid != sid:
        log.warning("status for %s does not belong to attempt %s; ignored", sid, attempt.id)
        return True
    if attempt.state in ENDED_ATTEMPT_STATES:
        return True  # terminal states never regress
    new = rank(kind, status)
    if new <= rank(kind, attempt.provider_status):
        return True  # late or reordered: an earlier status after a later one
    attempt.provider_status = status
    if attempt.state == AttemptState.CLAIMED:
        attempt.state = AttemptState.PLACED
        attempt.placed_at = attempt.placed_at or now
    answered_by = payload.get("AnsweredBy")
    if answered_by:
        attempt.answered_by = str(answered_by)
    if new == TERMINAL:
        _finish(session, book, attempt, status, payload, now)
    return True


def _finish(
    session: Session,
    book: CampaignBook,
    attempt: Attempt,
    status: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> None:
    duration = str(payload.get("CallDuration") or payload.get("Duration") or "")
    error = str(payload.get("ErrorCode") or "")
    attempt.duration_seconds = int(duration) if duration.isdigit() else None
    attempt.error_code = int(error) if error.isdigit() else attempt.error_code
    attempt.ended_at = now
    attempt.lease_expires_at = None
    attempt.state = {
        "failed": AttemptState.FAILED,
        "undelivered": AttemptState.FAILED,
        "canceled": AttemptState.CANCELLED,
    }.get(status, AttemptState.COMPLETED)
    task = session.get(CallbackTask, attempt.task_id, with_for_update=True)
    if task is None:
        return
    notified = (attempt.channel == "sms" and status in ("delivered", "read")) or (
        (attempt.answered_by or "").startswith(("machine", "fax"))
    )
    if notified and task.notified_at is None:
        task.notified_at = now
    follow_up(session, book, task, attempt, now)


def follow_up(
    session: Session, book: CampaignBook, task: CallbackTask, attempt: Attempt, now: datetime
) -> None:
    """After an attempt ended: the next try on this channel after its spacing, or fall back now.

    A task with an outcome (reached, or ended by the script) is left alone, except an agreed
    callback that did not get through: it is tried again, its tries counted from the agreement.
    So is one that has an open attempt already. `schedule_due` picks channel and number when
    the time comes.
    """
    agreed = task.outcome == OutcomeName.CALLBACK_REQUESTED
    if task.state not in OPEN_TASK_STATES or (
        not agreed and (task.reached_at is not None or task.outcome)
    ):
        return
    if task.next_attempt_at is not None:
        return
    spec = book.spec(task.campaign_id)
    if attempt.channel == "agent" or attempt.channel not in spec.channels:
        return
    policy = spec.attempt_policy(attempt.channel)
    query = (
        select(func.count())
        .select_from(Attempt)
        .where(
            Attempt.task_id == task.id,
            Attempt.channel == attempt.channel,
            Attempt.state != AttemptState.CANCELLED,
        )
    )
    if agreed:  # an agreed callback's tries count from the agreement
        query = query.where(Attempt.created_at >= agreed_since(session, [task.id])[task.id])
    tries = int(session.scalar(query) or 0)
    if tries >= policy.max_attempts or (
        attempt.state == AttemptState.FAILED and attempt.error_code
    ):
        task.next_attempt_at = now  # this channel is done (or this number failed): fall back
    else:
        spacing = policy.spacing * (policy.backoff ** max(0, tries - 1))
        task.next_attempt_at = (attempt.ended_at or now) + spacing
    task.updated_at = now


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
