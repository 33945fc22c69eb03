"""Driving `dialer run`'s jobs by hand in tests: a job run as the scheduler would run it (through
the leader check of a periodic job), and runners of role planner over a campaigns folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dialer.clock import SettableClock
from dialer.config import Settings
from dialer.runner import Runner, RunOptions
from dialer.store import Store


def run_job(runner: Runner, job_id: str) -> None:
    """The scheduler's job `job_id`, run now (a periodic job only if this runner leads)."""
    job = runner.scheduler.get_job(job_id)
    assert job is not None
    job.func(*job.args)


@contextmanager
def planner_factory(
    store: Store, clock: SettableClock, campaigns: Path
) -> Iterator[Callable[[], Runner]]:
    """`make()` → a started runner of role planner (its scheduler not started); all stopped at
    the end."""
    made: list[Runner] = []

    def make() -> Runner:
        settings = Settings(database_url="sqlite://", _env_file=None)  # type: ignore[call-arg]
        r = Runner(settings, store, clock, RunOptions(campaigns_dir=campaigns, role="planner"))
        r.start(schedule=False)
        made.append(r)
        return r

    try:
        yield make
    finally:
        for r in made:
            r.stop()
