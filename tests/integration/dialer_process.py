"""Run `dialer` the way a user does: a real process, no inherited DIALER_ settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_dialer(
    cwd: Path, *args: str, db: Path, module: str = "dialer"
) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE --db sqlite:///DB ARGS` in `cwd`, acting as operator "ops-tester"."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env["DIALER_OPERATOR"] = "ops-tester"
    return subprocess.run(
        [sys.executable, "-m", module, "--db", f"sqlite:///{db}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
