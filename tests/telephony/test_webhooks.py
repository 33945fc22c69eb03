"""The webhook app over real HTTP: signatures checked (403, nothing stored), bad requests 4xx
never 500, callbacks stored once, the public URL honoured behind a proxy, the call's TwiML."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from seeding import seed
from sqlalchemy import Connection, func, select
from twilio.request_validator import RequestValidator

from dialer import attempt_status as statuses
from dialer import attempts as books
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.models import Attempt, AttemptState, WebhookEvent
from dialer.serving import AppServer
from dialer.status_writer import StatusWriter
from dialer.store import Store
from dialer.webhooks import create_app

TOKEN = "webhook-test-token"
SID = "CA" + "ab" * 16
PUBLIC = "https://dialer.example.com"
CAMPAIGNS = Path(__file__).parents[2] / "campaigns"


@pytest.fixture
def placed(store: Store, clock: SettableClock) -> int:
    """One attempt, claimed and placed with SID."""
    spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    seed(store, clock, spec, n=1)
    with store.transaction() as s:
        books.schedule_due(s, _book(s), clock.now(), {})
    with store.transaction() as s:
        [aid] = books.claim(s, "w", clock.now(), timedelta(minutes=2), 1)
        books.mark_placed(s, aid, SID, "queued", clock.now(), timedelta(minutes=15))
    return aid


def _book(session: object) -> books.CampaignBook:
    b = books.CampaignBook()
    b.refresh(session)  # type: ignore[arg-type]
    return b


@pytest.fixture
def server(store: Store, clock: SettableClock) -> Iterator[AppServer]:
    with AppServer(create_app(store, clock, TOKEN, PUBLIC, company="測試公司")) as srv:
        yield srv


def post(
    server: AppServer, path: str, form: dict[str, str], *, sign: str | None = None
) -> httpx.Response:
    """POST as Twilio would, signed for the public URL (or with the given signature)."""
    signature = (
        sign
        if sign is not None
        else RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{path}", form)
    )
    return httpx.post(
        f"{server.base_url}{path}",
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        timeout=10,
    )


def events(store: Store) -> int:
    with store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


def test_a_signed_callback_is_stored_once_and_moves_the_attempt(
    server: AppServer, store: Store, placed: int
) -> None:
    form = {
        "CallSid": SID,
        "CallStatus": "busy",
        "SequenceNumber": "3",
        "AccountSid": "AC" + "0" * 32,
    }
    assert post(server, f"/twilio/status/call/{placed}", form).status_code == 204
    assert post(server, f"/twilio/status/call/{placed}", form).status_code == 204  # repeated
    assert events(store) == 1
    with store.sessions() as s:
        attempt = s.get(Attempt, placed)
        assert attempt is not None and (attempt.state, attempt.provider_status) == (
            AttemptState.COMPLETED,
            "busy",
        )


def test_a_bad_or_missing_signature_gets_403_and_nothing_is_stored(
    server: AppServer, store: Store, placed: int
) -> None:
    form = {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "3"}
    assert post(server, f"/twilio/status/call/{placed}", form, sign="forged").status_code == 403
    assert post(server, f"/twilio/status/call/{placed}", form, sign="").status_code == 403
    # Signed for the loopback URL instead of the configured public one: refused too.
    local = RequestValidator(TOKEN).compute_signature(
        f"{server.base_url}/twilio/status/call/{placed}", form
    )
    assert post(server, f"/twilio/status/call/{placed}", form, sign=local).status_code == 403
    assert events(store) == 0


@pytest.mark.parametrize(
    "form",
    [
        {"CallSid": "not-a-sid", "CallStatus": "completed"},
        {"CallSid": SID, "CallStatus": "<script>"},
        {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "-1"},
        {"CallStatus": "completed"},
    ],
)
def test_malformed_callbacks_get_400(
    server: AppServer, store: Store, placed: int, form: dict[str, str]
) -> None:
    assert post(server, f"/twilio/status/call/{placed}", form).status_code == 400
    assert events(store) == 0


def test_oversized_and_unknown_requests_are_4xx(server: AppServer, placed: int) -> None:
    big = {"CallSid": SID, "CallStatus": "completed", "Pad": "x" * 70_000}
    assert post(server, f"/twilio/status/call/{placed}", big).status_code == 413
    assert post(server, "/twilio/status/call/not-a-number", {"CallSid": SID}).status_code == 422
    garbage = httpx.post(
        f"{server.base_url}/twilio/status/sms/{placed}",
        content=b"\xff\xfe%%%",
        headers={"Content-Type": "multipart/form-data; boundary=x", "X-Twilio-Signature": "x"},
        timeout=10,
    )
    assert 400 <= garbage.status_code < 500


def test_the_voice_route_speaks_the_opening_in_the_customers_language(
    server: AppServer, placed: int
) -> None:
    form = {"CallSid": SID, "CallStatus": "in-progress", "AnsweredBy": "human"}
    resp = post(server, f"/twilio/voice/{placed}", form)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/xml")
    assert '<Say voice="Google.cmn-TW-Standard-A">' in resp.text
    assert "測試公司" in resp.text and "客戶0" in resp.text
    # The convenience check is a Gather (with the opt-out key); silence falls to the Redirect.
    step = f"{PUBLIC}/twilio/voice/{placed}/convenience?try=1"
    assert f'action="{step}"' in resp.text and "請按9" in resp.text
    assert resp.text.endswith(f'<Redirect method="POST">{step}</Redirect></Response>')


def test_callbacks_posted_at_once_are_each_applied_once(
    server: AppServer, store: Store, clock: SettableClock
) -> None:
    """Many calls' callbacks in flight together (the status writer batches them), retries too."""
    spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    seed(store, clock, spec, n=8)
    with store.transaction() as s:
        books.schedule_due(s, _book(s), clock.now(), {})
    with store.transaction() as s:
        aids = books.claim(s, "w", clock.now(), timedelta(minutes=2), 8)
        books.mark_placed_many(
            s,
            [(a, f"CA{a:032x}", "queued", clock.now() + timedelta(minutes=15)) for a in aids],
            clock.now(),
        )

    def lifecycle(aid: int) -> list[int]:
        codes = []
        for seq, value in enumerate(["initiated", "ringing", "in-progress", "completed"] * 2):
            form = {"CallSid": f"CA{aid:032x}", "CallStatus": value, "SequenceNumber": str(seq % 4)}
            form |= {"CallDuration": "42"} if value == "completed" else {}
            codes.append(post(server, f"/twilio/status/call/{aid}", form).status_code)
        return codes

    with ThreadPoolExecutor(8) as pool:
        assert all(c == 204 for codes in pool.map(lifecycle, aids) for c in codes)
    assert events(store) == 4 * len(aids)
    with store.sessions() as s:
        rows = s.execute(
            select(Attempt.state, Attempt.provider_status, Attempt.duration_seconds).where(
                Attempt.id.in_(aids)
            )
        ).all()
    assert set(rows) == {(AttemptState.COMPLETED, "completed", 42)}


