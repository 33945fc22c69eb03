"""`dialer serve`: only the webhooks (status callbacks, the call script, SMS replies).

For a deployment where dispatching runs elsewhere (`dialer run` on another host) or behind a
reverse proxy: Twilio's requests are checked against the auth token and the public URL.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dialer.console import out
from dialer.console_web import mount_console
from dialer.errors import ConfigError, UsageError
from dialer.serving import AppServer, StopSignal
from dialer.web_workers import serve_workers
from dialer.webhooks import create_app

HostOption = Annotated[str, typer.Option(help="Address the webhooks listen on.")]
PortOption = Annotated[int, typer.Option(help="Port the webhooks listen on (0: any free one).")]
ForOption = Annotated[
    float | None, typer.Option("--for", help="Stop by itself after this many seconds.")
]


def check_port(port: int) -> None:
    """One sentence for a port no socket can have (`dialer run` and `dialer serve`)."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")


def serve_command(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    duration: ForOption = None,
    workers: Annotated[
        int, typer.Option(help="uvicorn worker processes sharing the port (1: in this process).")
    ] = 1,
) -> None:
    """Serve Twilio's webhooks until SIGTERM or Ctrl-C (needs DIALER_TWILIO_AUTH_TOKEN)."""
    check_port(port)
    c: Any = ctx.find_root().obj
    settings = c.settings
    if settings.twilio_auth_token is None:
        raise ConfigError(
            "dialer serve checks every request's X-Twilio-Signature: set DIALER_TWILIO_AUTH_TOKEN "
            "(and DIALER_PUBLIC_BASE_URL behind a proxy)"
        )
    if workers < 1 or (workers > 1 and (port == 0 or duration is not None)):
        raise UsageError("--workers must be at least 1; with several, give a --port and no --for")
    if workers > 1:
        c.store()  # the schema brought up to date once, before the workers start
        out.print(
            f"dialer serving webhooks at http://{host}:{port} with {workers} workers; "
            "Ctrl-C or SIGTERM stops",
            highlight=False,
        )
        serve_workers(settings, host, port, workers)
        out.print("stopped")
        return
    app = create_app(
        c.store(),
        c.clock,
        settings.twilio_auth_token.get_secret_value(),
        settings.public_base_url,
        company=settings.company_name,
    )
    mount_console(app, c.store(), c.clock, company=settings.company_name,
                  public_base_url=settings.public_base_url)  # fmt: skip
    stop = StopSignal()
    with AppServer(
        app, host, port, "webhooks", forwarded_allow_ips=settings.forwarded_allow_ips
    ) as server:
        public = settings.public_base_url or server.base_url
        out.print(
            f"dialer serving webhooks at {server.base_url} (signed for {public}); "
            "Ctrl-C or SIGTERM stops",
            highlight=False,
        )
        interrupted = stop.wait(duration)
    out.print("stopped")
    if interrupted:
        raise typer.Exit(130)
