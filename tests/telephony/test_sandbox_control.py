"""The sandbox's own HTTP routes: health, the log, and control for other processes."""

from __future__ import annotations

import requests

from dialer.telephony.sandbox.testing import SandboxHarness


def _auth(h: SandboxHarness) -> tuple[str, str]:
    return h.sandbox.account_sid, h.sandbox.auth_token


def test_control_routes_set_persons_faults_and_forced_failures(sandbox: SandboxHarness) -> None:
    base, auth = sandbox.base_url, _auth(sandbox)
    r = requests.post(
        f"{base}/sandbox/persons",
        json={"number": "+886912345678", "kind": "busy", "digits": ["2"]},
        auth=auth,
        timeout=5,
    )
    assert r.status_code == 200 and r.json()["kind"] == "busy"
    assert sandbox.sandbox.world.persons["+886912345678"].digits == ("2",)
    r = requests.post(
        f"{base}/sandbox/faults", json={"latency": 0.0, "rate_500": 0.25}, auth=auth, timeout=5
    )
    assert r.json()["rate_500"] == 0.25 and sandbox.sandbox.faults.rate_500 == 0.25
    r = requests.post(
        f"{base}/sandbox/fail_next", json={"n": 2, "status": 503}, auth=auth, timeout=5
    )
    assert r.json() == {"queued": 2}
    assert sandbox.sandbox.injected_fault() is not None


def test_control_routes_refuse_bad_requests(sandbox: SandboxHarness) -> None:
    base, auth = sandbox.base_url, _auth(sandbox)
    assert requests.post(f"{base}/sandbox/faults", json={}, timeout=5).status_code == 401
    for path, body in [
        ("persons", {"kind": "busy"}),
        ("persons", {"number": "+886912345678", "kind": "robot"}),
        ("faults", {"rate_429": "lots"}),
        ("faults", {"nonsense": 1}),
        ("fail_next", {"status": 200}),
    ]:
        r = requests.post(f"{base}/sandbox/{path}", json=body, auth=auth, timeout=5)
        assert r.status_code == 400 and r.json()["code"] == 20001, (path, body, r.text)
    assert requests.get(f"{base}/sandbox/nope", timeout=5).status_code == 404
    assert sandbox.sandbox.faults.rate_429 == 0.0


def test_health_needs_no_auth_but_the_log_of_whom_it_called_does(
    sandbox: SandboxHarness,
) -> None:
    health = requests.get(f"{sandbox.base_url}/sandbox/health", timeout=5)
    assert health.json() == {"status": "ok", "account_sid": sandbox.sandbox.account_sid}
    url = f"{sandbox.base_url}/sandbox/log.json"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, auth=(sandbox.sandbox.account_sid, "x"), timeout=5).status_code == 401
    log = requests.get(url, auth=_auth(sandbox), timeout=5).json()
    assert log["contacts"] == [] and log["account_sid"] == sandbox.sandbox.account_sid
