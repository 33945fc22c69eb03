"""Database connections cut mid-run: the workers reconnect and go on, and nothing is lost.

A dispatcher, the webhook app (over real HTTP, its status writer included) and the sandbox run
an hour of campaign time on PostgreSQL while the workers' sessions are terminated with
`pg_terminate_backend` from a separate connection, found by their `application_name`: between
ticks (idle sessions in the pool) and in the middle of statements (every 29th statement any
worker runs, in whatever transaction it is in). Afterwards the books balance against the
sandbox's log: every task handled, every call booked once with its final status, nobody
contacted twice.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from books_check import check_books, unsettled
from seeding import seed
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError
from twilio.request_validator import RequestValidator

from dialer import attempts as books
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.dispatcher import DispatchConfig, Dispatcher
from dialer.models import Attempt, CallbackTask, WebhookEvent
from dialer.serving import AppServer
from dialer.store import Store
from dialer.telephony.client import Telephony
from dialer.telephony.sandbox.testing import SandboxHarness
from dialer.webhooks import create_app

pytestmark = pytest.mark.postgres
CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
SPEC = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")


class Cutter:
    """Terminates every session named `app` from its own connection; counts what it did."""

    def __init__(self, url: str, app: str) -> None:
        self.url, self.app = url.replace("postgresql+psycopg://", "postgresql://"), app
        self.rounds = self.sessions = self.statements = self.mid_statement = 0
        self.every: int | None = None  # cut in the middle of every nth statement
        self.limit = 0
        self._lock = threading.Lock()

    def cut(self) -> int:
        with psycopg.connect(self.url, autocommit=True, application_name="cutter") as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))"
                " FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                (self.app,),
            ).fetchone()
        n = int(row[0]) if row else 0
        with self._lock:
            self.rounds += 1
            self.sessions += n
        return n

    def before_statement(self, *_: Any) -> None:
        """Engine hook: every nth statement, the session it runs on (and the others) are cut."""
        with self._lock:
            self.statements += 1
            due = (
                self.every is not None
                and self.statements % self.every == 0
                and self.mid_statement < self.limit
            )
            if due:
                self.mid_statement += 1
        if due:
            self.cut()


@pytest.fixture
def pg_store(pg_schema: tuple[str, str]) -> Iterator[tuple[Store, Cutter]]:
    url, schema = pg_schema
    app = f"dialer-cuts-{uuid.uuid4().hex[:8]}"  # only this test's sessions are ever cut
    store = Store.open(url, schema=schema, application_name=app)
    cutter = Cutter(url, app)
    event.listen(store.engine, "before_cursor_execute", cutter.before_statement)
    try:
        yield store, cutter
    finally:
        cutter.every = None
        store.close()


def _dispatcher(store: Store, clock: SettableClock, harness: SandboxHarness, hooks: str) -> Any:
    sb = harness.sandbox
    config = DispatchConfig(
        worker_id="w1",
        public_base_url=hooks,
        senders={"default": "+15005550006"},
        cps=10.0,
        max_in_flight=4,
    )
    return Dispatcher(store, clock, Telephony(sb.account_sid, sb.auth_token, base_url=harness.base_url), config)  # fmt: skip


def _guarded(fn: Callable[[], Any], errors: list[str]) -> None:
    """As `dialer run` runs a job: a failed tick is logged and the next one goes on."""
    try:
        fn()
    except DBAPIError as exc:
        errors.append(type(exc.orig).__name__)


@pytest.mark.parametrize("wait", [True, False], ids=["tick-waits", "tick-goes-on"])
def test_workers_reconnect_after_their_sessions_are_cut_and_nothing_is_lost(
    wait: bool,
    pg_store: tuple[Store, Cutter],
    clock: SettableClock,
    make_sandbox: Callable[..., SandboxHarness],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, cutter = pg_store
    clock.set(clock.now().replace(hour=2, minute=0))  # Monday 10:00 in Taipei
    harness = make_sandbox(seed=8, cps=5)
    for k in range(4):
        seed(store, clock, SPEC, n=10, phones=((f"+8869123450{k}0", "mobile"),),
             key_prefix=f"K{k}-")  # fmt: skip
    tick_errors: list[str] = []
    caplog.set_level(logging.WARNING)
    with AppServer(create_app(store, clock, harness.sandbox.auth_token)) as hooks:
        d = _dispatcher(store, clock, harness, hooks.base_url)
        cutter.every, cutter.limit = 29, 12
        for i in range(60):  # an hour of campaign time, a tick a minute
            # (`wait=False` as `dialer run` ticks: results are recorded with the next claim)
            _guarded(lambda: d.tick(wait=wait), tick_errors)
            harness.advance(60)
            if i % 6 == 3:
                cutter.cut()  # the idle sessions in every worker's pool
        cutter.every = None
        # Past the placed lease: the reaper settles what the cuts kept from being recorded.
        for _ in range(12):
            clock.advance(timedelta(minutes=5))
            _guarded(lambda: d.tick(wait=wait), tick_errors)
            harness.advance(60)
            if not unsettled(store) and not d.in_flight:
                break
        d.close()
    figures = check_books(store, harness.sandbox)
    with store.sessions() as s:
        tasks = list(s.scalars(select(CallbackTask)))
        first_tries = s.scalar(select(func.count()).select_from(Attempt).where(Attempt.number == 1))
    assert len(tasks) == 40 and first_tries == 40  # every task was handled
    assert figures.placed >= 40
    lost = sum("status callback not delivered" in r.getMessage() for r in caplog.records)
    retried = sum("database connection lost" in r.getMessage() for r in caplog.records)
    assert cutter.rounds >= 10 + 12 and cutter.mid_statement == 12 and cutter.sessions > 0
    print(
        f"\ncuts: {cutter.rounds} rounds ({cutter.mid_statement} mid-statement), "
        f"{cutter.sessions} sessions terminated, {cutter.statements} statements; "
        f"transactions retried: {retried}; ticks failed: {len(tick_errors)}; "
        f"status callbacks refused (reconciled): {lost}; books: {figures}"
    )


def test_a_status_callback_whose_connection_is_cut_is_applied_on_a_fresh_one(
    pg_store: tuple[Store, Cutter], clock: SettableClock
) -> None:
    store, cutter = pg_store
    [tid] = seed(store, clock, SPEC, n=1)
    token = "cut-test-token"
    with AppServer(create_app(store, clock, token)) as hooks:
        aid = _placed_attempt(store, tid, clock)
        url = f"{hooks.base_url}/twilio/status/call/{aid}"
        form = {"CallSid": "CA" + "0" * 32, "CallStatus": "ringing", "SequenceNumber": "1"}
        signature = RequestValidator(token).compute_signature(url, form)

        def cut_in_the_writer(*_: Any) -> None:
            if threading.current_thread().name == "status-writer" and not cutter.rounds:
                cutter.cut()

        event.listen(store.engine, "before_cursor_execute", cut_in_the_writer)
        answer = requests.post(
            url, data=form, headers={"X-Twilio-Signature": signature}, timeout=30
        )
    assert cutter.rounds == 1
    assert answer.status_code == 204
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 1


def _placed_attempt(store: Store, task_id: int, clock: SettableClock) -> int:
    """A placed attempt for `task_id`, booked the way the dispatcher books one; its id."""
    now = clock.now()
    with store.transaction() as s:
        book = books.CampaignBook()
        book.refresh(s)
        books.schedule_due(s, book, now, {})
        [aid] = books.claim(s, "w1", now, timedelta(minutes=2), 1)
        books.mark_placed(s, aid, "CA" + "0" * 32, "queued", now, timedelta(minutes=15))
    with store.sessions() as s:
        assert s.scalar(select(Attempt.task_id).where(Attempt.id == aid)) == task_id
    return aid
