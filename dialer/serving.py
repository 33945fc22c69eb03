"""Serve an ASGI app with uvicorn in a daemon thread: the webhooks inside `dialer run` and tests."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any, Self

import uvicorn


class AppServer:
    """`with AppServer(app) as srv: ... srv.base_url ...`; port 0 picks a free port."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "http",
        *,
        forwarded_allow_ips: str = "",
    ) -> None:
        """`forwarded_allow_ips`: the proxies whose X-Forwarded-* headers are believed; none by
        default (uvicorn would believe any local process's, so a client could pick its address
        and dodge the console's per-address sign-in limit)."""
        self.app, self.host, self.port, self.name = app, host, port, name
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            proxy_headers=bool(forwarded_allow_ips.strip()),
            forwarded_allow_ips=forwarded_allow_ips.strip() or None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Start serving; returns once the socket listens (and `port` is the real one)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(f"{self.name} could not listen on {self.host}:{self.port}")
            self._thread.join(0.01)
        servers = getattr(self._server, "servers", [])
        if servers and servers[0].sockets:
            self.port = servers[0].sockets[0].getsockname()[1]
        return self

    def _run(self) -> None:
        try:  # uvloop answers about 30% more requests per second than asyncio's own loop
            import uvloop
        except ImportError:
            asyncio.run(self._server.serve())
        else:
            uvloop.run(self._server.serve())

    def stop(self) -> None:
        """Stop serving, then close the webhook app behind it (`app.state.webhooks`, made by
        `dialer.webhooks.create_app`): its status writer's thread and SQLite connection."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._server.should_exit = True
            thread.join(timeout=10)
            hooks = getattr(getattr(self.app, "state", None), "webhooks", None)
            close = getattr(hooks, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class StopRequested(BaseException):
    """A stop signal arrived during start-up (`StopSignal.raising`): start-up is abandoned."""


class StopSignal:
    """SIGTERM or Ctrl-C, caught from construction on (so one during start-up is not lost).

    `dialer run` and `dialer serve` stop the same way: new work stops, what is in flight ends.
    The first signal decides the exit (Ctrl-C: 130, SIGTERM: 0). Inside `raising()` (start-up,
    which may plan a big file for minutes) the first signal also raises `StopRequested` where
    the main thread is, so it is not ignored until start-up ends; with `force_on_second` a
    second signal exits at once, without waiting for anything.
    """

    def __init__(self, *, force_on_second: bool = False) -> None:
        self.event = threading.Event()
        self.interrupted = False  # Ctrl-C: exit 130
        self.count = 0
        self.force_on_second = force_on_second
        self._raise = False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            self.interrupted = signum == signal.SIGINT
        self.event.set()
        if self.count > 1 and self.force_on_second:
            os.write(2, b"second signal: stopping now, without waiting for work in flight\n")
            os._exit(130 if self.interrupted else 0)
        if self._raise:
            self._raise = False
            raise StopRequested(signum)

    @contextmanager
    def raising(self) -> Iterator[None]:
        """While inside, a signal raises `StopRequested` in the main thread (start-up)."""
        self._raise = not self.event.is_set()
        try:
            if self.event.is_set():
                raise StopRequested(signal.SIGINT if self.interrupted else signal.SIGTERM)
            yield
        finally:
            self._raise = False

    def wait(self, duration: float | None) -> bool:
        """Block until a signal or `duration` seconds; True when it was Ctrl-C."""
        self.event.wait(timeout=duration)
        return self.interrupted
