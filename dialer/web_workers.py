"""`dialer serve --workers N`: the webhooks in N uvicorn worker processes on one socket.

The webhook routes keep no state between requests (every callback is written to the database
at once), so a fleet can spread Twilio's callbacks over several processes and cores. uvicorn's
supervisor starts the workers, restarts one that dies, and stops them all on SIGTERM; each
worker builds its app from the environment (`app`, a factory), so the settings travel there.
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn

from dialer.clock import SystemClock
from dialer.config import Settings
from dialer.store import Store
from dialer.webhooks import create_app


def app() -> Any:
    """In each worker: the webhook app on the database and token the environment names."""
    settings = Settings()
    token = settings.twilio_auth_token
    if token is None:  # `dialer serve` checked it before starting the workers
        raise RuntimeError("DIALER_TWILIO_AUTH_TOKEN is not set")
    return create_app(
        Store.open(settings.database_url, upgrade=False),
        SystemClock(),
        token.get_secret_value(),
        settings.public_base_url,
        company=settings.company_name,
    )


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve until SIGTERM or Ctrl-C with `workers` processes (the schema is already current)."""
    os.environ["DIALER_DATABASE_URL"] = settings.database_url  # `--db` reaches the workers
    uvicorn.run(
        "dialer.web_workers:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        lifespan="on",  # each worker closes its webhook app (status writer) as it stops
        proxy_headers=bool(settings.forwarded_allow_ips.strip()),  # none believed by default
        forwarded_allow_ips=settings.forwarded_allow_ips.strip() or None,
        timeout_graceful_shutdown=2,
    )


__all__ = ["app", "serve_workers"]