def test_a_failing_callback_fails_alone_and_the_rest_of_its_batch_is_applied(
    store: Store, clock: SettableClock, placed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = statuses.apply_status_on

    def flaky(conn: Connection, book: books.CampaignBook, now: datetime, **kw: Any) -> bool:
        if kw["status"] == "in-progress":
            raise RuntimeError("boom")
        return real(conn, book, now, **kw)

    monkeypatch.setattr(statuses, "apply_status_on", flaky)
    writer = StatusWriter(store, clock, books.CampaignBook())
    args = [
        {"kind": "call", "attempt_id": placed, "sid": SID, "status": value, "sequence": seq}
        | {"payload": {}}
        for seq, value in enumerate(["initiated", "in-progress", "ringing"])
    ]
    loop = asyncio.new_event_loop()
    try:  # one batch, as the writer thread takes it when three are waiting
        outcomes = writer._outcomes([(a, loop, loop.create_future()) for a in args])
    finally:
        loop.close()
    assert outcomes[0] is True and isinstance(outcomes[1], RuntimeError) and outcomes[2] is True

    async def through_the_thread() -> list[bool | BaseException]:
        more = [a | {"sequence": 10 + i} for i, a in enumerate(args)]
        return await asyncio.gather(*(writer.apply(**a) for a in more), return_exceptions=True)

    late = asyncio.run(through_the_thread())
    assert late[0] is True and isinstance(late[1], RuntimeError) and late[2] is True
    assert events(store) == 4
    with store.sessions() as s:
        attempt = s.get(Attempt, placed)
        assert attempt is not None and attempt.provider_status == "ringing"


def test_a_status_for_an_unknown_attempt_is_kept_by_its_sid_never_a_500(
    server: AppServer, store: Store
) -> None:
    form = {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "3"}
    assert post(server, "/twilio/status/call/987654", form).status_code == 204
    assert post(server, "/twilio/status/call/987654", form).status_code == 204  # a retry
    with store.sessions() as s:
        kept = s.execute(select(WebhookEvent.provider_sid, WebhookEvent.attempt_id)).all()
    assert kept == [(SID, None)]


def test_a_status_never_waits_on_the_event_loop_for_a_writer_holding_sqlite(
    store: Store, clock: SettableClock, placed: int
) -> None:
    """SQLite: the batch is written on the event loop unless the write lock is taken; then the
    writer thread waits for it and the loop goes on serving (here: a ticking coroutine)."""
    if store.dialect != "sqlite":
        pytest.skip("the inline path is SQLite's")
    writer = StatusWriter(store, clock, books.CampaignBook())
    status = {"kind": "call", "attempt_id": placed, "sid": SID, "payload": {}}

    async def scenario() -> tuple[bool, bool, int, int]:
        first = await writer.apply(status="initiated", sequence=0, **status)  # type: ignore[arg-type]
        inline_handovers = writer.handed_over
        holder = store.engine.raw_connection()
        holder.execute("BEGIN IMMEDIATE")  # another process or thread writing
        ticks = 0
        applying = asyncio.ensure_future(
            writer.apply(status="ringing", sequence=1, **status)  # type: ignore[arg-type]
        )
        for _ in range(20):  # the loop is free while the thread waits for the lock
            await asyncio.sleep(0)
            ticks += 1
        assert not applying.done()
        holder.rollback()
        holder.close()
        second = await asyncio.wait_for(applying, timeout=30)
        return first, second, inline_handovers, ticks

    first, second, before, ticks = asyncio.run(scenario())
    assert (first, second, before, ticks) == (True, True, 0, 20)
    assert writer.handed_over == 1  # only the batch that met the lock went to the thread
    with store.sessions() as s:
        attempt = s.get(Attempt, placed)
        assert attempt is not None and attempt.provider_status == "ringing"
    assert events(store) == 2
