"""Tries counted from the agreement: a customer who agreed another time gets the tries afresh.

When the customer took part and asked to be called at another time (`callback_requested`), the
agreed callback is a new promise: the campaign's tries per channel start again, so an agreed
call that does not get through is retried as a first call would be. The rule lives here alone,
for its two users: the scheduler, which picks the next channel from the tries made
(`attempts.schedule_due`), and the follow-up after an attempt ended, which spaces the next try
on that channel or falls back (`attempt_status.next_try`).

- The tries restart for a task whose outcome is `callback_requested` (`agreed`).
- The agreement's moment is the outcome's `recorded_at` (`agreed_at`).
- Only attempts created at or after that moment count (`counted`): the attempt in which the
  customer agreed was created before it. Cancelled attempts never count (the callers leave
  them out).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from dialer.models import Outcome, OutcomeName


def agreed(outcome: str | None) -> bool:
    """Whether a task with this outcome counts its tries from the agreement."""
    return outcome == OutcomeName.CALLBACK_REQUESTED


def counted(created_at: datetime, agreed_since: datetime | None) -> bool:
    """Whether an attempt created at `created_at` is one of the task's tries, given when its
    customer agreed another time (None: no agreement, every attempt counts)."""
    return agreed_since is None or created_at >= agreed_since


def agreed_at(
    db: Session | Connection, tasks: Iterable[tuple[int, str | None]]
) -> dict[int, datetime]:
    """When the customer agreed, for each of `tasks` (task id, outcome) whose tries restart."""
    ids = [task_id for task_id, outcome in tasks if agreed(outcome)]
    if not ids:
        return {}
    rows = db.execute(select(Outcome.task_id, Outcome.recorded_at).where(Outcome.task_id.in_(ids)))
    return {task_id: at for task_id, at in rows}


__all__ = ["agreed", "agreed_at", "counted"]
