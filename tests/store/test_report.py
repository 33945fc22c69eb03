"""The summary report's figures against the hand-computed campaign of `report_seeding`, on
both engines; and the HTML it renders (escaped, aggregates only, self-contained)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from html import unescape

import pytest
from report_seeding import EVIL_REASON, NOW, SLUG, H, seed_report
from seeding import SHIPPED_CAMPAIGNS, seed
from sqlalchemy import update

from dialer.attempts import CampaignBook
from dialer.campaign_files import load_campaign
from dialer.clock import SettableClock
from dialer.errors import NotFoundError
from dialer.models import CallbackTask
from dialer.report import AgentRow, build_report, curve_instants
from dialer.report_html import render_html
from dialer.store import Store


def test_figures_match_the_hand_computed_campaign(store: Store, clock: SettableClock) -> None:
    seed_report(store, clock)
    with store.sessions() as s:
        r = build_report(s, CampaignBook(), clock.now(), SLUG)
    assert r.at == NOW + 24 * H and not r.history
    assert r.time_zone == "Asia/Taipei"
    u = r.list_use
    assert (u.tasks, u.tried, u.reached, u.notified_only, u.exhausted, u.not_contactable) == (
        6,
        5,
        4,
        1,
        1,
        1,
    )
    assert u.attempts == 9 and u.attempts_per_reach == pytest.approx(2.25)
    assert r.attempts_by_channel == Counter({"voice": 8, "sms": 1})
    assert r.reached_by_channel == Counter({"voice": 4})
    assert r.outcomes == Counter(
        satisfied=1, average=1, unsatisfied=1, refused=1, not_reached=1, not_contactable=1
    )
    for name in ("satisfied", "average", "unsatisfied"):
        assert r.share(name) == pytest.approx(1 / 3)
    assert r.reasons["unsatisfied"] == Counter({"waiting time": 1})
    assert r.reasons["average"] == Counter({"price": 1})
    assert r.reasons["refused"] == Counter({"busy": 1})
    assert r.complaints.total == 1 and r.complaints.by_reason == Counter({"waiting time": 1})
    assert r.complaints.by_state == Counter({"open": 1})
    assert r.target.member_coverage == pytest.approx(0.8)
    assert r.target.members["in_time"] == 4 and r.target.members["at_risk"] == 1
    assert r.agents == [
        AgentRow("Bob", 2, 2, 2, 45.0, 0, 1, 0),
        AgentRow("王小明", 2, 2, 2, 150.0, 1, 0, 1),
    ]
    assert r.agents[0].satisfaction == 0.0 and r.agents[1].satisfaction == 0.5
    assert [p.at for p in r.curve] == [NOW + k * 6 * H for k in range(5)]
    assert [p.progress for p in r.curve] == [0.0, *[pytest.approx(4 / 6)] * 4]
    assert r.curve[-1].coverage == pytest.approx(0.8)
    assert r.last_deadline == NOW + 72 * H and r.first_task_at == NOW


def test_history_shows_the_report_as_it_stood(store: Store, clock: SettableClock) -> None:
    seed_report(store, clock)
    with store.sessions() as s:
        r = build_report(s, CampaignBook(), clock.now(), SLUG, at=NOW + 90 * 60 * (H / 3600))
    assert r.history
    assert r.list_use.reached == 1 and r.list_use.tried == 5
    assert r.outcomes == Counter(satisfied=1)
    assert [p.at for p in r.curve] == [NOW, NOW + 90 * 60 * (H / 3600)]


def test_unknown_campaign_is_not_found(store: Store, clock: SettableClock) -> None:
    with store.sessions() as s, pytest.raises(NotFoundError):
        build_report(s, CampaignBook(), clock.now(), "nope")


def test_curve_steps() -> None:
    assert len(curve_instants(NOW, NOW + 24 * H)) == 5
    assert len(curve_instants(NOW, NOW + 25 * H)) == 6  # 0..24 h, then the end
    assert curve_instants(NOW, NOW)[-1] == NOW
    long = curve_instants(NOW, NOW + 400 * 24 * H)
    assert len(long) <= 121 and long[-1] == NOW + 400 * 24 * H


def test_html_is_escaped_self_contained_and_has_no_customer_data(
    store: Store, clock: SettableClock
) -> None:
    seed_report(store, clock, evil=True)
    with store.sessions() as s:
        r = build_report(s, CampaignBook(), clock.now(), SLUG)
    r.agents[0] = AgentRow("<script>alert(1)</script>", 1, 1, 1, 1.0, 0, 0, 0)
    html = render_html(r)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "http://evil.example" not in html or "&#34;http://evil.example&#34;" in html
    assert "+8869" not in html and not any(f"客戶{i}" in html for i in range(6))
    assert "src=" not in html and "href=" not in html and "<link" not in html
    assert 'id="coverage-curve"' in html and 'id="outcome-chart"' in html
    assert "80.0%" in html
    assert EVIL_REASON.split("(")[0].lstrip("=") in html


def _page_text(html: str) -> str:
    """What a person reads: tags dropped, white space folded."""
    body = html.split("<body>", 1)[1]
    return " ".join(unescape(re.sub(r"<[^>]+>", "", body)).split())


def test_three_of_thirteen_reached_is_not_goal_met(store: Store, clock: SettableClock) -> None:
    """Issue 19: 3 of 13 members reached, the rest pending (2 days left, ample slack). The ratio
    reached in time ÷ decided is 100%; the headline says 3 of 13 and "on track" in the "on track"
    colour, never "goal met" in green."""
    spec = load_campaign(SHIPPED_CAMPAIGNS / "after-service-satisfaction.toml")
    ids = seed(store, clock, spec, n=13)
    now = clock.now()
    with store.transaction() as s:
        s.execute(
            update(CallbackTask)
            .where(CallbackTask.id.in_(ids))
            .values(deadline=now + timedelta(days=2), slack_seconds=80_000)
        )
        s.execute(
            update(CallbackTask)
            .where(CallbackTask.id.in_(ids[:3]))
            .values(state="reached", reached_at=now, outcome="satisfied")
        )
    with store.sessions() as s:
        r = build_report(s, CampaignBook(), now, spec.slug)
    text = _page_text(render_html(r))
    assert (
        "Reached in time 3 of 13 members (23.1%) · pending 10 · at risk 0 · breached 0 — on track"
    ) in text
    assert "Member coverage (reached in time ÷ decided): 3 ÷ 3 = 100.0%, against the goal" in text
    assert "goal met" not in text
    html = render_html(r)
    assert 'class="ok" id="verdict" data-verdict="on_track"' in html
    rows = {(m, k): v for sec, m, k, v in r.rows() if sec == "target"}
    assert rows[("verdict", "")] == "on_track" and rows[("goal_met", "")] is False
    assert rows[("members", "total")] == 13 and rows[("reached_in_time_share", "")] == 3 / 13
