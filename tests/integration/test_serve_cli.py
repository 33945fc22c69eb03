"""`dialer serve` as a process: webhooks only, signed for the public URL, stopped by SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import httpx
from dialer_process import run_dialer
from twilio.request_validator import RequestValidator

TOKEN = "serve-test-token"
PUBLIC = "https://hooks.example.com"


def test_serve_without_an_auth_token_says_so_in_one_sentence(tmp_path: Path) -> None:
    result = run_dialer(tmp_path, "serve", "--port", "0", "--for", "1", db=tmp_path / "d.db")
    assert result.returncode == 2
    assert "DIALER_TWILIO_AUTH_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_serve_checks_signatures_against_the_public_url_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    db = tmp_path / "d.db"
    assert run_dialer(tmp_path, "db", "upgrade", db=db).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env |= {"DIALER_TWILIO_AUTH_TOKEN": TOKEN, "DIALER_PUBLIC_BASE_URL": PUBLIC}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer", "--db", f"sqlite:///{db}", "serve", "--port", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert found, line
        local = found.group(1)
        form = {"CallSid": "CA" + "0" * 32, "CallStatus": "in-progress"}
        path = "/twilio/voice/404"
        forged = httpx.post(
            f"{local}{path}", content=urlencode(form), timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": "forged"},
        )  # fmt: skip
        assert forged.status_code == 403
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{path}", form)
        signed = httpx.post(
            f"{local}{path}", content=urlencode(form), timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature},
        )  # fmt: skip
        assert signed.status_code == 200 and "<Hangup/>" in signed.text  # no such attempt
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in rest
