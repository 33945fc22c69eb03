"""`dialer sandbox` as a user runs it: a real process, real HTTP, SIGTERM to stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
import requests
from twilio.rest import Client

from dialer.telephony.http import RewritingHttpClient


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_sandbox_command_serves_until_stopped(stop: signal.Signals, code: int) -> None:
    sid = "AC" + "ab" * 16
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer", "sandbox", "--port", "0", "--account-sid", sid],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        base = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
        assert base, lines
        assert lines[1].strip() == f"account SID: {sid}"
        token = lines[2].removeprefix("auth token: ").strip()
        assert len(token) >= 16
        health = requests.get(f"{base[0]}/sandbox/health", timeout=5).json()
        assert health == {"status": "ok", "account_sid": sid}
        client = Client(sid, token, http_client=RewritingHttpClient(base[0]))
        call = client.calls.create(
            to="+886912345678", from_="+15005550006", url="http://127.0.0.1:9/"
        )
        assert call.status == "queued"
    finally:
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err


def test_sandbox_command_bad_option_is_one_sentence_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dialer", "sandbox", "--port", "0", "--account-sid", "nope"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: --account-sid must be 'AC' followed by 32 hexadecimal digits"]
    assert "Traceback" not in result.stderr
