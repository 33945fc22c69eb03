"""The status writer: status callbacks applied in batches, one transaction for all waiting.

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

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from dialer import attempt_status as statuses
from dialer.attempt_status import TERMINAL, _campaigns, _Prepared, rank
from dialer.attempts import CampaignBook
from dialer.clock import Clock
from dialer.store import Store, again_if_connection_lost, never_waiting_engine

log = logging.getLogger(__name__)

_CAMPAIGNS = _Prepared(
    select(_campaigns.c.id, _campaigns.c.status, _campaigns.c.definition_sha256).order_by(
        _campaigns.c.id
    )
)
_Item = tuple[dict[str, Any], asyncio.AbstractEventLoop, "asyncio.Future[bool]"]


class StatusWriter:
    """Applies status callbacks, as many in one transaction as are waiting (group commit).

    Each callback is still stored and acted on before its request is answered (`apply` returns
    after the commit). On SQLite the batch is written on the event loop itself, once per loop
    turn for every callback that reached `apply` in it, never waiting for SQLite's write lock:
    handing each callback to a thread and back cost more CPU than the write itself (about
    190 µs against 100 µs a callback). When the lock is taken (a dispatcher is writing, or the
    writer thread is) or anything else goes wrong, the batch goes to the writer thread
    instead, which waits for the lock and, if a batch fails, runs its callbacks again one
    transaction each, so one bad callback fails only its own request. PostgreSQL always uses
    the thread (its round trips and row locks must not stall the loop). The campaign book is
    read again only when a batch ends an attempt and a campaign changed.
    """

    def __init__(self, store: Store, clock: Clock, book: CampaignBook, max_batch: int = 64) -> None:
        self.store, self.clock, self.book, self.max_batch = store, clock, book, max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()  # None: stop
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._campaigns: list[Any] | None = None  # as the book last read them
        self._inline = store.engine.dialect.name == "sqlite"
        # The loop's own connection (busy_timeout=0), made when first used.
        self._quick: Engine | None = None
        self._quick_conn: Connection | None = None  # its one connection, held between batches
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the inline path serves
        self._pending: list[_Item] = []
        self._writing = threading.Lock()  # one batch at a time: the thread's or the loop's
        self.handed_over = 0  # inline batches that went to the thread (for tests and health)
        self.batches = self.applied = 0  # transactions committed and callbacks in them
        self.closed = False

    def close(self, timeout: float = 10.0) -> None:
        """Stop the writer thread once it has written what was queued, and dispose the loop's
        never-waiting connection (an SQLite file handle otherwise held until the process
        exits). Called when nothing serves the app any more; a closed writer takes no work."""
        self.closed = True
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
        with self._writing:  # never under a batch the loop is writing
            quick, self._quick = self._quick, None
            conn, self._quick_conn = self._quick_conn, None
        if conn is not None:
            conn.close()
        if quick is not None:
            quick.dispose()

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
        """`apply_status` in a batch, committed; False for a repeat."""
        if self.closed:
            raise RuntimeError("the status writer is closed")
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
        if self._inline and self._loop in (None, loop):
            self._loop = loop
            self._pending.append((status_args, loop, done))
            if len(self._pending) == 1:
                loop.call_soon(self._flush)
        else:
            self._to_thread((status_args, loop, done))
        # A request that goes away is still applied (Twilio does not post it again), unanswered.
        return await done

    def _to_thread(self, item: _Item) -> None:
        self._queue.put(item)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="status-writer", daemon=True
                    )
                    self._thread.start()

    def _flush(self) -> None:
        """On the event loop: this turn's callbacks in one transaction, or to the thread."""
        batch, self._pending = self._pending, []
        for start in range(0, len(batch), self.max_batch):
            part = batch[start : start + self.max_batch]
            try:
                outcomes = self._without_waiting(part)
            except Exception as exc:  # noqa: BLE001 - the thread's careful path decides
                log.debug("status batch of %d handed to the writer thread: %s", len(part), exc)
                self.handed_over += 1
                for item in part:
                    self._to_thread(item)
                continue
            _settle([(done, outcome) for (_, _, done), outcome in zip(part, outcomes, strict=True)])

    def _without_waiting(self, batch: list[_Item]) -> list[bool | Exception]:
        """The batch in one transaction, or an exception at once if the write lock is taken."""
        if not self._writing.acquire(blocking=False):
            raise BlockingIOError("the writer thread is writing")
        try:
            if self._quick is None:
                self._quick = never_waiting_engine(self.store.engine)
            if self._quick_conn is None:  # kept between batches: taking it cost a batch ~20 µs
                self._quick_conn = self._quick.connect()
            try:
                return list(self._transaction(batch, self._quick_conn))
            except BaseException:
                conn, self._quick_conn = self._quick_conn, None  # the next batch takes a fresh one
                conn.close()
                raise
        finally:
            self._writing.release()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: this batch is the last
                    stop = True
                    break
                batch.append(item)
            outcomes = self._outcomes(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, bool | Exception]]] = {}
            for (_, loop, done), outcome in zip(batch, outcomes, strict=True):
                by_loop.setdefault(loop, []).append((done, outcome))
            for loop, settled in by_loop.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_settle, settled)

    def _outcomes(self, batch: list[_Item]) -> list[bool | Exception]:
        with self._writing:
            return self._one_by_one_if_need_be(batch)

    def _one_by_one_if_need_be(self, batch: list[_Item]) -> list[bool | Exception]:
        if len(batch) > 1:
            try:
                return list(self._on_a_live_connection(batch))
            except Exception:  # noqa: BLE001 - each one again alone: only the bad one fails
                log.debug("a batch of %d status callbacks failed; one at a time", len(batch))
        outcomes: list[bool | Exception] = []
        for item in batch:
            try:
                outcomes += self._on_a_live_connection([item])
            except Exception as exc:  # noqa: BLE001 - handed to the request that sent it
                outcomes.append(exc)
        return outcomes

    def _on_a_live_connection(self, batch: list[_Item]) -> list[bool]:
        """The batch's transaction, again on a fresh connection if the server dropped it
        (applying a status is idempotent: a commit that did reach the server is a repeat)."""

        def once() -> list[bool]:
            with self.store.engine.connect() as conn:
                return self._transaction(batch, conn)

        return again_if_connection_lost(once)

    def _transaction(self, batch: list[_Item], conn: Connection) -> list[bool]:
        with conn.begin():
            if any(rank(args["kind"], args["status"]) == TERMINAL for args, _, _ in batch):
                campaigns = _CAMPAIGNS.run(conn, {})[1]  # an ended attempt's follow-up reads it
                if campaigns != self._campaigns:
                    with Session(bind=conn) as session:
                        self.book.refresh(session)
                    self._campaigns = campaigns
            now = self.clock.now()
            outcomes = [statuses.apply_status_on(conn, self.book, now, **a) for a, _, _ in batch]
        self.batches += 1  # under `_writing`, as every batch is
        self.applied += len(batch)
        return outcomes


def _settle(settled: list[tuple[asyncio.Future[bool], bool | Exception]]) -> None:
    for done, outcome in settled:
        if done.cancelled():
            continue
        if isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)
