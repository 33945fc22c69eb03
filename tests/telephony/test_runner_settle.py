"""`dialer run --placed-grace` (or DIALER_PLACED_GRACE) sets the settle checks' margin of the
dispatcher the runner builds; a grace that is not positive is refused in one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from dialer.clock import SettableClock
from dialer.config import Settings
from dialer.runner import Runner, RunOptions
from dialer.store import Store

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(("option", "setting", "grace"), [(45.0, 30.0, 45.0), (None, 12.0, 12.0)])
def test_the_grace_comes_from_the_option_else_the_setting(
    store: Store, clock: SettableClock, option: float | None, setting: float, grace: float
) -> None:
    settings = Settings(database_url="sqlite://", placed_grace=setting, _env_file=None)  # type: ignore[call-arg]
    placed_grace = None if option is None else timedelta(seconds=option)
    r = Runner(settings, store, clock, RunOptions(port=0, campaigns_dir=ROOT / "campaigns",
                                                  placed_grace=placed_grace))  # fmt: skip
    try:
        r.start(schedule=False)
        assert r.dispatcher is not None
        assert r.dispatcher.config.settling.grace == timedelta(seconds=grace)
    finally:
        r.stop()


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_grace_that_is_not_positive_is_refused_in_one_sentence(
    tmp_path: Path, value: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dialer", "run", "--placed-grace", value,
         "--dir", str(ROOT / "campaigns")],
        cwd=tmp_path,
        env={**os.environ, "DIALER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--placed-grace" in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
