"""The status route's own form parser and signature check give the originals' answers.

`parse_urlencoded` against Starlette's `Request.form()` on the same bytes, `SignatureCheck`
against twilio's `RequestValidator.validate` on the same URL, fields and signature, for
generated input (repeated names, stray `&` and `=`, broken percent escapes, bytes that are not
UTF-8, URLs with and without ports) and for hand-written cases.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from twilio.request_validator import RequestValidator, add_port, remove_port

from dialer.signed_form import MAX_FIELDS, SignatureCheck, parse_urlencoded

TOKEN = "signed-form-token"


def starlette_form(body: bytes) -> list[tuple[str, str]] | None:
    """What the FastAPI routes read: `dict(await request.form())` in order; None if refused."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
    }

    async def read() -> list[tuple[str, str]] | None:
        try:
            form = await Request(scope, receive).form()
        except Exception:  # noqa: BLE001 - Starlette refused the form (too many fields)
            return None
        return [(k, str(v)) for k, v in form.items()]

    return asyncio.run(read())


def ours(body: bytes) -> list[tuple[str, str]] | None:
    fields = parse_urlencoded(body)
    return None if fields is None else list(fields.items())


PIECES = st.sampled_from(
    ["&", "=", "+", "%", "%2", "%zz", "%20", "%26", "%3D", "%C3%A9", "%FF", "%e9", "a", "B",
     "Call", "Sid", "\xe9".encode().decode("latin-1"), " ", ";", "\x00"]
)  # fmt: skip
BODIES = st.lists(PIECES, max_size=30).map(lambda xs: "".join(xs).encode("latin-1")) | st.binary(
    max_size=80
)


@settings(max_examples=400, deadline=None)
@given(body=BODIES)
def test_an_urlencoded_body_reads_as_starlette_reads_it(body: bytes) -> None:
    assert ours(body) == starlette_form(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", []),
        (b"a=1&b=2", [("a", "1"), ("b", "2")]),
        # a repeated name keeps its last value, where the name first stood
        (b"a=1&b=2&a=3", [("a", "3"), ("b", "2")]),
        (b"&&a=1&&b&=x&", [("a", "1"), ("b", ""), ("", "x")]),
        (b"To=%2B886912345678&x=a+b%20c", [("To", "+886912345678"), ("x", "a b c")]),
        (b"k=a=b", [("k", "a=b")]),
        # not UTF-8: raw bytes read as Latin-1, broken escapes as U+FFFD (never an error)
        (b"n=%FF%FE&r=\xff", [("n", "\ufffd\ufffd"), ("r", "\xff")]),
        (b"t=%E9%80%80%E8%A8%82", [("t", "退訂")]),
    ],
)
def test_hand_written_bodies(body: bytes, expected: list[tuple[str, str]]) -> None:
    assert ours(body) == expected == starlette_form(body)


def test_more_fields_than_starlette_takes_is_refused_as_it_refuses_them() -> None:
    most = b"&".join(b"f%d=1" % i for i in range(MAX_FIELDS))
    assert ours(most) == starlette_form(most) and len(ours(most) or []) == MAX_FIELDS
    assert ours(most + b"&one=more") is None and starlette_form(most + b"&one=more") is None
    # empty pieces are not fields
    assert ours(most + b"&&&") == starlette_form(most + b"&&&")


ORIGINS = st.sampled_from(
    ["https://dialer.example.com", "https://dialer.example.com:443", "http://127.0.0.1:8000",
     "http://localhost", "https://Dialer.Example.com:8443", "https://h:0", "HTTPS://up.example",
     "https://user:pw@h.example:444", "http://[::1]:8080", "https://h.example:0443"]
)  # fmt: skip
TAILS = st.sampled_from(
    ["/twilio/status/call/42", "/twilio/status/sms/7", "/", "", "/a//b", "//x/y",
     "/twilio/voice/3/question?try=2&answer=x", "/p;q", "/p?", "/p#f", "/é", "/a b",
     "/t?x=%20+1", "/twilio/status/call/1?", "/x\t/y"]
)  # fmt: skip
FIELDS = st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=6) | st.builds(
    lambda sid, status: {"CallSid": sid, "CallStatus": status, "SequenceNumber": "0"},
    st.text(max_size=34),
    st.sampled_from(["ringing", "completed", "queued"]),
)


def twilio_variants(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    return remove_port(parsed), add_port(parsed)


@settings(max_examples=300, deadline=None)
@given(origin=ORIGINS, tail=TAILS)
def test_the_two_signed_urls_are_twilios(origin: str, tail: str) -> None:
    url = origin + tail
    check = SignatureCheck(TOKEN)
    try:
        expected = twilio_variants(url)
    except ValueError:
        with pytest.raises(ValueError):
            check.variants(url)
        return
    assert check.variants(url) == expected
    assert check.variants(url) == expected  # and again from what it remembered


@settings(max_examples=400, deadline=None)
@given(
    origin=ORIGINS,
    tail=TAILS,
    fields=FIELDS,
    signed_as=st.sampled_from(["as is", "without port", "with port", "other", "garbage", ""]),
    garbage=st.text(max_size=30),
)
def test_the_verdict_is_twilios(
    origin: str, tail: str, fields: dict[str, str], signed_as: str, garbage: str
) -> None:
    url = origin + tail
    validator = RequestValidator(TOKEN)
    try:
        without, with_port = twilio_variants(url)
    except ValueError:
        return  # twilio raises for such a URL; the app refuses it (test_status_route)
    signature = {
        "as is": validator.compute_signature(url, fields),
        "without port": validator.compute_signature(without, fields),
        "with port": validator.compute_signature(with_port, fields),
        "other": RequestValidator("another-token").compute_signature(url, fields),
        "garbage": garbage,
        "": "",
    }[signed_as]
    verdict = SignatureCheck(TOKEN).valid(url, fields, signature)
    assert verdict == validator.validate(url, fields, signature)
    if signed_as in ("without port", "with port"):
        assert verdict


def test_a_form_signed_by_twilio_passes_and_any_change_fails() -> None:
    url = "https://dialer.example.com/twilio/status/call/42"
    form = {"CallSid": "CA" + "ab" * 16, "CallStatus": "completed", "To": "+886912345678"}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    check = SignatureCheck(TOKEN)
    assert check.valid(url, form, signature)
    assert check.valid(url, dict(reversed(form.items())), signature)  # order is not signed
    assert not check.valid(url, {**form, "CallStatus": "busy"}, signature)
    assert not check.valid(url, {**form, "Extra": ""}, signature)
    assert not check.valid(url.replace("/42", "/43"), form, signature)
    assert not check.valid(url, form, signature[:-1])
    assert not check.valid(url, form, signature + "=")
    assert not check.valid(url, form, "")
    assert not SignatureCheck("wrong-token").valid(url, form, signature)
    # the parsed body of a real request: its repeated name signs with its last value
    body = urlencode([("CallSid", form["CallSid"]), ("CallStatus", "ringing"), *form.items()])
    fields = parse_urlencoded(body.encode())
    assert fields == form and check.valid(url, fields, signature)
