"""Generated webhook requests never give a 500, and never change the store unless valid and signed.

Hypothesis builds what can reach the webhook app from the Internet: status callbacks (calls and
SMS), the call script's first TwiML and its Gather steps, inbound SMS — with Twilio's fields
filled with real-looking and random values, for attempts that exist, do not, or cannot (huge
or negative ids); signed correctly, badly or not at all; as forms, raw bytes, JSON, oversized
bodies and bytes that are not UTF-8. The app runs over real HTTP on a real SQLite file; every
table is compared before and after each request.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seeding import seed
from sqlalchemy import MetaData, select
from twilio.request_validator import RequestValidator

from dialer import attempts as books
from dialer.campaigns import load_campaign
from dialer.clock import SettableClock
from dialer.serving import AppServer
from dialer.store import Store
from dialer.webhooks import MAX_BODY, create_app

SPEC = load_campaign(Path(__file__).parents[2] / "campaigns" / "after-service-satisfaction.toml")
TOKEN = "fuzz-auth-token"
SENDER = "+15005550006"
CALL_SID = "CA" + "1" * 32
SMS_SID = "SM" + "2" * 32


@dataclass
class Rig:
    store: Store
    base_url: str
    call_attempt: int
    sms_attempt: int
    numbers: list[str]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One placed call and one placed SMS to customers, and the app serving them."""
    with _database(request.param, tmp_path_factory) as store:
        yield from _serve(store)


@contextmanager
def _database(engine: str, tmp: pytest.TempPathFactory) -> Iterator[Store]:
    """A SQLite file, or a fresh PostgreSQL schema for the whole module (dropped after)."""
    if engine == "sqlite":
        store = Store.open(f"sqlite:///{tmp.mktemp('hooks') / 'dialer.db'}")
        try:
            yield store
        finally:
            store.close()
        return
    url = os.environ.get("DIALER_TEST_DATABASE_URL")
    if not url:
        pytest.skip("DIALER_TEST_DATABASE_URL is not set; PostgreSQL store tests skipped")
    plain, schema = (
        url.replace("postgresql+psycopg://", "postgresql://"),
        f"t_{uuid.uuid4().hex[:12]}",
    )
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = Store.open(url, schema=schema)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _serve(store: Store) -> Iterator[Rig]:
    clock = SettableClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # Monday 10:00 Taipei
    seed(store, clock, SPEC, n=1, key_prefix="V")
    seed(store, clock, SPEC, n=1, phones=(("+886912345999", "mobile"),), key_prefix="S",
         plan_action="sms")  # fmt: skip
    now = clock.now()
    with store.transaction() as s:
        book = books.CampaignBook()
        book.refresh(s)
        books.schedule_due(s, book, now, {"default": SENDER})
        ids = books.claim(s, "fuzz", now, timedelta(minutes=2), 10)
        call_id, sms_id = sorted(ids)
        books.mark_placed(s, call_id, CALL_SID, "queued", now, timedelta(minutes=15))
        books.mark_placed(s, sms_id, SMS_SID, "queued", now, timedelta(minutes=15))
    with AppServer(create_app(store, clock, TOKEN)) as server:
        yield Rig(store, server.base_url, call_id, sms_id, ["+886912345678", "+886912345999"])


_TABLES: dict[int, MetaData] = {}


def snapshot(store: Store) -> dict[str, list[str]]:
    """Every row of every table (the schema reflected once)."""
    meta = _TABLES.get(id(store))
    if meta is None:
        meta = _TABLES[id(store)] = MetaData()
        meta.reflect(store.engine)
    with store.engine.connect() as conn:
        return {
            name: sorted(repr(tuple(r)) for r in conn.execute(select(table)))
            for name, table in meta.tables.items()
        }


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
SIDS = st.sampled_from([CALL_SID, SMS_SID, "CA" + "f" * 32, "SM" + "0" * 32, "XX1", ""]) | TEXT
CALL_STATUSES = ["queued", "initiated", "ringing", "in-progress", "answered", "completed",
                 "busy", "no-answer", "failed", "canceled"]  # fmt: skip
