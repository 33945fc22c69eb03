"""Stopping the webhook server closes the webhook app: the status writer's never-waiting SQLite
connection is disposed and its thread stopped (SQLite and PostgreSQL), through `AppServer.stop`
and `Runner.stop` alike; a closed writer refuses work instead of opening them again."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from dialer.clock import SettableClock
from dialer.config import Settings
from dialer.models import WebhookEvent
from dialer.runner import Runner, RunOptions
from dialer.serving import AppServer
from dialer.status_writer import StatusWriter
from dialer.store import Store
from dialer.webhooks import WebhookApp, create_app

TOKEN = "close-test-token"
PUBLIC = "https://dialer.example.com"
ROOT = Path(__file__).parents[2]


def post_status(base_url: str, token: str, public: str, n: int) -> None:
    """n signed call status callbacks of SIDs no attempt has (stored by SID alone): 204 each."""
    path = "/twilio/status/call/0"
    for i in range(n):
        form = {"CallSid": f"CA{i:032x}", "CallStatus": "ringing", "SequenceNumber": "0"}
        signature = RequestValidator(token).compute_signature(f"{public}{path}", form)
        got = httpx.post(
            f"{base_url}{path}",
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature},
            timeout=10,
        )  # fmt: skip
        assert got.status_code == 204, got.text


def driver_connection(writer: StatusWriter) -> Any:
    """The SQLite connection behind the writer's never-waiting engine (one, in a StaticPool)."""
    assert writer._quick is not None
    with writer._quick.connect() as conn:
        return conn.connection.driver_connection


def assert_closed(writer: StatusWriter, raw: Any, thread: Any) -> None:
    assert writer.closed and writer._quick is None and writer._thread is None
    if raw is not None:
        with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
            raw.execute("SELECT 1")
    if thread is not None:
        assert not thread.is_alive()


def events(store: Store) -> int:
    with store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


def test_stopping_the_server_closes_the_status_writer(store: Store, clock: SettableClock) -> None:
    """On SQLite the callbacks are written on the loop through the never-waiting connection; on
    PostgreSQL by the writer thread. Either is released when the server stops."""
    app = create_app(store, clock, TOKEN, PUBLIC)
    hooks: WebhookApp = app.state.webhooks
    writer = hooks.status_writer
    server = AppServer(app).start()
    try:
        post_status(server.base_url, TOKEN, PUBLIC, 3)
        sqlite = store.dialect == "sqlite"
        raw = driver_connection(writer) if sqlite else None
        if sqlite:
            assert raw.execute("SELECT 1").fetchone() == (1,)  # open while served
            assert writer._thread is None  # nothing was handed over: no thread to stop
        thread = writer._thread
        if not sqlite:
            assert thread is not None and thread.is_alive() and writer._quick is None
    finally:
        server.stop()
    assert_closed(writer, raw, thread)
    assert writer.applied == 3 and events(store) == 3  # everything queued was written first
    hooks.close()  # a second close changes nothing
    assert_closed(writer, raw, thread)


def test_a_closed_writer_refuses_work(store: Store, clock: SettableClock) -> None:
    hooks = WebhookApp(store, clock, TOKEN, PUBLIC)
    hooks.close()
    work = hooks.status_writer.apply(kind="call", attempt_id=None, sid="CA" + "0" * 32,
                                     status="ringing", sequence=0, payload={})  # fmt: skip
    with pytest.raises(RuntimeError, match="status writer is closed"):
        asyncio.run(work)
    assert hooks.status_writer._quick is None and events(store) == 0


def test_stopping_the_runner_closes_its_webhook_app(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    campaigns = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", campaigns)
    settings = Settings(database_url="sqlite://", _env_file=None)  # type: ignore[call-arg]
    runner = Runner(settings, store, clock, RunOptions(port=0, campaigns_dir=campaigns))
    runner.start(schedule=False)
    try:
        assert runner.webhooks is not None and runner.sandbox is not None
        writer = runner.webhooks.app.state.webhooks.status_writer
        token = runner.sandbox.auth_token
        post_status(runner.webhooks.base_url, token, runner.webhooks.base_url, 2)
        raw = driver_connection(writer) if store.dialect == "sqlite" else None
        thread = writer._thread
    finally:
        runner.stop()
    assert_closed(writer, raw, thread)
    assert writer.applied == 2


def test_a_server_running_the_lifespan_closes_the_app_as_it_stops(
    store: Store, clock: SettableClock
) -> None:
    """`dialer serve --workers` runs the app's lifespan (AppServer runs none): its shutdown
    closes the writer, here after one callback went through the never-waiting path (SQLite) or
    the writer thread (PostgreSQL). The lifespan is entered as uvicorn enters it; the request
    goes through httpx's ASGI transport on the same loop."""
    app = create_app(store, clock, TOKEN, PUBLIC)
    writer = app.state.webhooks.status_writer
    path = "/twilio/status/call/0"
    form = {"CallSid": "CA" + "1" * 32, "CallStatus": "ringing", "SequenceNumber": "0"}
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{path}", form)
    seen: dict[str, Any] = {}

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
                got = await client.post(path, data=form, headers={"X-Twilio-Signature": signature})
            assert got.status_code == 204, got.text
            seen["raw"] = driver_connection(writer) if store.dialect == "sqlite" else None
            seen["thread"] = writer._thread
            assert not writer.closed

    asyncio.run(serve())
    assert_closed(writer, seen["raw"], seen["thread"])
    assert writer.applied == 1 and events(store) == 1
