"""The agent console: web pages served by the same app as the webhooks (mounted at /console).

Sign-in with a password (Argon2), a session cookie (HttpOnly, SameSite=Strict; the database
keeps its hash and expiry), a CSRF token on every form, a per-request CSP nonce for the one
inline script and style (no external CDN: the pages work offline). Every page reads its rules
from `dialer.agent_work` and `dialer.supervision`, the same functions the terminal uses, so an
agent who asks for another agent's task, customer or case gets the same 404 as for one that
does not exist. Nothing here logs a phone number.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Form, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from dialer import agent_queue, supervision
from dialer import agent_work as work
from dialer.attempts import CampaignBook
from dialer.clock import Clock
from dialer.console_web import auth
from dialer.console_web.bridge import add_bridge_routes
from dialer.console_web.i18n import Translator, choose
from dialer.coverage import coverage
from dialer.errors import DialerError, NotFoundError, TelephonyError
from dialer.models import Agent
from dialer.store import Store

COOKIE = "dialer_console"
PRE_CSRF = "dialer_console_csrf"  # the sign-in form's double-submit token (before a session)

MAX_ID = 2**31 - 1  # the largest id every engine's INTEGER column holds (32 bits on PostgreSQL)
# A task or case id in a path: anything else (text, 0, negative, past 32 bits) is the console's
# own 404 page (`_refused`), never a database error.
Id = Annotated[int, PathParam(gt=0, le=MAX_ID)]

ClickToCall = Callable[[str, str, int], None]
"""Ring the agent's phone, then bridge to the customer: (agent phone, customer number, attempt)."""


@dataclass
class _Ctx:
    """One request's signed-in agent, translator and CSP nonce."""

    me: work.Actor | None
    csrf: str
    t: Translator
    nonce: str
    root: str


