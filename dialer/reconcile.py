"""Never twice: before an attempt whose outcome is unknown is dialled again, ask Twilio.

An attempt is unknown when its lease ran out while it was claimed (the dispatcher died between
the API call and the record), or when the API call failed ambiguously (a read timeout, a 5xx:
the call may exist). The provider's calls/messages to that number from that sender created
after the claim are listed — not with Twilio's StartTime filter, which misses calls still
queued — and the first one no other attempt owns is adopted; only when none exists is the
attempt released to be dialled. A placed attempt whose final callback never came is fetched by
its SID at its settle check (`dialer.settle`) and ended from what Twilio says, through the same
transitions as a callback; the look-ups are paced by a `FetchBudget` (the oldest checks first).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer import attempt_status as statuses
from dialer import attempts as books
from dialer.clock import Clock
from dialer.errors import TelephonyError
from dialer.models import Attempt, AttemptState
from dialer.settle import FetchBudget, Settling
from dialer.store import Store
from dialer.telephony.client import Kind, ProviderRecord, Telephony

log = logging.getLogger(__name__)

SKEW = timedelta(seconds=5)  # clocks of Twilio and ours may differ a little
HOLD = timedelta(minutes=1)  # an expired attempt being reconciled is this reaper's for this long


def payload(rec: ProviderRecord) -> dict[str, Any]:
    """A provider record in the shape of a status callback (for the event log)."""
    out: dict[str, Any] = {"Source": "reconciliation", "Status": rec.status}
    if rec.answered_by:
        out["AnsweredBy"] = rec.answered_by
    if rec.duration is not None:
        out["CallDuration"] = str(rec.duration)
    if rec.error_code is not None:
        out["ErrorCode"] = str(rec.error_code)
    return out


def _kind(channel: str) -> Kind:
    return "sms" if channel == "sms" else "call"


class Reconciler:
    """Looks lost placements up at the provider and books what it finds."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        telephony: Telephony,
        book: books.CampaignBook,
        settling: Settling,
    ) -> None:
        self.store, self.clock, self.telephony = store, clock, telephony
        self.book, self.settling = book, settling
        self.budget = FetchBudget(settling.fetch_rps)

    def find(self, channel: str, to: str, from_: str, claimed_at: datetime) -> list[ProviderRecord]:
        return self.telephony.find(
            _kind(channel), to=to, from_=from_, created_after=claimed_at - SKEW
        )

    def adopt_first_unowned(
        self, session: Session, attempt_id: int, found: Sequence[ProviderRecord]
    ) -> bool:
        """Book the first found call no attempt owns yet as `attempt_id`'s; False if none."""
        sids = [f.sid for f in found]
        owned = set(
            session.scalars(select(Attempt.provider_sid).where(Attempt.provider_sid.in_(sids)))
        )
        fresh = [f for f in found if f.sid not in owned]
        if not fresh:
            return False
        rec = fresh[0]
        now = self.clock.now()
        statuses.adopt(
            session,
            self.book,
            attempt_id,
            sid=rec.sid,
            status=rec.status,
            created_at=rec.created_at,
            now=now,
            lease=self.settling.again(now, rec.created_at) - now,
            payload=payload(rec),
        )
        return True

    def _take(self, attempt_id: int, state: str, now: datetime) -> bool:
        """Make an expired attempt this reaper's alone before asking Twilio about it: two
        reapers must not both find nothing and both give it back (one release could then undo
        a fresh claim made in between, and the customer would be dialled twice)."""

        def take(session: Session) -> bool:
            took = session.execute(
                update(Attempt)
                .where(
                    Attempt.id == attempt_id,
                    books.still(Attempt.state, AttemptState(state)),  # by primary key only
                    (Attempt.lease_expires_at < now).is_(True),
                )
                .values(lease_expires_at=now + HOLD)
            ).rowcount  # type: ignore[attr-defined]
            return bool(took)

        return self.store.retrying(take)

    def _settle(
        self, session: Session, row: Any, found: Sequence[ProviderRecord], now: datetime
    ) -> bool:
        """Book what the provider said about one expired attempt; True when one was adopted."""
        if row.state == AttemptState.CLAIMED or row.provider_sid is None:
            if self.adopt_first_unowned(session, row.id, found):
                return True
            books.release(session, row.id, now, "lease expired; not placed")
            return False
        rec = found[0]
        if rec.terminal:
            statuses.apply_status(
                session,
                self.book,
                now,
                kind=_kind(row.channel),
                attempt_id=row.id,
                sid=rec.sid,
                status=rec.status,
                sequence=-1,  # found by reconciliation, not posted by the provider
                payload=payload(rec),
            )
        else:
            session.execute(
                update(Attempt)
                .where(Attempt.id == row.id)
                .values(lease_expires_at=self.settling.again(now, row.placed_at))
            )
        return False

    def reap(self, *, holding: Collection[int] = ()) -> tuple[int, int]:
        """Expired leases: claimed ones adopted or released, placed ones fetched; (reaped, adopted).

        `holding`: attempts whose results this dispatcher has back and records next (its
        request came back; the clock may have run past the lease meanwhile): not reaped here.
        """
        now = self.clock.now()
        budget = self.budget.available(self.clock.monotonic())
        if budget <= 0:
            return 0, 0
        with self.store.sessions() as session:
            expired = session.execute(
                select(
                    Attempt.id,
                    Attempt.state,
                    Attempt.channel,
                    Attempt.phone_e164,
                    Attempt.from_e164,
                    Attempt.claimed_at,
                    Attempt.provider_sid,
                    Attempt.placed_at,
                )
                .where(
                    Attempt.state.in_((AttemptState.CLAIMED, AttemptState.PLACED)),
                    Attempt.lease_expires_at < now,
                )
                .order_by(Attempt.lease_expires_at)
                .limit(budget)
            ).all()
        reaped = adopted = 0
        for row in expired:
            if row.id in holding:
                continue
            if not self._take(row.id, row.state, now):
                continue  # another dispatcher of the fleet is reconciling it
            self.budget.spend()
            try:
                if row.state == AttemptState.CLAIMED or row.provider_sid is None:
                    found = self.find(
                        row.channel,
                        row.phone_e164 or "",
                        row.from_e164 or "",
                        row.claimed_at or now,
                    )
                else:
                    found = [self.telephony.fetch(_kind(row.channel), row.provider_sid)]
            except TelephonyError as exc:
                log.warning("cannot reconcile attempt %s yet: %s", row.id, exc)
                continue
            reaped += 1
            # One transaction per attempt, run again on a fresh connection if it was lost
            # (adopting and applying a status are idempotent).
            if self.store.retrying(partial(self._settle, row=row, found=found, now=now)):
                adopted += 1
        return reaped, adopted
