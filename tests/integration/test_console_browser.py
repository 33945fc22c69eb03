"""The agent console in a real browser: Debian's Chromium, headless, driven by Playwright.

alice signs in on a phone-sized screen, opens her first call, starts it (the number appears),
walks the unsatisfied branch of the script, records a reason; on her next call she records a
callback time in the customer's local time; the supervisor sees both in the coverage and the
complaint in the list; bob cannot open alice's task. No request leaves the machine. Screenshots
of the main pages go to tests/artifacts/. Skipped locally without Chromium or Playwright; in CI
(CI=true) that is a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chromium import browser
from console_seeding import NUMBERS, PASSWORD, Seeded, seed_console
from fastapi import FastAPI
from sqlalchemy.orm import Session

from dialer.clock import SettableClock
from dialer.console_web import mount_console
from dialer.models import CallbackTask
from dialer.serving import AppServer
from dialer.store import Store

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
PHONE = {"width": 390, "height": 844}

__all__ = ["browser"]  # the shared Chromium fixture (tests/chromium.py)


@dataclass
class Console:
    url: str
    seeded: Seeded
    foreign: list[str]


def _served(
    tmp_path: Path, change: Callable[[Session, SettableClock, Seeded], None] | None = None
) -> Iterator[Console]:
    """The seeded console on a fresh SQLite file, served on loopback; `change` edits the
    seeded rows first (one transaction)."""
    store = Store.open(f"sqlite:///{tmp_path / 'dialer.db'}")
    clock = SettableClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # Monday 10:00 in Taipei
    seeded = seed_console(store, clock, passwords=True)
    if change is not None:
        with store.transaction() as s:
            change(s, clock, seeded)
    parent = FastAPI()
    mount_console(parent, store, clock, company="測試汽車")
    with AppServer(parent) as server:
        yield Console(f"{server.base_url}/console", seeded, [])
    store.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    yield from _served(tmp_path)


def _page(browser: Any, console: Console, **options: Any) -> Any:
    context = browser.new_context(**options)

    def route(r: Any) -> None:
        if r.request.url.startswith(console.url):
            r.continue_()
        else:
            console.foreign.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context.new_page()


def _sign_in(page: Any, console: Console, username: str) -> None:
    page.goto(f"{console.url}/")
    assert page.url.endswith("/console/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{console.url}/")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


@pytest.mark.slow
def test_an_agent_works_her_queue_and_the_supervisor_sees_it(
    browser: Any, console: Console
) -> None:
    first, second, _ = console.seeded.alice
    alice = _page(browser, console, viewport=PHONE, locale="zh-TW", is_mobile=True)
    _sign_in(alice, console, "alice")
    rows = alice.locator("#queue tbody tr")
    assert rows.count() == 3 and rows.first.get_attribute("data-task") == str(first)
    assert "現在可撥" in rows.first.inner_text()
    assert alice.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(alice, "my-calls")

    rows.first.locator("a").click()
    alice.wait_for_url(f"{console.url}/tasks/{first}")
    card = alice.locator("#customer-card").inner_text()
    assert "客戶0" in alice.locator("h1").inner_text()
    assert "Asia/Taipei" in card and "9•••••670" in card and NUMBERS[0] not in card
    assert "定期保養" in alice.locator("#script").inner_text()
    alice.click("#start-call")
    alice.wait_for_selector("#call")
    assert NUMBERS[0] in alice.locator("#phone").inner_text()  # revealed once the call starts
    unsatisfied = alice.locator('.branch[data-branch="unsatisfied"]')
    assert not unsatisfied.is_visible()
    alice.click('button.answer[data-answer="unsatisfied"]')
    assert unsatisfied.is_visible()
    assert not alice.locator('.branch[data-branch="satisfied"]').is_visible()
    branches = console.seeded.spec.scripts["zh-TW"].branches
    assert branches is not None and branches.unsatisfied.follow_up[:8] in unsatisfied.inner_text()
    alice.select_option("#reason", "等候時間")
    alice.fill("#note", "等了兩個小時")
    _shot(alice, "call-screen")
    alice.click("#outcome-unsatisfied")
    alice.wait_for_selector("#done")
    assert "已記錄：不滿意" in alice.locator(".flash").inner_text()

    alice.click("#done a")  # next call
    alice.wait_for_url(f"{console.url}/")
    assert alice.locator("#queue tbody tr").first.get_attribute("data-task") == str(second)
    alice.goto(f"{console.url}/tasks/{second}")
    alice.click("#start-call")
    alice.wait_for_selector("#outcome")
    alice.fill("#callback_at", "2026-11-23T19:00")  # the customer's local time
    alice.click("#outcome-callback_requested")
    alice.wait_for_selector(".flash")
    assert "已記錄：11-23 19:00 回電" in alice.locator(".flash").inner_text()
    alice.goto(f"{console.url}/")
    last = alice.locator("#queue tbody tr").last
    assert last.get_attribute("data-task") == str(second) and "11-23 19:00" in last.inner_text()

    sue = _page(browser, console, viewport={"width": 1200, "height": 900}, locale="en-US")
    _sign_in(sue, console, "sue")
    sue.click("header >> text=Supervisor")
    sue.wait_for_url(f"{console.url}/supervisor")
    coverage = sue.locator("#coverage")
    assert coverage.locator('tr[data-state="in_time"] td.m').inner_text() == "2"
    assert coverage.locator('tr[data-state="pending"] td.m').inner_text() == "3"
    assert coverage.locator(".member-coverage").inner_text() == "100%"  # 2 ÷ 2 decided
    headline = coverage.locator(".headline").inner_text()
    assert "Reached in time 2 of 5 members (40%) · pending 3" in headline
    assert headline.endswith("on track") and "goal met" not in coverage.inner_text()
    assert "等候時間" in sue.locator("#complaints").inner_text()
    row = sue.locator('#loads tr[data-agent="alice"]')
    assert row.locator("td.open").inner_text().startswith("2 ")  # the callback and the third
    assert row.locator("td.done").inner_text() == "2"
    _shot(sue, "supervisor")

    bob = _page(browser, console, viewport=PHONE, locale="ko-KR")
    _sign_in(bob, console, "bob")
    response = bob.goto(f"{console.url}/tasks/{first}")
    assert response.status == 404 and "찾을 수 없습니다" in bob.content()
    assert console.foreign == []


@pytest.fixture
def late_console(tmp_path: Path) -> Iterator[Console]:
    """alice's first task is one day past its deadline (a non-member)."""

    def late(s: Session, clock: SettableClock, seeded: Seeded) -> None:
        task = s.get_one(CallbackTask, seeded.alice[0])
        task.deadline = clock.now() - timedelta(days=1)
        task.member = False

    yield from _served(tmp_path, late)


