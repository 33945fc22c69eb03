"""The emergency stop: a switch in the database every dispatcher reads before each request.

`dialer stop --all` turns it on (no new request leaves within a second: workers re-read it at
most every half second) and cancels the calls still queued at Twilio; `dialer resume --all`
lifts it.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dialer.clock import Clock
from dialer.errors import TelephonyError
from dialer.models import Attempt, AttemptState, Control
from dialer.store import Store
from dialer.telephony.client import Telephony

log = logging.getLogger(__name__)

HALT_KEY = "halt"
HALT_REFRESH = 0.5  # seconds: an emergency stop reaches every worker within a second


def halted(session: Session) -> bool:
    return bool(session.scalar(select(Control.active).where(Control.key == HALT_KEY)))


def set_halt(session: Session, now: datetime, actor: str, active: bool, reason: str) -> None:
    row = session.get(Control, HALT_KEY)
    if row is None:
        session.add(Control(key=HALT_KEY, active=active, reason=reason, actor=actor, at=now))
    else:
        row.active, row.reason, row.actor, row.at = active, reason, actor, now


class HaltFlag:
    """The emergency stop as every worker sees it: read from the database at most twice a second."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self._value = False
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, *, fresh: bool = False) -> bool:
        """Whether the stop is on; `fresh` reads the database now instead of the cached value.

        A worker that cannot read the switch (the database dropped its connection) sends
        nothing until it can: True, and it is read again on the next call; `fresh` raises.
        """
        with self._lock:
            if fresh or self.clock.monotonic() - self._read_at >= HALT_REFRESH:
                try:
                    with self.store.sessions() as session:
                        self._value = halted(session)
                except DBAPIError as exc:
                    if fresh:
                        raise
                    log.warning("cannot read the emergency stop, holding: %s", exc.orig or exc)
                    return True
                self._read_at = self.clock.monotonic()
            return self._value


def stop_all(store: Store, clock: Clock, telephony: Telephony | None, actor: str) -> dict[str, int]:
    """Emergency stop: no new request leaves; calls still queued at Twilio are cancelled."""
    now = clock.now()
    with store.transaction() as session:
        set_halt(session, now, actor, True, "emergency stop")
        queued = session.execute(
            select(Attempt.id, Attempt.provider_sid).where(
                Attempt.state.in_((AttemptState.CLAIMED, AttemptState.PLACED)),
                Attempt.channel != "sms",
                Attempt.provider_sid.is_not(None),
                func.coalesce(Attempt.provider_status, "queued").in_(
                    ("queued", "initiated", "ringing")
                ),
            )
        ).all()
    cancelled = 0
    if telephony is not None:
        for _, sid in queued:
            try:
                if sid and telephony.cancel_call(sid):
                    cancelled += 1
            except TelephonyError as exc:
                log.warning("could not cancel %s: %s", sid, exc)
    return {"queued_calls": len(queued), "cancelled": cancelled}


def resume_all(store: Store, clock: Clock, actor: str) -> None:
    with store.transaction() as session:
        set_halt(session, clock.now(), actor, False, "resumed")
