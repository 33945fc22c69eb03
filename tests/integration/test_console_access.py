"""Who may see what in the console, over real HTTP: every route is listed here, so a new route
without an authorisation test fails. Signed out: the sign-in page. Another agent's task, queue,
case, or a supervisor page for an agent: 404, exactly like a missing one. A form without the
session's CSRF token: 403. Plus sign-in (rate limit, CSRF), the agent's language, the headers,
and a whole call without a phone number in any log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from console_seeding import NUMBERS, PASSWORD, Seeded, seed_console
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select

from dialer import agent_work as work
from dialer.attempts import CampaignBook
from dialer.clock import SettableClock
from dialer.console_web import create_console_app, mount_console
from dialer.coverage import coverage
from dialer.models import SignInFailure
from dialer.serving import AppServer
from dialer.store import Store

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    base: str
    store: Store
    clock: SettableClock
    seeded: Seeded
    case_id: int
    clients: dict[str, httpx.Client]
    csrf: dict[str, str]


def _client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, follow_redirects=False, timeout=30)


def sign_in(base: str, username: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    client = _client(base)
    form = client.get("/console/sign-in")
    token = CSRF.search(form.text)
    assert token is not None
    r = client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "csrf": token.group(1)},
    )
    assert r.status_code == 303, r.text
    page = client.get("/console/")
    found = CSRF.search(page.text)
    assert found is not None
    return client, found.group(1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder: Path = tmp_path_factory.mktemp("console")
    store = Store.open(f"sqlite:///{folder / 'dialer.db'}")
    clock = SettableClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    seeded = seed_console(store, clock, passwords=True)
    with store.transaction() as s:  # a complaint on alice's third task, for the case page
        alice, book = work.actor_named(s, "alice"), CampaignBook()
        work.start_call(s, book, clock, alice, seeded.alice[2])
        case_id = work.record(s, book, clock, alice, seeded.alice[2], "unsatisfied").case_id
    assert case_id is not None
    parent = FastAPI()
    mount_console(parent, store, clock, company="測試汽車", auth_token="twilio-auth-token")
    with AppServer(parent) as server:
        clients, csrf = {}, {}
        for name in ("alice", "bob", "sue"):
            clients[name], csrf[name] = sign_in(server.base_url, name)
        yield Site(server.base_url, store, clock, seeded, case_id, clients, csrf)
        for c in clients.values():
            c.close()
    store.close()


# (method, path) -> the request for one of alice's resources: (path, form fields)
Request = Callable[[Site], tuple[str, dict[str, str]]]
ALICE_TASK = "/console/tasks/{}"
ROUTES: dict[tuple[str, str], Request | None] = {
    ("GET", "/sign-in"): None,  # public
    ("POST", "/sign-in"): None,  # public
    ("POST", "/sign-out"): lambda s: ("/console/sign-out", {}),
    ("GET", "/"): lambda s: ("/console/?agent=alice", {}),
    ("GET", "/tasks/{task_id}"): lambda s: (ALICE_TASK.format(s.seeded.alice[0]), {}),
    ("POST", "/tasks/{task_id}/call"): lambda s: (
        ALICE_TASK.format(s.seeded.alice[0]) + "/call",
        {},
    ),
    ("POST", "/tasks/{task_id}/end"): lambda s: (
        ALICE_TASK.format(s.seeded.alice[0]) + "/end",
        {"result": "no_answer"},
    ),
    ("POST", "/tasks/{task_id}/outcome"): lambda s: (
        ALICE_TASK.format(s.seeded.alice[0]) + "/outcome",
        {"outcome": "satisfied"},
    ),
    ("GET", "/cases/{case_id}"): lambda s: (f"/console/cases/{s.case_id}", {}),
    ("GET", "/supervisor"): lambda s: ("/console/supervisor", {}),
    ("POST", "/supervisor/reassign"): lambda s: (
        "/console/supervisor/reassign",
        {"task": str(s.seeded.alice[0]), "agent": "bob"},
    ),
}
# Twilio's side of click-to-call: no session, but Twilio's signature (403 without it)
TWILIO = {
    ("POST", "/twilio/bridge/{attempt_id}"): "/console/twilio/bridge/1",
    ("POST", "/twilio/bridge/{attempt_id}/done"): "/console/twilio/bridge/1/done",
    ("POST", "/twilio/bridge/{attempt_id}/status"): "/console/twilio/bridge/1/status",
}
PROTECTED = [k for k, v in ROUTES.items() if v is not None]
NOT_OWNED = [k for k in PROTECTED if k != ("POST", "/sign-out")]  # sign-out is everyone's own


def _routes() -> set[tuple[str, str]]:
    app = create_console_app(
        Store.__new__(Store), SettableClock(datetime(2026, 1, 1, tzinfo=UTC)), auth_token="x"
    )
    return {
        (method, r.path)
        for r in app.routes
        if isinstance(r, APIRoute)
        for method in r.methods
        if method != "HEAD"
    }


def test_every_console_route_has_an_authorisation_test() -> None:
    assert _routes() == set(ROUTES) | set(TWILIO)


@pytest.mark.parametrize("path", TWILIO.values())
def test_twilios_routes_need_twilios_signature(site: Site, path: str) -> None:
    form = {"CallSid": "CA" + "0" * 32, "csrf": site.csrf["sue"]}
    with _client(site.base) as anonymous:
        for client in (site.clients["sue"], anonymous):
            assert client.post(path, data=form).status_code == 403


def _send(client: httpx.Client, method: str, path: str, form: dict[str, str]) -> httpx.Response:
    return client.request(method, path, data=form if method == "POST" else None)


@pytest.mark.parametrize(("method", "route"), PROTECTED, ids=lambda v: str(v))
def test_signed_out_requests_go_to_the_sign_in_page(site: Site, method: str, route: str) -> None:
    request = ROUTES[(method, route)]
    assert request is not None
    path, form = request(site)
    with _client(site.base) as anonymous:
        r = _send(anonymous, method, path, {**form, "csrf": site.csrf["alice"]})
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"


@pytest.mark.parametrize(("method", "route"), NOT_OWNED, ids=lambda v: str(v))
def test_another_agent_gets_404_for_alices_things_and_supervisor_pages(
    site: Site, method: str, route: str
) -> None:
    request = ROUTES[(method, route)]
    assert request is not None
    path, form = request(site)
    r = _send(site.clients["bob"], method, path, {**form, "csrf": site.csrf["bob"]})
    assert r.status_code == 404, r.text
    assert "找不到" not in r.text and "찾을 수 없습니다" in r.text  # bob reads Korean


@pytest.mark.parametrize(
    ("method", "route"), [k for k in PROTECTED if k[0] == "POST"], ids=lambda v: str(v)
)
def test_every_form_needs_the_sessions_csrf_token(site: Site, method: str, route: str) -> None:
    request = ROUTES[(method, route)]
    assert request is not None
    path, form = request(site)
    for token in ("", site.csrf["alice"]):  # missing, or another session's
        r = _send(site.clients["sue"], method, path, {**form, "csrf": token})
        assert r.status_code == 403, (path, token)


@pytest.mark.parametrize(
    ("method", "route"), [k for k in NOT_OWNED if k[0] == "GET"], ids=lambda v: str(v)
)
def test_the_supervisor_sees_every_page(site: Site, method: str, route: str) -> None:
    request = ROUTES[(method, route)]
    assert request is not None
    path, _ = request(site)
    r = site.clients["sue"].get(path)
    assert r.status_code == 200, r.text


def test_the_owner_sees_her_task_in_her_language_with_safe_headers(site: Site) -> None:
    r = site.clients["alice"].get(ALICE_TASK.format(site.seeded.alice[0]))
    assert r.status_code == 200
    assert "開始通話" in r.text and "定期保養" in r.text and "測試汽車" in r.text
    assert NUMBERS[0] not in r.text and "670" in r.text  # masked until the call starts
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp
    assert "http" not in r.text.split("<body>", 1)[1].replace("http-equiv", "")  # no CDN
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    bob = site.clients["bob"].get("/console/")
    assert "내 통화" in bob.text and str(site.seeded.bob[0]) in bob.text
    assert f"/tasks/{site.seeded.alice[0]}" not in bob.text


def test_the_gate_refuses_a_call_before_rest_hours_and_says_when_it_opens(site: Site) -> None:
    alice, token = site.clients["alice"], site.csrf["alice"]
    before = site.clock.now()
    site.clock.set(datetime(2026, 11, 23, 3, 58, tzinfo=UTC))  # 11:58 in Taipei: lunch rest soon
    try:
        r = alice.post(ALICE_TASK.format(site.seeded.alice[0]) + "/call", data={"csrf": token})
    finally:
        site.clock.set(before)
    assert r.status_code == 409
    assert "現在不能撥打" in r.text and "11-23 13:30 開始" in r.text  # after lunch rest, local
    assert NUMBERS[0] not in r.text


def test_sign_in_refuses_forged_forms_and_throttles_guessing(site: Site) -> None:
    with _client(site.base) as c:
        page = c.get("/console/sign-in", headers={"accept-language": "ko-KR,ko;q=0.9,en;q=0.5"})
        assert "로그인" in page.text
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        forged = c.post(
            "/console/sign-in", data={"username": "alice", "password": PASSWORD, "csrf": "x"}
        )
        assert forged.status_code == 403
        token = CSRF.search(page.text)
        assert token is not None
        # A forged X-Forwarded-For is not believed (no proxy is configured): every failure
        # counts against the real peer address, whatever address the header claims.
        form = {"username": "mallory", "password": "guess-guess-guess", "csrf": token.group(1)}
        codes = [
            c.post("/console/sign-in", data=form, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(3)
        ]
        assert [r.status_code for r in codes] == [401] * 3
        with site.store.sessions() as s:
            keys = set(s.scalars(select(SignInFailure.key)))
        assert keys == {"address:127.0.0.1"}
        # A known agent's failures slow her next tries down (even with the right password).
        form = {"username": "bob", "password": "guess-guess-guess", "csrf": token.group(1)}
        codes = [c.post("/console/sign-in", data=form) for _ in range(6)]
        assert [r.status_code for r in codes] == [401] * 5 + [429]
        assert 0 < int(codes[-1].headers["Retry-After"]) <= 16


def test_a_whole_call_over_http_leaves_no_phone_number_in_the_logs(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice, token = site.clients["alice"], site.csrf["alice"]
    task = ALICE_TASK.format(site.seeded.alice[1])
    started = alice.post(task + "/call", data={"csrf": token})
    assert started.status_code == 303  # manual dialling: the call screen shows the number
    in_call = alice.get(started.headers["location"])
    assert NUMBERS[1] in in_call.text and "請撥打此號碼" in in_call.text  # revealed: in the call
    done = alice.post(
        task + "/outcome",
        data={"csrf": token, "outcome": "callback_requested", "callback_at": "2026-11-23T19:00"},
    )
    assert done.status_code == 303
    page = alice.get(done.headers["location"])
    assert "已記錄：11-23 19:00 回電" in page.text
    assert not any(n in caplog.text for n in NUMBERS)


def test_the_supervisor_sees_the_headline_not_the_ratio_alone(site: Site) -> None:
    """Members still pending (the seeding's five, some reached by the tests before): the card
    says "reached in time X of N members" and "on track", the ratio reached in time ÷ decided
    (100% here) under its own label, never "goal met"."""
    with site.store.sessions() as s:
        (c,) = coverage(s, CampaignBook(), site.clock.now()).campaigns
    h = c.headline
    assert h.pending > 0 and h.in_time == h.decided > 0 and h.verdict == "on_track"
    r = site.clients["sue"].get("/console/supervisor")
    assert r.status_code == 200
    card = r.text.split('id="coverage"', 1)[1].split("</table>", 1)[0]
    text = " ".join(re.sub(r"<[^>]+>", "", card).split())
    share = f"{h.in_time / h.members * 100:.0f}%"
    assert (
        f"Reached in time {h.in_time} of {h.members} members ({share}) · pending {h.pending} · "
        f"at risk 0 · breached 0 — on track"
    ) in text
    assert (
        f"Member coverage (reached in time ÷ decided): {h.in_time} ÷ {h.decided} = 100% (goal 100%)"
    ) in text
    assert 'data-verdict="on_track"' in card and "goal met" not in text


ODD_IDS = ["abc", "1.5", "-1", "0", str(2**31), str(2**63), str(10**30), "%00"]


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_ids_get_the_consoles_own_404_page_never_a_500(site: Site, odd: str) -> None:
    sue = site.clients["sue"]  # the supervisor: every page is hers, so nothing hides the id
    token = site.csrf["sue"]
    answers = [
        sue.get(f"/console/tasks/{odd}"),
        sue.get(f"/console/cases/{odd}"),
        sue.post(f"/console/tasks/{odd}/call", data={"csrf": token}),
        sue.post(f"/console/tasks/{odd}/end", data={"csrf": token, "result": "busy"}),
        sue.post(f"/console/tasks/{odd}/outcome", data={"csrf": token, "outcome": "satisfied"}),
        sue.post("/console/supervisor/reassign", data={"csrf": token, "task": odd, "agent": "bob"}),
    ]
    for r in answers:
        assert r.status_code in (404, 422), (r.request.url, r.status_code, r.text[:200])
        assert "text/html" in r.headers["content-type"] and "<html" in r.text, r.text[:200]


def test_odd_values_get_the_consoles_own_page_never_a_500(site: Site) -> None:
    sue, token = site.clients["sue"], site.csrf["sue"]
    task = site.seeded.alice[0]
    answers = [
        sue.get(f"/console/tasks/{task}?done=yes"),
        sue.post(f"/console/tasks/{task}/outcome", data={"csrf": token, "outcome": "bogus"}),
        sue.post(f"/console/tasks/{task}/end", data={"csrf": token, "result": "bogus"}),
        sue.post(f"/console/tasks/{task}/outcome", data={"csrf": token, "outcome": "x" * 5000}),
        sue.get("/console/?agent=%00"),
        sue.get("/console/?agent=nobody-here"),
        sue.post(
            "/console/supervisor/reassign", data={"csrf": token, "task": str(task), "agent": "\x00"}
        ),
    ]
    for r in answers:
        assert r.status_code in (400, 404, 409, 422), (r.request.url, r.status_code, r.text[:200])
        assert "text/html" in r.headers["content-type"] and "<html" in r.text, r.text[:200]