SMS_STATUSES = ["accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed",
                "read", "canceled"]  # fmt: skip
VALUES: dict[str, st.SearchStrategy[str]] = {
    "CallSid": SIDS,
    "MessageSid": SIDS,
    "CallStatus": st.sampled_from(CALL_STATUSES) | TEXT,
    "MessageStatus": st.sampled_from(SMS_STATUSES) | TEXT,
    "SequenceNumber": st.integers(0, 10**30).map(str) | TEXT,
    "AnsweredBy": st.sampled_from(["human", "machine_start", "fax", "unknown"]) | TEXT,
    "Digits": st.sampled_from(["1", "2", "3", "9", "#", "", "11", "*"]) | TEXT,
    "SpeechResult": TEXT,
    "Body": st.sampled_from(["1", "2", "3", "STOP", "退訂", "服務很好", "later"]) | TEXT,
    "From": st.sampled_from(["+886912345678", "+886912345999", "+15005550006"]) | TEXT,
    "To": st.sampled_from([SENDER, "+886912345678"]) | TEXT,
    "CallDuration": st.integers(-5, 10**20).map(str) | TEXT,
    "ErrorCode": st.sampled_from(["30003", "11200", ""]) | TEXT,
    "AccountSid": st.just("AC" + "0" * 32) | TEXT,
}
ROUTES = ["/twilio/status/call/{id}", "/twilio/status/sms/{id}", "/twilio/voice/{id}",
          "/twilio/voice/{id}/{step}", "/twilio/sms/inbound"]  # fmt: skip
STEPS = st.sampled_from(["convenience", "question", "reason", "words", "when", "nope", ".."])


# What Twilio really sends on each route, for the forms that start complete and valid.
COMPLETE = {
    "/twilio/status/call/{id}": st.fixed_dictionaries({"CallSid": st.just(CALL_SID),
        "CallStatus": st.sampled_from(CALL_STATUSES), "SequenceNumber": st.integers(0, 9).map(str)}),
    "/twilio/status/sms/{id}": st.fixed_dictionaries({"MessageSid": st.just(SMS_SID),
        "MessageStatus": st.sampled_from(SMS_STATUSES)}),
    "/twilio/voice/{id}": st.fixed_dictionaries({"CallSid": st.just(CALL_SID),
        "AnsweredBy": st.sampled_from(["human", "machine_start"])}),
    "/twilio/voice/{id}/{step}": st.fixed_dictionaries({"CallSid": st.just(CALL_SID),
        "Digits": st.sampled_from(["1", "2", "3", "9", ""])}),
    "/twilio/sms/inbound": st.fixed_dictionaries({
        "MessageSid": st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda h: "SM" + h),
        "From": st.sampled_from(["+886912345999", "+886912345678"]), "To": st.just(SENDER),
        "Body": VALUES["Body"]}),
}  # fmt: skip


@dataclass(frozen=True)
class Hook:
    route: str
    attempt: str  # "call", "sms", or a literal id
    step: str
    query: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, str], ...]
    body: str  # form | bytes | json | oversized | latin1
    raw: bytes
    signing: str  # valid | wrong | none | other-url


@st.composite
def hooks(draw: st.DrawFn) -> Hook:
    """Half start from a complete form for their route; random fields are laid over it."""
    route = draw(st.sampled_from(ROUTES))
    base = draw(COMPLETE[route]) if draw(st.booleans()) else {}
    fields = {**base, **dict(draw(FIELDS))}
    hook = draw(_HOOKS)
    attempt = hook.attempt
    return Hook(route, attempt, hook.step, hook.query, tuple(fields.items()), hook.body,
                hook.raw, hook.signing)  # fmt: skip


