"""Twilio's status callbacks answered on a short path in front of the FastAPI app.

Status callbacks are the hottest route (four or more per call, `scripts/bench/webhooks.py`), and
FastAPI's way to them (middleware layers, routing, a Request, path parameters validated by
pydantic, a Response) cost about as much CPU as storing the callback. This ASGI layer answers a
`POST /twilio/status/{call,sms}/{id}` itself when it is the plain case Twilio posts: a decimal
id, no query, no root path, an urlencoded body. It reads the same headers, keeps the same body
MAX_BODY, parses the form as Starlette does, checks the signature with `RequestValidator`'s verdict
and answers what the FastAPI route answers (`WebhookApp.status_answer`). Anything else (another
content type, an id FastAPI must refuse, other routes) goes to the FastAPI app untouched.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from python_multipart.multipart import parse_options_header
from starlette.datastructures import URL
from starlette.types import ASGIApp, Receive, Scope, Send

from dialer.signed_form import MAX_BODY, URLENCODED, parse_urlencoded

if TYPE_CHECKING:
    from dialer.webhooks import WebhookApp

# (kind, attempt id, form) -> (HTTP status, text); `WebhookApp.status_answer`, or the bench floor's
Answer = Callable[[str, int, dict[str, str]], Awaitable[tuple[int, str]]]

_ROUTE = re.compile(r"/twilio/status/(call|sms)/([0-9]{1,18})\Z")


class StatusRoute:
    """ASGI: the status callback routes on a short path, everything else to `app`."""

    def __init__(self, app: ASGIApp, hooks: WebhookApp, answer: Answer | None = None) -> None:
        self.app, self.hooks = app, hooks
        self.answer: Answer = answer or hooks.status_answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            _ROUTE.match(scope["path"])
            if scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("query_string")
            and not scope.get("root_path")
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        content_type = size = signature = None
        for name, value in scope["headers"]:  # the first of each, as Starlette's Headers.get
            if name == b"content-type":
                content_type = value if content_type is None else content_type
            elif name == b"content-length":
                size = value if size is None else size
            elif name == b"x-twilio-signature":
                signature = value if signature is None else signature
        if (
            content_type is None
            or parse_options_header(content_type.decode("latin-1"))[0] != URLENCODED
        ):
            await self.app(scope, receive, send)  # multipart, JSON...: FastAPI's route decides
            return
        await self._status(scope, receive, send, route, size, signature)

    async def _status(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: re.Match[str],
        size: bytes | None,
        signature: bytes | None,
    ) -> None:
        hooks = self.hooks
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
            await _answer(send, 413, "request too large")
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nobody to answer
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _answer(send, 413, "request too large")
                return
            if not message.get("more_body", False):
                break
        path = scope["path"]
        url = (
            str(URL(scope=scope))
            if hooks.public_base_url is None
            else f"{hooks.public_base_url}{path}"
        )
        form = hooks.checked(
            url,
            path,
            parse_urlencoded(body),
            "" if signature is None else signature.decode("latin-1"),
        )
        if isinstance(form, tuple):
            await _answer(send, *form)
            return
        kind, attempt_id = route.group(1), int(route.group(2))
        await _answer(send, *await self.answer(kind, attempt_id, form))


async def _answer(send: Send, status: int, text: str) -> None:
    """What Starlette's `Response(text, status)` sends: no headers for an empty 204."""
    body = text.encode("utf-8")
    headers: list[tuple[bytes, bytes]] = (
        [] if status == 204 or status < 200 else [(b"content-length", str(len(body)).encode())]
    )
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
