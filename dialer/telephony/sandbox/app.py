"""The sandbox's HTTP face: a plain ASGI app speaking Twilio's REST wire format.

Plain ASGI (no framework routing or form parsing) keeps `calls.create` cheap: the dispatcher
benchmark needs well over a thousand requests per second on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_plus

from dialer.telephony.sandbox.errors import ApiError, unauthorized
from dialer.telephony.sandbox.sandbox import Sandbox

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ROUTE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/(?P<kind>Calls|Messages)(?:/(?P<sid>[^/]+))?\.json$"
)


def _form(raw: bytes) -> dict[str, str]:
    """Form fields; repeated ones (StatusCallbackEvent) joined by spaces.

    Hand-rolled because urllib's parse_qsl was a third of the request's CPU: most fields need
    no unquoting at all.
    """
    out: dict[str, str] = {}
    for pair in raw.decode("utf-8", "replace").split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        out[key] = f"{out[key]} {value}" if key in out else value
    return out


def _basic_auth(scope: Scope) -> tuple[str, str]:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:6].lower() == b"basic ":
            try:
                user, _, password = base64.b64decode(value[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "", ""
            return user, password
    return "", ""


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, payload: Any, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    raw = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw.extend((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class SandboxApp:
    """ASGI callable serving one Sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        try:
            if path.startswith("/sandbox/"):
                await self._sandbox_route(scope, receive, send)
                return
            match = ROUTE.match(path)
            resource = "other"
            if match:
                resource = match["kind"].lower()[:-1] if match["sid"] else match["kind"].lower()
            self.sb.arrived(method, resource)
            raw = await _body(receive) if method == "POST" else b""
            latency = self.sb.faults.latency
            if latency > 0:
                await asyncio.sleep(latency)
            user, password = _basic_auth(scope)
            if not self.sb.check_auth(user, password):
                raise unauthorized()
            if match is None or match["account"] != self.sb.account_sid:
                raise ApiError(404, 20404, f"The requested resource {path} was not found")
            fault = self.sb.injected_fault()
            if fault is not None:
                raise fault
            status, payload = self._dispatch(method, match, scope, raw)
            await _respond(send, status, payload)
        except ApiError as exc:
            await _respond(send, exc.status, exc.as_json(), exc.headers)

    def _dispatch(
        self, method: str, match: re.Match[str], scope: Scope, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        sim = self.sb.calls if match["kind"] == "Calls" else self.sb.messages
        sid = match["sid"]
        if sid is None and method == "POST":
            return 201, sim.create(_form(raw))
        if sid is None and method == "GET":
            query = _form(scope.get("query_string", b""))
            return 200, sim.listing(query, scope["path"])
        if sid is not None and method == "GET":
            return 200, sim.fetch(sid)
        if sid is not None and method == "POST" and match["kind"] == "Calls":
            return 200, self.sb.calls.update(sid, _form(raw))
        raise ApiError(405, 20004, f"Method {method} not allowed on {scope['path']}")

    async def _sandbox_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Health for anyone on loopback; the log (customers' full numbers) and control
        (persons, faults) with the account's auth: `dialer run` starts a sandbox whose random
        token it never prints, so no other local user can read whom it called.

        The control routes let another process (a benchmark, a multi-worker test) set up what a
        test in-process does with `sb.person(...)`, `sb.faults` and `sb.fail_next(...)`.
        """
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/sandbox/health":
            await _respond(send, 200, {"status": "ok", "account_sid": self.sb.account_sid})
            return
        readable = method == "GET" and path == "/sandbox/log.json"
        if not readable and (method != "POST" or path not in CONTROL):
            raise ApiError(404, 20404, f"No sandbox route {method} {path}")
        if not self.sb.check_auth(*_basic_auth(scope)):
            raise unauthorized()
        if readable:
            await _respond(send, 200, self.sb.log_json())
            return
        try:
            body = json.loads(await _body(receive) or b"{}")
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object")
            result = CONTROL[path](self.sb, body)
        except (ValueError, TypeError, KeyError) as exc:
            raise ApiError(400, 20001, f"Invalid {path} request: {exc!s}") from exc
        await _respond(send, 200, result)


def _person(sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    number = body.pop("number")
    return dataclasses.asdict(sb.person(number, **body))


def _faults(sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    for key, value in body.items():
        if not isinstance(value, int | float) and not (key == "retry_after" and value is None):
            raise ValueError(f"{key} must be a number")
    sb.faults = dataclasses.replace(sb.faults, **body)
    return dataclasses.asdict(sb.faults)


def _fail_next(sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    sb.fail_next(**body)
    return {"queued": body.get("n", 1)}


CONTROL: dict[str, Callable[[Sandbox, dict[str, Any]], dict[str, Any]]] = {
    "/sandbox/persons": _person,
    "/sandbox/faults": _faults,
    "/sandbox/fail_next": _fail_next,
}
