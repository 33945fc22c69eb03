"""The summary report renders: Chromium (Debian's, no browser download) opens the HTML file
offline and the charts are drawn with the hand-computed figures of `report_seeding`.

Skipped locally when Chromium or Playwright is missing; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chromium import browser
from report_seeding import SLUG, seed_report

from dialer.clock import SettableClock
from dialer.report_cli import ReportFormat, export_report
from dialer.report_html import BOTTOM, HEIGHT, TOP
from dialer.store import Store

__all__ = ["browser"]  # the shared Chromium fixture (tests/chromium.py)


def _box(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return dict(box)


@pytest.mark.slow
def test_the_html_report_opens_offline_with_its_charts_drawn(
    browser: Any, tmp_path: Path, store: Store, clock: SettableClock
) -> None:
    seed_report(store, clock)
    target = export_report(store, clock, "ops-tester", SLUG, ReportFormat.HTML, tmp_path / "r.html")
    page = browser.new_page()
    foreign: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith("file://"):
            r.continue_()
        else:
            foreign.append(url)
            r.abort()

    page.route("**/*", route)
    page.on(
        "request", lambda req: None if req.url.startswith("file://") else foreign.append(req.url)
    )
    page.goto(target.resolve().as_uri())
    page.wait_for_load_state("load")
    try:
        # The coverage curve: an SVG polyline with one point per 6 h step, goal and deadline lines.
        for sel in ("#coverage-chart", "#coverage-curve", "#outcome-chart", "#agent-table"):
            box = _box(page, sel)
            assert box["width"] > 0 and box["height"] > 0, sel
        for sel in ("#goal-line", "#deadline-line"):
            assert page.locator(sel).count() == 1, sel
        assert page.eval_on_selector("#coverage-curve", "e => e.points.numberOfItems") == 5
        ys = page.eval_on_selector("#coverage-curve", "e => Array.from(e.points).map(p => p.y)")
        inner = HEIGHT - TOP - BOTTOM
        assert ys[0] == pytest.approx(TOP + inner, abs=0.01)  # 0% at the first task
        assert ys[-1] == pytest.approx(TOP + inner * (1 - 4 / 6), abs=0.01)  # 4 of 6 members
        goal_y = float(page.get_attribute("#goal-line", "y1") or "nan")
        assert goal_y == pytest.approx(TOP)  # goal 100%
        # The outcome split: one bar per outcome recorded, each drawn.
        bars = page.locator("rect.outcome-bar")
        assert bars.count() == 6
        for i in range(6):
            b = bars.nth(i).bounding_box()
            assert b is not None and b["width"] > 0 and b["height"] > 0
        # The agent table and the figures, as computed by hand.
        rows = page.locator("#agent-table tr.agent-row")
        assert rows.count() == 2
        assert rows.nth(0).locator("td").all_inner_texts() == [
            "Bob", "2", "2", "2", "100.0%", "0:45", "0", "1", "0", "0.0%", "100.0%", "0.0%",
        ]  # fmt: skip
        assert rows.nth(1).locator("td").all_inner_texts() == [
            "王小明", "2", "2", "2", "100.0%", "2:30", "1", "0", "1", "50.0%", "0.0%", "50.0%",
        ]  # fmt: skip
        text = {
            sel: page.inner_text(sel)
            for sel in (
                "#member-coverage",
                "#goal",
                "#lu-tasks",
                "#lu-tried",
                "#lu-reached",
                "#lu-notified",
                "#lu-exhausted",
                "#lu-attempts",
                "#lu-per-reach",
                "#share-satisfied",
                "#refusal-refused",
                "#curve-last",
            )
        }
        assert text == {
            "#member-coverage": "80.0%",
            "#goal": "100.0%",
            "#lu-tasks": "6",
            "#lu-tried": "5",
            "#lu-reached": "4",
            "#lu-notified": "1",
            "#lu-exhausted": "1",
            "#lu-attempts": "9",
            "#lu-per-reach": "2.25",
            "#share-satisfied": "33.3%",
            "#refusal-refused": "1",
            "#curve-last": "66.7%",
        }
        assert page.locator("script").count() == 0
    finally:
        page.close()
    assert foreign == []
