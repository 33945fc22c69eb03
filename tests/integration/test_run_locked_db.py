"""`dialer run` on a SQLite file another process holds locked: it waits the busy timeout for
the lock, then exits 4 with one sentence naming the file and the lock; it never hangs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dialer.store import Store

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"
HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


def test_run_on_a_locked_sqlite_file_exits_4_naming_the_file_and_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    Store.open(f"sqlite:///{db}").close()  # an up-to-date database, as a user's would be
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
        env["DIALER_SQLITE_BUSY_TIMEOUT"] = "1"
        run = subprocess.run(
            [sys.executable, "-m", "dialer", "--db", f"sqlite:///{db}", "run", "--port", "0",
             "--dir", str(CAMPAIGNS), "--for", "30"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    said = run.stdout + run.stderr
    assert run.returncode == 4, said
    assert "Traceback" not in said and "running" not in said
    sentence = " ".join(said.split())  # the console wraps long lines
    assert sentence.startswith("error: the SQLite database ") and sentence.count(". ") == 0
    assert str(db) in said and "is locked by another process" in sentence
    assert "within the busy timeout (1 s)" in sentence