@pytest.mark.slow
def test_an_overdue_task_is_shown_after_the_tasks_still_in_time(
    browser: Any, late_console: Console
) -> None:
    late, first, second = late_console.seeded.alice
    alice = _page(browser, late_console, viewport=PHONE, locale="zh-TW", is_mobile=True)
    _sign_in(alice, late_console, "alice")
    tasks = alice.locator("#queue tbody tr[data-task]")
    assert [tasks.nth(i).get_attribute("data-task") for i in range(3)] == [
        str(first),
        str(second),
        str(late),
    ]
    assert "1 筆已過期限" in alice.locator("#overdue-count").inner_text()
    divider = alice.locator("#past-deadline")
    assert "計為逾期回訪" in divider.inner_text()
    # The divider stands right before the overdue task, which says by how much it is late.
    rows = alice.locator("#queue tbody tr")
    assert rows.nth(2).get_attribute("id") == "past-deadline"
    overdue = alice.locator(f'tr[data-task="{late}"]')
    assert overdue.get_attribute("class") == "overdue"
    assert "已逾期 1 d 0 h" in overdue.inner_text()
    assert alice.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(alice, "my-calls-overdue")
    sue = _page(browser, late_console, viewport={"width": 1200, "height": 900}, locale="en-US")
    _sign_in(sue, late_console, "sue")
    sue.goto(f"{late_console.url}/supervisor")
    alice_row = sue.locator("#loads tbody tr", has_text="alice")
    assert alice_row.locator(".overdue").inner_text() == "1 past the deadline"
    assert sue.locator("#loads tbody tr", has_text="bob").locator(".overdue").count() == 0
    assert not late_console.foreign


@pytest.fixture
def missed_console(tmp_path: Path) -> Iterator[Console]:
    """alice's and bob's second tasks are appointments agreed for 07:00 Taipei, three hours
    before now (10:00): missed, the customer waiting."""

    def missed(s: Session, clock: SettableClock, seeded: Seeded) -> None:
        for tid in (seeded.alice[1], seeded.bob[1]):
            s.get_one(CallbackTask, tid).appointment_at = clock.now() - timedelta(hours=3)

    yield from _served(tmp_path, missed)


@pytest.mark.slow
def test_a_missed_appointment_is_marked_overdue_and_listed_first(
    browser: Any, missed_console: Console
) -> None:
    """In each console language: the count in the heading, a line above the missed appointment,
    its row marked overdue with the time since the agreed 07:00, and first in the queue."""
    a0, a1, a2 = missed_console.seeded.alice
    b0, b1 = missed_console.seeded.bob
    cases = (
        ("alice", "zh-TW", "", [a1, a0, a2], "1 筆預約已逾時", "客戶正在等候", "已過約定時間 3 h 0 min"),
        ("bob", "ko-KR", "", [b1, b0], "예약 시간 지남 1건", "고객이 기다리고", "약속 시간 3 h 0 min 지남"),
        ("sue", "en-US", "?agent=alice", [a1, a0, a2], "1 appointment(s) overdue",
         "the customer is waiting", "3 h 0 min past the agreed time"),
    )  # fmt: skip
    for who, locale, query, order, count, divider, mark in cases:
        page = _page(browser, missed_console, viewport=PHONE, locale=locale, is_mobile=True)
        _sign_in(page, missed_console, who)
        page.goto(f"{missed_console.url}/{query}")
        tasks = page.locator("#queue tbody tr[data-task]")
        assert [tasks.nth(i).get_attribute("data-task") for i in range(len(order))] == [
            str(t) for t in order
        ]
        assert count in page.locator("#missed-count").inner_text()
        assert page.locator("#overdue-count").count() == 0  # no deadline has passed
        rows = page.locator("#queue tbody tr")
        assert rows.nth(0).get_attribute("id") == "missed-appointments"
        assert divider in rows.nth(0).inner_text()
        missed = page.locator(f'tr[data-task="{order[0]}"]')
        assert missed.get_attribute("class") == "overdue"
        assert mark in missed.inner_text() and "11-23 07:00" in missed.inner_text()
        assert page.locator("tr.overdue").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        _shot(page, f"my-calls-missed-appointment-{locale}")
    sue = _page(browser, missed_console, viewport={"width": 1200, "height": 900}, locale="en-US")
    _sign_in(sue, missed_console, "sue")
    sue.goto(f"{missed_console.url}/supervisor")
    for agent in ("alice", "bob"):  # each agent's load says how many customers wait
        load = sue.locator(f'#loads tr[data-agent="{agent}"] td.open').inner_text()
        assert "1 appointment(s) overdue" in load and "past the deadline" not in load
    assert not missed_console.foreign
