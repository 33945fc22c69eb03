"""The audit log: every reveal, export and change of customer data is attributable (客戶資料保密)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.clock import Clock
from dialer.models import AuditEntry


def record(
    session: Session,
    clock: Clock,
    actor: str,
    action: str,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    **detail: Any,
) -> AuditEntry:
    """Add one audit entry in the caller's transaction, so the entry and the access stand or fall together."""
    entry = AuditEntry(
        at=clock.now(),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        detail=detail,
    )
    session.add(entry)
    return entry


def entries(
    session: Session,
    *,
    since: datetime | None = None,
    actor: str | None = None,
    limit: int = 200,
    action: str | None = None,
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return session.scalars(query).all()
