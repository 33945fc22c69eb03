"""The capacity search of `dialer simulate` over a known response: members covered as a step
function of the rate, with one reachable member no capacity reaches (an answer that comes too
late). The search must find the step within its probes and aim at what ample capacity covers."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.campaigns import CampaignSpec, load_campaign
from dialer.simulate import RunResult, SimOptions, needed_capacity

SHIPPED = Path(__file__).parents[2] / "campaigns" / "after-service-satisfaction.toml"
REACHABLE = 40


@pytest.fixture
def spec() -> CampaignSpec:
    return load_campaign(SHIPPED)


def result(cps: float, covered: int) -> RunResult:
    return RunResult(
        seed=0, order="priority", cps=cps, agents=0, members=50, members_in_time=covered,
        members_reachable=REACHABLE, member_coverage=covered / 50, non_members=0,
        non_members_in_time=0, placed=0, wall_seconds=0.0,
    )  # fmt: skip


def covered_at(cps: float) -> int:
    """Short below 0.01 call/s; from there every member but one that no rate reaches."""
    return REACHABLE - 1 if cps >= 0.01 else int(REACHABLE * cps / 0.02)


def test_short_runs_probe_ample_capacity_then_bisect_to_the_step(spec: CampaignSpec) -> None:
    asked: list[float] = []

    def probe(cps: float) -> RunResult:
        asked.append(cps)
        return result(cps, covered_at(cps))

    got = needed_capacity(
        spec, [result(0.002, covered_at(0.002))], SimOptions(search_runs=8), probe, first=0.006
    )
    assert asked[0] == pytest.approx(0.016)  # ample: eight times what was simulated
    assert got.target == REACHABLE - 1 and got.reachable == REACHABLE
    assert got.value is not None and 0.01 <= got.value < 0.013
    assert got.short_at is not None and 0.008 < got.short_at < 0.01
    assert len(asked) == 8 and all(ok == (v >= 0.01) for v, ok in got.probes)


def test_enough_capacity_halves_until_a_probe_falls_short(spec: CampaignSpec) -> None:
    got = needed_capacity(
        spec, [result(1.0, covered_at(1.0))], SimOptions(search_runs=3),
        lambda cps: result(cps, covered_at(cps)),
    )  # fmt: skip
    # The first seed's run covered what it could (39 of 40 reachable): probe ample first.
    assert got.probes[0][0] == 8.0
    assert got.value is not None and got.value <= 1.0