FIELDS = st.lists(
    st.sampled_from(sorted(VALUES)).flatmap(lambda k: st.tuples(st.just(k), VALUES[k])),
    max_size=4,
    unique_by=lambda kv: kv[0],
)
_HOOKS = st.builds(
    Hook,
    route=st.just(""),
    attempt=st.sampled_from(["call", "sms", "999999", "0", str(2**31), str(2**63), str(-(2**63))])
    | st.integers(-(2**70), 2**70).map(str),
    step=STEPS,
    query=st.lists(
        st.tuples(st.sampled_from(["try", "answer", "x"]), st.sampled_from(["1", "2", "3", "x"]))
    ).map(tuple),
    fields=st.just(()),
    body=st.sampled_from(["form"] * 6 + ["bytes", "json", "oversized", "latin1"]),
    raw=st.binary(max_size=200),
    signing=st.sampled_from(["valid"] * 4 + ["wrong", "none", "other-url"]),
)


def send(rig: Rig, hook: Hook) -> requests.Response:
    attempt = {"call": rig.call_attempt, "sms": rig.sms_attempt}.get(hook.attempt, hook.attempt)
    path = hook.route.format(id=attempt, step=hook.step or "x")
    query = f"?{urlencode(hook.query)}" if hook.query else ""
    url = f"{rig.base_url}{path}{query}"
    params: dict[str, str] = dict(hook.fields)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if hook.body == "form":
        data: bytes = urlencode(params).encode()
    elif hook.body == "oversized":
        params["Body"] = "x" * (MAX_BODY + 10)
        data = urlencode(params).encode()
    elif hook.body == "latin1":
        data = urlencode(params, encoding="latin-1", errors="replace").encode() + b"&Z=%FF%FE"
    elif hook.body == "json":
        headers["Content-Type"] = "application/json"
        data = json.dumps(params).encode()
    else:
        data = hook.raw
    if hook.signing != "none":
        signed_url = url if hook.signing != "other-url" else url.replace("/twilio/", "/twilio//")
        signature = RequestValidator(TOKEN).compute_signature(signed_url, params)
        headers["X-Twilio-Signature"] = signature if hook.signing != "wrong" else signature[::-1]
    return requests.post(url, data=data, headers=headers, timeout=30)


SEEN: dict[str, int] = {}


def judge(rig: Rig, hook: Hook) -> None:
    before = snapshot(rig.store)
    answer = send(rig, hook)
    assert answer.status_code < 500, (answer.status_code, answer.text[:200], hook)
    changed = snapshot(rig.store) != before
    key = f"{answer.status_code}{' changed' if changed else ''}"
    SEEN[key] = SEEN.get(key, 0) + 1
    if changed:  # only a valid, signed request may change anything, and it was answered 2xx
        assert hook.signing == "valid" and hook.body in ("form", "latin1"), hook
        assert 200 <= answer.status_code < 300, (answer.status_code, hook)
    if hook.signing in ("wrong", "none", "other-url"):
        assert answer.status_code in (403, 404, 405, 413, 422), (answer.status_code, hook)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(hook=hooks())
def test_generated_webhooks_never_500_and_change_nothing_unless_signed(
    rig: Rig, hook: Hook
) -> None:
    judge(rig, hook)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(hook=hooks())
def test_many_generated_webhooks(rig: Rig, hook: Hook) -> None:
    judge(rig, hook)


def test_the_webhook_fuzzing_reached_the_handlers() -> None:
    """(After the property above: some requests were refused, some were applied.)"""
    if not SEEN:
        pytest.skip("the generated-webhooks property did not run in this session")
    changed = sum(n for k, n in SEEN.items() if k.endswith("changed"))
    refused = sum(n for k, n in SEEN.items() if k.startswith("403"))
    assert changed > 0 and refused > 0, SEEN
    print(f"\nwebhook answers: {dict(sorted(SEEN.items()))}")
