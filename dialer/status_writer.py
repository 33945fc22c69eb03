"""The status writer: one thread applying status callbacks, one transaction for all waiting.

Status callbacks are the hottest write path (four or more per call, each answered only after
its commit); group commit keeps SQLite's single writer busy with work instead of with commits,
and `scripts/bench/webhooks.py` measures it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer import attempt_status as statuses
from dialer.attempt_status import TERMINAL, _campaigns, _Prepared, rank
from dialer.attempts import CampaignBook
from dialer.clock import Clock
from dialer.store import Store

log = logging.getLogger(__name__)

_CAMPAIGNS = _Prepared(
    select(_campaigns.c.id, _campaigns.c.status, _campaigns.c.definition_sha256).order_by(
        _campaigns.c.id
    )
)
_Item = tuple[dict[str, Any], asyncio.AbstractEventLoop, "asyncio.Future[bool]"]


class StatusWriter:
    """One thread that applies status callbacks, as many in one transaction as are waiting.

    Each callback is still stored and acted on before its request is answered (`apply` returns
    after the commit); a busy server commits once for all the callbacks waiting (group commit)
    instead of once each, they never queue against each other for SQLite's write lock, and the
    event loop is woken once per batch. The transaction is on a plain connection (a status is a
    few prebuilt statements), and the campaign book is read again only when a batch ends an
    attempt and a campaign changed (one small query to know). If a batch fails it is rolled
    back and its callbacks run again one transaction each, so one bad callback fails only its
    own request. The thread starts with the first callback.
    """

    def __init__(self, store: Store, clock: Clock, book: CampaignBook, max_batch: int = 64) -> None:
        self.store, self.clock, self.book, self.max_batch = store, clock, book, max_batch
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._campaigns: list[Any] | None = None  # as the book last read them

    async def apply(
        self,
        *,
        kind: str,
        attempt_id: int | None,
        sid: str,
        status: str,
        sequence: int,
        payload: Mapping[str, Any],
    ) -> bool:
        """`apply_status` on the writer thread, committed; False for a repeat."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        status_args = {
            "kind": kind,
            "attempt_id": attempt_id,
            "sid": sid,
            "status": status,
            "sequence": sequence,
            "payload": payload,
        }
        self._queue.put((status_args, loop, done))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="status-writer", daemon=True
                    )
                    self._thread.start()
        # A request that goes away is still applied (Twilio does not post it again), unanswered.
        return await done

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            outcomes = self._outcomes(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, bool | Exception]]] = {}
            for (_, loop, done), outcome in zip(batch, outcomes, strict=True):
                by_loop.setdefault(loop, []).append((done, outcome))
            for loop, settled in by_loop.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_settle, settled)

    def _outcomes(self, batch: list[_Item]) -> list[bool | Exception]:
        if len(batch) > 1:
            try:
                return list(self._transaction(batch))
            except Exception:  # noqa: BLE001 - each one again alone: only the bad one fails
                log.debug("a batch of %d status callbacks failed; one at a time", len(batch))
        outcomes: list[bool | Exception] = []
        for item in batch:
            try:
                outcomes += self._transaction([item])
            except Exception as exc:  # noqa: BLE001 - handed to the request that sent it
                outcomes.append(exc)
        return outcomes

    def _transaction(self, batch: list[_Item]) -> list[bool]:
        with self.store.engine.begin() as conn:
            if any(rank(args["kind"], args["status"]) == TERMINAL for args, _, _ in batch):
                campaigns = _CAMPAIGNS.run(conn, {})[1]  # an ended attempt's follow-up reads it
                if campaigns != self._campaigns:
                    with Session(bind=conn) as session:
                        self.book.refresh(session)
                    self._campaigns = campaigns
            return [
                statuses.apply_status_on(conn, self.book, self.clock.now(), **a)
                for a, _, _ in batch
            ]


def _settle(settled: list[tuple[asyncio.Future[bool], bool | Exception]]) -> None:
    for done, outcome in settled:
        if done.cancelled():
            continue
        if isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)
