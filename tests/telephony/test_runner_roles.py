"""`dialer run --role`: the periodic jobs run by one process of the fleet (the lease holder, taken
over when it dies, on the test clock), and the roles refused in one sentence when misused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from runner_jobs import planner_factory, run_job

from dialer.clock import SettableClock
from dialer.election import TTL
from dialer.runner import Runner
from dialer.store import Store

ROOT = Path(__file__).parents[2]


@pytest.fixture
def planners(store: Store, clock: SettableClock, tmp_path: Path) -> Iterator[Callable[[], Runner]]:
    campaigns = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", campaigns)
    with planner_factory(store, clock, campaigns) as make:
        yield make


def test_the_periodic_jobs_run_once_across_the_fleet_and_are_taken_over(
    planners: Callable[[], Runner], store: Store, clock: SettableClock
) -> None:
    first, second = planners(), planners()
    assert first.leading and not second.leading
    assert first.dispatcher is None and first.webhooks is None  # a planner only plans
    plans = first.stats.plans
    run_job(first, "plan")
    run_job(second, "plan")
    assert first.stats.plans > plans and second.stats.plans == 0
    clock.advance(TTL / 2)
    run_job(first, "lead")  # the heartbeat renews it
    clock.advance(TTL / 2 + TTL / 4)
    run_job(second, "plan")
    assert second.stats.plans == 0  # still the first's
    clock.advance(TTL)  # the first stopped renewing: killed
    run_job(second, "plan")
    assert second.leading and second.stats.plans > 0
    run_job(first, "lead")
    assert not first.leading  # back from the dead: it waits its turn


def test_a_clean_stop_hands_the_jobs_over_at_once(
    planners: Callable[[], Runner], clock: SettableClock
) -> None:
    first, second = planners(), planners()
    assert first.leading
    first.stop()
    run_job(second, "lead")
    assert second.leading


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--role", "boss"], "--role must be one of"),
        (["--role", "dispatcher"], "DIALER_TWILIO_ACCOUNT_SID"),
        (["--role", "web"], "DIALER_TWILIO_AUTH_TOKEN"),
    ],
)
def test_roles_refuse_what_they_cannot_do_in_one_sentence(
    tmp_path: Path, args: list[str], words: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env["DIALER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "dialer", "run", "--dir", str(ROOT / "campaigns"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and words in result.stderr
