"""`dialer serve --workers N`: the webhooks served by several uvicorn processes on one port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fleet_rig import free_port


def test_several_workers_answer_on_one_port_and_stop_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env["DIALER_TWILIO_AUTH_TOKEN"] = "workers-token"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer", "--db", f"sqlite:///{tmp_path / 'w.db'}", "serve",
         "--workers", "2", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "with 2 workers" in proc.stdout.readline()
        answered = 0
        end = time.monotonic() + 60
        while answered < 20 and time.monotonic() < end:  # the workers take a moment to start
            try:
                answered += httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert answered == 20
        unsigned = httpx.post(f"http://127.0.0.1:{port}/twilio/status/call/1", data={"a": "b"})
        assert unsigned.status_code == 403  # every worker checks the signature
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped" in rest and "Traceback" not in err


def test_workers_need_a_port_and_no_time_limit(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env["DIALER_TWILIO_AUTH_TOKEN"] = "workers-token"
    result = subprocess.run(
        [sys.executable, "-m", "dialer", "--db", f"sqlite:///{tmp_path / 'w.db'}", "serve",
         "--workers", "2", "--port", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "--workers" in result.stderr
