# ruff: noqa: F811 - the fixtures shared with test_webhooks are parameters here
"""The status callbacks' short path (`StatusRoute`) over real HTTP: the form parsed once still
refuses a bad signature, keeps a repeated name's last value, refuses oversized bodies (said or
streamed) and too many fields, reads bytes that are not UTF-8 as the FastAPI route did, and
leaves every other request (multipart, a query, an id FastAPI refuses) to the FastAPI routes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from test_webhooks import PUBLIC, SID, TOKEN, events, placed, server  # noqa: F401 - fixtures
from twilio.request_validator import RequestValidator

from dialer.clock import SettableClock
from dialer.models import Attempt, WebhookEvent
from dialer.serving import AppServer
from dialer.signed_form import MAX_BODY, MAX_FIELDS
from dialer.status_route import StatusRoute
from dialer.store import Store
from dialer.webhooks import WebhookApp, create_app


def raw(
    server: AppServer, path: str, body: Any, signature: str | None, content_type: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": content_type or "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return httpx.post(f"{server.base_url}{path}", content=body, headers=headers, timeout=10)


def sign(path: str, fields: dict[str, str]) -> str:
    return RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{path}", fields)


def stored(store: Store) -> list[tuple[str, dict[str, Any]]]:
    with store.sessions() as s:
        rows = s.execute(select(WebhookEvent.status, WebhookEvent.payload)).all()
    return [(r.status, r.payload if isinstance(r.payload, dict) else json.loads(r.payload))
            for r in rows]  # fmt: skip


def provider_status(store: Store, attempt_id: int) -> str | None:
    with store.sessions() as s:
        attempt = s.get(Attempt, attempt_id)
        assert attempt is not None
        return attempt.provider_status


def test_a_bad_signature_on_the_short_path_is_refused_and_counted(
    server: AppServer, store: Store, placed: int
) -> None:
    path = f"/twilio/status/call/{placed}"
    form = {"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "1"}
    good = sign(path, form)
    hooks = server.app.state.webhooks
    assert raw(server, path, urlencode(form), good[::-1]).status_code == 403
    assert raw(server, path, urlencode(form), None).status_code == 403
    assert raw(server, path, urlencode(form), "").status_code == 403
    # signed for another attempt's URL, or over other values
    assert raw(server, path, urlencode(form), sign(f"{path}0", form)).status_code == 403
    changed = urlencode({**form, "CallStatus": "completed"})
    assert raw(server, path, changed, good).status_code == 403
    assert hooks.rejected == 5 and events(store) == 0
    answer = raw(server, path, urlencode(form), good)
    assert (answer.status_code, answer.content) == (204, b"")
    assert events(store) == 1 and provider_status(store, placed) == "ringing"


def test_a_repeated_name_counts_with_its_last_value(
    server: AppServer, store: Store, placed: int
) -> None:
    path = f"/twilio/status/call/{placed}"
    body = urlencode(
        [
            ("CallSid", SID),
            ("CallStatus", "completed"),
            ("SequenceNumber", "3"),
            ("CallStatus", "ringing"),
        ]
    )
    first = {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "3"}
    last = {**first, "CallStatus": "ringing"}
    assert raw(server, path, body, sign(path, first)).status_code == 403
    assert raw(server, path, body, sign(path, last)).status_code == 204
    assert stored(store) == [("ringing", last)]
    assert provider_status(store, placed) == "ringing"


def test_oversized_bodies_are_refused_said_or_streamed(
    server: AppServer, store: Store, placed: int
) -> None:
    path = f"/twilio/status/call/{placed}"
    form = {"CallSid": SID, "CallStatus": "ringing", "Pad": "x" * MAX_BODY}
    body = urlencode(form).encode()
    assert raw(server, path, body, sign(path, form)).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, refused as it grows
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    answer = raw(server, path, chunks(), sign(path, form))
    assert (answer.status_code, answer.text) == (413, "request too large")
    # just under the limit, streamed: read whole, and stored
    fits = {"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "1"}
    fits["Pad"] = "x" * (MAX_BODY - len(urlencode(fits)) - len("&Pad="))
    small = urlencode(fits).encode()
    assert len(small) == MAX_BODY

    def small_chunks() -> Iterator[bytes]:
        for i in range(0, len(small), 1000):
            yield small[i : i + 1000]

    assert raw(server, path, small_chunks(), sign(path, fits)).status_code == 204
    assert events(store) == 1


def test_bytes_that_are_not_utf8_are_read_as_the_fastapi_route_read_them(
    server: AppServer, store: Store, placed: int
) -> None:
    path = f"/twilio/status/call/{placed}"
    body = urlencode({"CallSid": SID, "CallStatus": "ringing"}).encode() + b"&Z=%FF%FE&R=\xe9"
    fields = {"CallSid": SID, "CallStatus": "ringing", "Z": "\ufffd\ufffd", "R": "\xe9"}
    assert raw(server, path, body, sign(path, {**fields, "R": "é!"})).status_code == 403
    assert raw(server, path, body, sign(path, fields)).status_code == 204
    assert stored(store) == [("ringing", fields)]


def test_too_many_fields_or_a_nul_is_a_400_and_nothing_is_stored(
    server: AppServer, store: Store, placed: int
) -> None:
    path = f"/twilio/status/call/{placed}"
    many = {"CallSid": SID, "CallStatus": "ringing"} | {f"f{i}": "" for i in range(MAX_FIELDS)}
    answer = raw(server, path, urlencode(many), sign(path, many))
    assert (answer.status_code, answer.text) == (400, "malformed form")
    nul = {"CallSid": SID, "CallStatus": "ringing", "Caller": "a\x00b"}
    answer = raw(server, path, urlencode(nul), sign(path, nul))
    assert (answer.status_code, answer.text) == (400, "a form field holds a NUL character")
    invalid = {"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "x"}
    answer = raw(server, path, urlencode(invalid), sign(path, invalid))
    assert answer.status_code == 400 and "SequenceNumber" in answer.text
    assert events(store) == 0


def test_what_the_short_path_leaves_the_fastapi_routes_still_answer(
    server: AppServer, store: Store, placed: int
) -> None:
    path = f"/twilio/status/call/{placed}"
    form = {"CallSid": SID, "CallStatus": "initiated", "SequenceNumber": "0"}
    # multipart (Twilio never posts one, but the route took it)
    parts = "".join(
        f'--b0\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in form.items()
    )
    multipart = raw(
        server, path, f"{parts}--b0--\r\n", sign(path, form), "multipart/form-data; boundary=b0"
    )
    assert multipart.status_code == 204
    # a query string: signed with it, as the FastAPI route checks it
    ringing = {**form, "CallStatus": "ringing", "SequenceNumber": "1"}
    queried = raw(server, f"{path}?x=1", urlencode(ringing), sign(f"{path}?x=1", ringing))
    assert queried.status_code == 204
    # ids FastAPI refuses stay refused, leading zeros name the same attempt
    assert raw(server, "/twilio/status/call/5.5", urlencode(form), "x").status_code == 422
    assert raw(server, "/twilio/status/call/ab", urlencode(form), "x").status_code == 422
    talking = {**form, "CallStatus": "in-progress", "SequenceNumber": "2"}
    zeros = f"/twilio/status/call/000{placed}"
    assert raw(server, zeros, urlencode(talking), sign(zeros, talking)).status_code == 204
    assert httpx.get(f"{server.base_url}{path}", timeout=10).status_code == 405
    assert events(store) == 3 and provider_status(store, placed) == "in-progress"


def test_without_a_public_url_the_loopback_url_is_the_signed_one(
    store: Store, clock: SettableClock, placed: int
) -> None:
    with AppServer(create_app(store, clock, TOKEN)) as srv:
        path = f"/twilio/status/call/{placed}"
        form = {"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "1"}
        local = RequestValidator(TOKEN).compute_signature(f"{srv.base_url}{path}", form)
        assert raw(srv, path, urlencode(form), sign(path, form)).status_code == 403
        assert raw(srv, path, urlencode(form), local).status_code == 204
    assert events(store) == 1


def test_a_url_no_signature_can_be_for_is_refused_never_a_500(
    store: Store, clock: SettableClock
) -> None:
    hooks = WebhookApp(store, clock, TOKEN, "https://dialer.example.com:99999")
    assert hooks.checked(f"{hooks.public_base_url}/x", "/x", {}, "c2lnbmVk") == (
        403,
        "bad signature",
    )
    hooks.close()


def test_the_short_path_answers_before_the_app_behind_it(
    store: Store, clock: SettableClock, placed: int
) -> None:
    """Behind it an app with no routes at all (404): what reaches it is what the short path left."""
    hooks = WebhookApp(store, clock, TOKEN, PUBLIC)
    answered: list[tuple[str, int, dict[str, str]]] = []

    async def answer(kind: str, attempt_id: int, form: dict[str, str]) -> tuple[int, str]:
        answered.append((kind, attempt_id, form))
        await asyncio.sleep(0)
        return 204, ""

    bare = FastAPI()
    bare.add_middleware(StatusRoute, hooks=hooks, answer=answer)
    with AppServer(bare) as srv:
        path = f"/twilio/status/sms/{placed}"
        form = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "sent"}
        assert raw(srv, path, urlencode(form), sign(path, form)).status_code == 204
        other = "application/json"
        assert raw(srv, path, json.dumps(form), sign(path, form), other).status_code == 404
        assert raw(srv, f"{path}/", urlencode(form), sign(path, form)).status_code == 404
    hooks.close()
    assert answered == [("sms", placed, form)]
