"""Serve a Sandbox on loopback with uvicorn in a daemon thread (tests, demo, benchmarks)."""

from __future__ import annotations

from dialer.serving import AppServer
from dialer.telephony.sandbox.app import SandboxApp
from dialer.telephony.sandbox.sandbox import Sandbox

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class SandboxServer(AppServer):
    """`with SandboxServer(sb) as srv: Client(..., http_client=RewritingHttpClient(srv.base_url))`."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"the sandbox only listens on loopback, not {host!r}")
        self.sandbox = sandbox
        super().__init__(SandboxApp(sandbox), host, port, name="the sandbox")