def _duration(td: timedelta) -> str:
    minutes = max(0, int(td.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def _local(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


class ConsoleApp:
    """The console's pages around one store and clock."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        company: str = "",
        click_to_call: ClickToCall | None = None,
        secure_cookies: bool = False,
    ) -> None:
        self.store, self.clock, self.company = store, clock, company
        self.click_to_call = click_to_call
        self.secure = secure_cookies
        self.book = CampaignBook()
        self.env = Environment(
            loader=PackageLoader("dialer.console_web", "templates"),
            autoescape=select_autoescape(["j2", "html"]),
        )
        self.env.globals.update(duration=_duration, local=_local, pct=_pct)

    # -- plumbing

    def ctx(self, session: Session, request: Request) -> tuple[_Ctx, auth.Current | None]:
        current = auth.current(session, self.clock, request.cookies.get(COOKIE))
        langs = current.agent.languages if current else ()
        t = Translator(choose(langs or (), request.headers.get("accept-language")))
        me = work.Actor.of(current.agent) if current else None
        root = request.scope.get("root_path", "")
        return _Ctx(
            me, current.csrf_token if current else "", t, secrets.token_urlsafe(16), root
        ), current

    def render(self, rc: _Ctx, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            t=rc.t,
            me=rc.me,
            csrf=rc.csrf,
            nonce=rc.nonce,
            root=rc.root,
            now=self.clock.now(),
            **values,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'nonce-{rc.nonce}'; script-src 'nonce-{rc.nonce}'; "
            "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def not_found(self, c: _Ctx) -> HTMLResponse:
        return self.render(c, "message.html.j2", 404, message=c.t("not_found"))

    def to_sign_in(self, c: _Ctx) -> RedirectResponse:
        return RedirectResponse(f"{c.root}/sign-in", status_code=303)

    def guarded(
        self,
        request: Request,
        csrf: str | None,
        handle: Callable[[Session, _Ctx], Response],
    ) -> Response:
        """Run `handle` for a signed-in agent in one transaction: sign-in page when signed out,
        403 on a bad CSRF token (POST), 404 for what the agent may not see."""
        c: _Ctx | None = None
        try:
            with self.store.transaction() as session:
                c, current = self.ctx(session, request)
                if current is None or c.me is None:
                    return self.to_sign_in(c)
                if request.method == "POST" and not auth.csrf_ok(current.csrf_token, csrf):
                    return self.render(c, "message.html.j2", 403, message=c.t("forbidden"))
                return handle(session, c)
        except NotFoundError:  # rolled back: nothing the agent may not see was touched
            assert c is not None
            return self.not_found(c)
        except DialerError as exc:
            assert c is not None
            return self.render(c, "message.html.j2", 400, message=c.t("error", message=exc))
        except (DataError, OverflowError, ValueError):  # a value no column can hold (NUL, huge)
            assert c is not None
            return self.render(c, "message.html.j2", 400, message=c.t("bad_value"))

    def refused(self, request: Request, exc: RequestValidationError) -> HTMLResponse:
        """A path, query or form value of the wrong kind, as the console's own page: 404 for an
        address naming nothing (`/tasks/abc`), 422 for a form or query value."""
        t = Translator(choose((), request.headers.get("accept-language")))
        c = _Ctx(None, "", t, secrets.token_urlsafe(16), request.scope.get("root_path", ""))
        if any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
            return self.not_found(c)
        return self.render(c, "message.html.j2", 422, message=t("bad_value"))

    def cookie(self, response: Response, name: str, value: str, root: str, max_age: int) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path=root or "/", httponly=True,
            samesite="strict", secure=self.secure,
        )  # fmt: skip

    # -- pages

    def call_page(
        self, session: Session, c: _Ctx, task_id: int, *, flash: str | None = None,
        error: bool = False, status: int = 200, ringing: bool = False,
    ) -> HTMLResponse:  # fmt: skip
        assert c.me is not None
        screen = work.call_screen(session, self.book, self.clock, c.me, task_id, self.company)
        return self.render(
            c, "call.html.j2", status, c=screen, outcomes=work.RECORDABLE, flash=flash,
            flash_error=error, ringing=ringing and self.click_to_call is not None,
        )  # fmt: skip

    def supervisor_page(
        self, session: Session, c: _Ctx, flash: str | None = None, error: bool = False
    ) -> HTMLResponse:
        assert c.me is not None
        now = self.clock.now()
        loads = supervision.loads(session, c.me, now)
        complaints = supervision.open_complaints(session, c.me, now)
        report = coverage(session, self.book, now)
        return self.render(
            c, "supervisor.html.j2", loads=loads, complaints=complaints,
            coverage=report.campaigns, flash=flash, flash_error=error,
        )  # fmt: skip


def create_console_app(
    store: Store,
    clock: Clock,
    *,
    company: str = "",
    click_to_call: ClickToCall | None = None,
    secure_cookies: bool = False,
    auth_token: str | None = None,
    public_base_url: str | None = None,
    senders: Mapping[str, str] | None = None,
) -> FastAPI:
    """The console as its own ASGI app, to mount at /console (`app.mount("/console", ...)`).
    With `auth_token`, Twilio's side of click-to-call is served too (`bridge`)."""
    con = ConsoleApp(
        store, clock, company=company, click_to_call=click_to_call, secure_cookies=secure_cookies
    )
    app = FastAPI(title="dialer console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = con

    @app.exception_handler(RequestValidationError)
    async def refused(request: Request, exc: RequestValidationError) -> HTMLResponse:
        return con.refused(request, exc)

    if auth_token is not None:
        add_bridge_routes(app, store, auth_token, public_base_url, senders or {})

    @app.get("/sign-in")
    def sign_in_form(request: Request) -> Response:
        with store.transaction() as session:
            c, current = con.ctx(session, request)
        if current is not None:
            return RedirectResponse(f"{c.root}/", status_code=303)
        token = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(32)
        c.csrf = token
        response = con.render(c, "sign_in.html.j2")
        con.cookie(response, PRE_CSRF, token, c.root, 3600)
        return response

    @app.post("/sign-in")
    def sign_in(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        with store.transaction() as session:
            c, _ = con.ctx(session, request)
            c.csrf = request.cookies.get(PRE_CSRF) or secrets.token_urlsafe(32)
            if not auth.csrf_ok(request.cookies.get(PRE_CSRF) or "", csrf):
                return con.render(c, "message.html.j2", 403, message=c.t("forbidden"))
            address = request.client.host if request.client else "?"
            result = auth.sign_in(session, clock, username, password, address)
        if isinstance(result, auth.SignInThrottled):
            minutes = max(1, int(result.retry_after.total_seconds() + 59) // 60)
            response = con.render(c, "sign_in.html.j2", 429, flash=c.t("throttled", minutes=minutes),
                                  flash_error=True, username=username)  # fmt: skip
            response.headers["Retry-After"] = str(int(result.retry_after.total_seconds()) + 1)
            return response
        if isinstance(result, auth.SignInError):
            return con.render(c, "sign_in.html.j2", 401, flash=c.t("bad_sign_in"),
                              flash_error=True, username=username)  # fmt: skip
        done = RedirectResponse(f"{c.root}/", status_code=303)
        con.cookie(done, COOKIE, result.token, c.root, int(auth.LIFETIME.total_seconds()))
        done.delete_cookie(PRE_CSRF, path=c.root or "/")
        return done

    @app.post("/sign-out")
    def sign_out(request: Request, csrf: str = Form("")) -> Response:
        def handle(session: Session, c: _Ctx) -> Response:
            auth.sign_out(session, clock, request.cookies.get(COOKIE))
            response = RedirectResponse(f"{c.root}/sign-in", status_code=303)
            response.delete_cookie(COOKIE, path=c.root or "/")
            return response

        return con.guarded(request, csrf, handle)

    @app.get("/")
    def my_calls(request: Request, agent: str | None = None) -> Response:
        def handle(session: Session, c: _Ctx) -> Response:
            assert c.me is not None
            items = agent_queue.queue(session, con.book, c.me, clock.now(), agent=agent)
            mine = agent in (None, c.me.username)
            heading = c.t("my_calls") if mine else c.t("calls_of", agent=agent)
            return con.render(c, "queue.html.j2", items=items, heading=heading)

        return con.guarded(request, None, handle)

    @app.get("/tasks/{task_id}")
    def task_page(request: Request, task_id: Id, done: int = 0) -> Response:
        def handle(session: Session, c: _Ctx) -> Response:
            if done:
                return _recorded(con, session, c, task_id)
            return con.call_page(session, c, task_id)

        return con.guarded(request, None, handle)

    @app.post("/tasks/{task_id}/call")
    def start_call(request: Request, task_id: Id, csrf: str = Form("")) -> Response:
        started: list[work.CallStart] = []

        def handle(session: Session, c: _Ctx) -> Response:
            assert c.me is not None
            call = work.start_call(session, con.book, clock, c.me, task_id)
            if call.decision.verdict != "go":
                reason = c.t.reason(call.decision.reason)
                if call.decision.until is not None:
                    task = work.visible_task(session, c.me, task_id)
                    zone = work.task_zone(session, con.book, task)
                    reason += " · " + c.t("opens_at", at=_local(call.decision.until, zone))
                return con.call_page(session, c, task_id, status=409, error=True,
                                     flash=c.t("call_refused", reason=reason))  # fmt: skip
            started.append(call)
            return RedirectResponse(f"{c.root}/tasks/{task_id}", status_code=303)

        response = con.guarded(request, csrf, handle)
        call = started[0] if started else None
        if call is None or con.click_to_call is None or not call.agent_phone:
            return response  # refused, or manual dialling: the page shows the number
        assert call.number is not None and call.attempt_id is not None
        flash: str | None = None
        try:  # after the commit: Twilio asks for the bridge as soon as the agent answers
            con.click_to_call(call.agent_phone, call.number, call.attempt_id)
        except TelephonyError as exc:
            flash = str(exc)
        return con.guarded(
            request, None,
            lambda session, c: con.call_page(session, c, task_id, ringing=flash is None,
                                             flash=flash, error=flash is not None),
        )  # fmt: skip

    @app.post("/tasks/{task_id}/end")
    def end_call(
        request: Request, task_id: Id, csrf: str = Form(""), result: str = Form("")
    ) -> Response:
        def handle(session: Session, c: _Ctx) -> Response:
            assert c.me is not None
            work.end_call(session, con.book, clock, c.me, task_id, result)
            return RedirectResponse(f"{c.root}/", status_code=303)

        return con.guarded(request, csrf, handle)

    @app.post("/tasks/{task_id}/outcome")
    def outcome(
        request: Request,
        task_id: Id,
        csrf: str = Form(""),
        outcome: str = Form(""),
        reason: str = Form(""),
        note: str = Form(""),
        callback_at: str = Form(""),
    ) -> Response:
        def handle(session: Session, c: _Ctx) -> Response:
            assert c.me is not None
            work.record(
                session, con.book, clock, c.me, task_id, outcome, reason=reason, note=note,
                callback_at=callback_at if outcome == "callback_requested" else None,
            )  # fmt: skip
            return RedirectResponse(f"{c.root}/tasks/{task_id}?done=1", status_code=303)

        return con.guarded(request, csrf, handle)

    @app.get("/cases/{case_id}")
    def case_page(request: Request, case_id: Id) -> Response:
        def handle(session: Session, c: _Ctx) -> Response:
            assert c.me is not None
            case = supervision.visible_case(session, clock, c.me, case_id)
            return con.render(c, "case.html.j2", case=case)

        return con.guarded(request, None, handle)

    @app.get("/supervisor")
    def supervisor_page(request: Request) -> Response:
        return con.guarded(request, None, lambda session, c: con.supervisor_page(session, c))

    @app.post("/supervisor/reassign")
    def reassign(
        request: Request, csrf: str = Form(""), task: str = Form(""), agent: str = Form("")
    ) -> Response:
        def handle(session: Session, c: _Ctx) -> Response:
            assert c.me is not None
            supervision.require_supervisor(c.me, "such page")
            number = task.strip()
            if not (number.isascii() and number.isdigit() and 0 < int(number) <= MAX_ID):
                raise NotFoundError(f"there is no task {task!r}")
            moved: Agent = supervision.reassign(session, clock, c.me, int(number), agent)
            flash = c.t("reassigned", task=int(number), agent=moved.username)
            return con.supervisor_page(session, c, flash=flash)

        return con.guarded(request, csrf, handle)

    return app


def _recorded(con: ConsoleApp, session: Session, c: _Ctx, task_id: int) -> HTMLResponse:
    """The call screen after an outcome, saying what was recorded (and the case or appointment)."""
    assert c.me is not None
    screen = work.call_screen(session, con.book, con.clock, c.me, task_id, con.company)
    flash = None
    if screen.outcome is not None:
        if screen.task.appointment_at is not None and screen.outcome.name == "callback_requested":
            flash = c.t("recorded_callback", at=_local(screen.task.appointment_at, screen.zone.key))
        else:
            flash = c.t("recorded", outcome=c.t(screen.outcome.name))
    return con.render(c, "call.html.j2", c=screen, outcomes=work.RECORDABLE, flash=flash)
