"""The webhook app Twilio posts to: call and SMS status callbacks, and the call's TwiML.

Every request is checked against `X-Twilio-Signature` with the auth token and the configured
public URL (so it works behind a proxy); a bad signature gets 403 and is logged, never
processed. Each status callback is stored once in the event log (unique on SID + status +
SequenceNumber) and moves its attempt through `attempt_status.apply_status`, where terminal states
never regress, so repeated, late and reordered callbacks change nothing twice. The voice routes
speak the campaign's script step by step (`dialer.ivr`); a repeated Gather records nothing twice.
The status callbacks Twilio posts take a short path in front of FastAPI (`dialer.status_route`),
with the same checks and answers as their FastAPI routes, which keep the rest.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request, Response
from python_multipart.multipart import parse_options_header
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from dialer import attempt_status as statuses
from dialer import attempts as books
from dialer import ivr
from dialer.clock import Clock
from dialer.inbound_sms import Handled, handle_reply
from dialer.signed_form import MAX_BODY, URLENCODED, SignatureCheck, parse_urlencoded
from dialer.status_route import StatusRoute
from dialer.status_writer import StatusWriter
from dialer.store import Store

log = logging.getLogger(__name__)
__all__ = ["MAX_BODY", "WebhookApp", "create_app"]

MAX_ID = 2**31 - 1  # the largest id every engine's INTEGER column holds (32 bits on PostgreSQL)
_SID = re.compile(r"^(CA|SM|MM)[0-9a-fA-F]{32}$")
_STATUS = re.compile(r"^[a-z-]{3,20}$")
# Numeric fields a status callback may carry: an INTEGER column holds them (a huge one was a 500).
_COUNTS = ("CallDuration", "Duration", "ErrorCode")
_COUNT = re.compile(r"[0-9]{1,9}\Z", re.ASCII)


class WebhookApp:
    """Builds the FastAPI app around one store, clock and auth token."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        auth_token: str,
        public_base_url: str | None = None,
        company: str = "",
    ) -> None:
        self.store, self.clock = store, clock
        self.signatures = SignatureCheck(auth_token)  # RequestValidator's verdict, for less
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.company = company
        self.book = books.CampaignBook()
        self.status_writer = StatusWriter(store, clock, self.book)
        self.rejected = 0  # requests refused for a bad signature (for tests and health)

    def close(self) -> None:
        """Release the status writer's thread and never-waiting connection: the server that
        served this app has stopped (`AppServer.stop` calls it)."""
        self.status_writer.close()

    def public_url(self, request: Request) -> str:
        """The URL Twilio signed: the configured public base plus the path and query."""
        if self.public_base_url is None:
            return str(request.url)
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{self.public_base_url}{request.url.path}{query}"

    async def form(self, request: Request) -> dict[str, str] | Response:
        """The signed form's fields (parsed once, for the signature and the handler), or the
        4xx response to send instead."""
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
            return Response("request too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response("request too large", status_code=413)
        content_type, _ = parse_options_header(request.headers.get("Content-Type"))
        fields: dict[str, str] | None = {}  # as Starlette: no form in any other content type
        if content_type == URLENCODED:
            fields = parse_urlencoded(body)
        elif content_type == b"multipart/form-data":
            try:
                form = await request.form()
            except Exception:  # noqa: BLE001 - any parse failure is the client's: 400, never 500
                fields = None
            else:
                fields = {k: str(v) for k, v in form.items()}
        checked = self.checked(
            self.public_url(request),
            request.url.path,
            fields,
            request.headers.get("X-Twilio-Signature", ""),
        )
        return (
            Response(checked[1], status_code=checked[0]) if isinstance(checked, tuple) else checked
        )

    def checked(
        self, url: str, path: str, fields: dict[str, str] | None, signature: str
    ) -> dict[str, str] | tuple[int, str]:
        """The form (None: malformed) if signed for `url` and storable, else (status, text)."""
        if fields is None:
            return 400, "malformed form"
        try:
            valid = self.signatures.valid(url, fields, signature)
        except ValueError:  # a port no URL can have (a forged Host header): signed by nobody
            valid = False
        if not valid:
            self.rejected += 1
            log.warning("refused %s: bad or missing X-Twilio-Signature", path)
            return 403, "bad signature"
        if "\x00" in "".join(fields.values()):  # Twilio never sends one; PostgreSQL
            return 400, "a form field holds a NUL character"  # refuses it
        return fields

    async def status(self, kind: str, attempt_id: int | None, form: dict[str, str]) -> Response:
        """A status callback, stored and applied by the status writer before the 204."""
        code, text = await self.status_answer(kind, attempt_id, form)
        return Response(text or None, status_code=code)

    async def status_answer(
        self, kind: str, attempt_id: int | None, form: dict[str, str]
    ) -> tuple[int, str]:
        """`status` as (HTTP status, text): the status route answers without a Response."""
        sid_field, status_field = (
            ("CallSid", "CallStatus")
            if kind == "call"
            else (
                "MessageSid",
                "MessageStatus",
            )
        )
        sid, status = form.get(sid_field, ""), form.get(status_field, "")
        seq_text = form.get("SequenceNumber") or "0"
        if (
            not _SID.match(sid)
            or not _STATUS.match(status)
            or not (seq_text.isascii() and seq_text.isdigit() and len(seq_text) <= 9)
        ):
            return 400, f"{sid_field}, {status_field} or SequenceNumber invalid"
        if not all(_COUNT.match(form.get(name) or "0") for name in _COUNTS):
            return 400, f"{', '.join(_COUNTS)} must be whole numbers below 10^9"
        if attempt_id is not None and not 0 < attempt_id <= MAX_ID:
            attempt_id = None  # no attempt has such an id: kept in the event log, moves nothing
        sequence = int(seq_text)
        try:
            await self.status_writer.apply(
                kind=kind, attempt_id=attempt_id, sid=sid, status=status, sequence=sequence,
                payload=form,
            )  # fmt: skip
        except (IntegrityError, sqlite3.IntegrityError):
            # No such attempt (a deleted campaign's, or a stray id): kept in the event log by its
            # SID alone, never a 500; it moves no attempt (not even one holding that SID).
            log.warning("status %s for an unknown attempt id %s", status, attempt_id)
            await self.status_writer.apply(
                kind=kind, attempt_id=None, sid=sid, status=status, sequence=sequence,
                payload=form,
            )  # fmt: skip
        return 204, ""

    def inbound_sms(self, fields: dict[str, str]) -> Response:
        """A customer's SMS reply: acted on once; a clarifying message goes back as TwiML."""
        if not _SID.match(fields.get("MessageSid", "")) or not fields.get("From"):
            return Response("MessageSid or From invalid", 400)

        def reply(session: Session) -> Handled:
            self.book.refresh(session)
            return handle_reply(session, self.book, self.clock.now(), fields, self.company)

        handled = self.store.retrying(reply)  # stored once by its SID: safe to run again
        if handled.clarify:
            return _twiml(f"<Message>{escape(handled.clarify)}</Message>")
        return _twiml("")

    def voice(
        self,
        attempt_id: int,
        fields: dict[str, str],
        base_url: str,
        step: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        """The call's TwiML for the first answer (`step` None) or one Gather/Record step."""
        q = query or {}
        tries, answer = q.get("try", "1"), q.get("answer", "unsatisfied")
        if step is not None and (step not in ivr.STEPS or tries not in ("1", "2")):
            return Response("unknown step or try", status_code=404)
        sid = fields.get("CallSid", "")
        if step is not None and not _SID.match(sid):
            return Response("CallSid invalid", status_code=400)
        if not 0 < attempt_id <= MAX_ID:  # no such attempt can exist (and no database takes it)
            return _twiml("<Hangup/>")

        def speak(session: Session) -> Response:
            ctx = ivr.load(session, self.book, attempt_id, self.company)
            if ctx is None or ctx.attempt.channel != "voice":
                return _twiml("<Hangup/>")
            flow = ivr.Flow(ctx, session, self.clock.now(), base_url)
            if step is None:
                return _twiml(flow.start(fields.get("AnsweredBy", "")))
            flow.live = statuses.insert_event(
                session, sid, "voice_gather", f"{step}:{answer}"[:30], int(tries),
                attempt_id, fields, flow.now,
            )  # fmt: skip
            return _twiml(ivr.respond(flow, step, fields, int(tries), answer))

        # Run again on a fresh connection if the database dropped this one: a Gather step is
        # stored once (its event key), so a repeat records nothing twice.
        return self.store.retrying(speak)


def _twiml(inner: str) -> Response:
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>',
        # The charset said in the header too: a client need not guess it from the bytes.
        media_type="application/xml; charset=utf-8",
    )


def create_app(
    store: Store,
    clock: Clock,
    auth_token: str,
    public_base_url: str | None = None,
    company: str = "",
    *,
    one_caller: bool = False,
) -> FastAPI:
    """The webhook app; `app.state.webhooks` is the `WebhookApp` behind it.

    `one_caller`: the only client is a fast-forward sandbox that waits for each answer before
    its next request (`dialer demo`, `dialer simulate`), so nothing else could use the event
    loop while a handler works: handlers run on it, sparing two thread hand-overs a request.
    A served app (many concurrent callbacks) keeps them off the loop.
    """
    hooks = WebhookApp(store, clock, auth_token, public_base_url, company)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """A server that runs the lifespan (`dialer serve --workers`) closes the app as it stops;
        `AppServer` runs none and closes it in `stop`."""
        yield
        hooks.close()

    app = FastAPI(
        title="dialer webhooks", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.webhooks = hooks
    # The status callbacks Twilio posts skip FastAPI's routing (their routes below take the rest).
    app.add_middleware(StatusRoute, hooks=hooks)

    async def signed(request: Request, handle: Callable[[dict[str, str]], Response]) -> Response:
        """Check the signature and form, then run the (database) handler off the event loop."""
        form = await hooks.form(request)
        if isinstance(form, Response):
            return form
        if one_caller:
            return handle(form)
        return await run_in_threadpool(handle, form)

    @app.post("/twilio/status/call/{attempt_id}")
    async def call_status(attempt_id: int, request: Request) -> Response:
        form = await hooks.form(request)  # the ones `StatusRoute` leaves: multipart, odd ids
        return form if isinstance(form, Response) else await hooks.status("call", attempt_id, form)

    @app.post("/twilio/status/sms/{attempt_id}")
    async def sms_status(attempt_id: int, request: Request) -> Response:
        form = await hooks.form(request)
        return form if isinstance(form, Response) else await hooks.status("sms", attempt_id, form)

    def base(request: Request) -> str:
        return hooks.public_base_url or str(request.base_url).rstrip("/")

    @app.post("/twilio/voice/{attempt_id}")
    async def voice(attempt_id: int, request: Request) -> Response:
        return await signed(request, lambda form: hooks.voice(attempt_id, form, base(request)))

    @app.post("/twilio/voice/{attempt_id}/{step}")
    async def voice_step(attempt_id: int, step: str, request: Request) -> Response:
        query = dict(request.query_params)
        return await signed(
            request, lambda form: hooks.voice(attempt_id, form, base(request), step, query)
        )

    @app.post("/twilio/sms/inbound")
    async def sms_inbound(request: Request) -> Response:
        return await signed(request, hooks.inbound_sms)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
