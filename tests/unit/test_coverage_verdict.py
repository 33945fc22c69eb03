"""The one verdict every coverage screen shows (`dialer.coverage_verdict`), by hand-made counts."""

from __future__ import annotations

from collections import Counter

import pytest

from dialer.coverage_verdict import Headline, headline, headline_text, ratio_text


def h(goal: float = 1.0, **counts: int) -> Headline:
    return headline(Counter(counts), goal)


@pytest.mark.parametrize(
    ("counts", "goal", "verdict"),
    [
        ({}, 1.0, "no_members"),
        ({"in_time": 3, "pending": 10}, 1.0, "on_track"),  # issue 19: ratio 100%, 3 of 13
        ({"in_time": 13}, 1.0, "goal_met"),
        ({"in_time": 12, "late": 1}, 1.0, "missed"),
        ({"in_time": 12, "not_contactable": 1}, 1.0, "missed"),  # stays in the denominator
        ({"in_time": 3, "pending": 9, "at_risk": 1}, 1.0, "at_risk"),
        ({"in_time": 3, "pending": 9, "breached": 1}, 1.0, "missed"),
        # a 90% goal still within reach with one breach among twenty
        ({"in_time": 10, "pending": 9, "breached": 1}, 0.9, "on_track"),
        ({"in_time": 18, "breached": 2}, 0.9, "goal_met"),  # 18 of 20 = 90% exactly
        ({"in_time": 17, "pending": 1, "breached": 2}, 0.95, "missed"),  # at most 90%
        ({"pending": 5}, 1.0, "on_track"),  # nothing decided: not a goal met
    ],
)
def test_verdict(counts: dict[str, int], goal: float, verdict: str) -> None:
    assert h(goal, **counts).verdict == verdict


def test_the_issue_19_headline_and_ratio_read_as_people_read_them() -> None:
    got = h(in_time=3, pending=10)
    assert headline_text(got) == (
        "reached in time 3 of 13 members (23.1%) · pending 10 · at risk 0 · breached 0 — on track"
    )
    assert ratio_text(got) == (
        "member coverage (reached in time ÷ decided): 3 ÷ 3 = 100.0% (goal 100.0%)"
    )
    assert got.tone == "ok" and got.failures() == []


def test_failures_say_each_condition() -> None:
    got = h(in_time=1, pending=1, at_risk=1, breached=1)
    assert got.failures() == [
        "1 member(s) breached (deadline passed, not reached)",
        "1 member(s) at risk of missing the deadline",
        "the goal of 100.0% can no longer be met (at most 75.0%: 0 late, 1 breached, "
        "0 not contactable)",
    ]
    assert h(0.5, in_time=1, pending=2, breached=1).failures() == [
        "1 member(s) breached (deadline passed, not reached)"  # a member to act on, goal or not
    ]
