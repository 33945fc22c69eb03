"""The sandbox's outgoing HTTP: one kept-alive `http.client` connection per thread and origin.

The sandbox makes several webhook requests per simulated call (status callbacks, TwiML fetches,
Gather actions), one at a time and waiting for each answer, so in `dialer demo` and `dialer
simulate` the client's own cost is on the critical path of every call. `requests` spends about
half a millisecond of CPU per request on sessions, adapters, cookie jars and environment merging
that a webhook sender never uses; `http.client` on a kept connection does the same request for a
tenth of that. It is still a real HTTP/1.1 request over a socket to the real app.

A kept connection the server has closed in the meantime (uvicorn drops idle ones after a few
seconds) is noticed before it is reused, as urllib3 does, and a request that fails on a reused
connection before any answer came is sent once more on a fresh one: Twilio redelivers webhooks
too, and the application's handlers take a repeat without acting twice.
"""

from __future__ import annotations

import http.client
import select
import threading
from typing import NamedTuple
from urllib.parse import urlsplit


class Answer(NamedTuple):
    status: int
    text: str


class HttpError(Exception):
    """The request got no HTTP answer: refused, reset, timed out or an unreadable response.

    `failure` is Twilio's name for it in a retry policy: "ct" (no connection) or "rt" (no
    answer in time on a connection that was made).
    """

    def __init__(self, message: str, failure: str = "ct") -> None:
        super().__init__(message)
        self.failure = failure


def _failure(exc: BaseException) -> str:
    return "rt" if isinstance(exc, TimeoutError) else "ct"


_DEAD = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


Origin = tuple[str, str, "int | None"]


class Client:
    """HTTP/1.1 requests with kept-alive connections; safe to share between threads (each
    thread has its own connection to an origin; `close` closes them all)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._conns: dict[tuple[int, Origin], http.client.HTTPConnection] = {}
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float | None = None,
    ) -> Answer:
        """One request; `timeout` (seconds) instead of the client's for this one, if given."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {url}")
        origin: Origin = (parts.scheme, parts.hostname, parts.port)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        wait = self.timeout if timeout is None else timeout
        conn, reused = self._connection(origin)
        try:
            return self._exchange(conn, method, target, body, headers, wait)
        except _DEAD as exc:
            self._drop(origin)
            if not reused:
                raise HttpError(type(exc).__name__, _failure(exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            self._drop(origin)
            raise HttpError(type(exc).__name__, _failure(exc)) from exc
        conn, _ = self._connection(origin)  # the server closed the kept one: once more, fresh
        try:
            return self._exchange(conn, method, target, body, headers, wait)
        except (OSError, http.client.HTTPException) as exc:
            self._drop(origin)
            raise HttpError(type(exc).__name__, _failure(exc)) from exc

    @staticmethod
    def _exchange(
        conn: http.client.HTTPConnection,
        method: str,
        target: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float,
    ) -> Answer:
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        charset = response.headers.get_content_charset() or "utf-8"
        if response.will_close:
            conn.close()
        return Answer(response.status, data.decode(charset, errors="replace"))

    def _connection(self, origin: Origin) -> tuple[http.client.HTTPConnection, bool]:
        """The thread's connection to `origin` and whether it was used before."""
        key = (threading.get_ident(), origin)
        with self._lock:
            conn = self._conns.get(key)
        if conn is not None and conn.sock is not None and not _closed_by_peer(conn):
            return conn, True
        if conn is not None:
            conn.close()
        scheme, host, port = origin
        factory = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = factory(host, port, timeout=self.timeout)
        with self._lock:
            self._conns[key] = conn
        return conn, False

    def _drop(self, origin: Origin) -> None:
        with self._lock:
            conn = self._conns.pop((threading.get_ident(), origin), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close every thread's connections."""
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle kept connection that is readable has been closed (or answered out of turn)."""
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


__all__ = ["Answer", "Client", "HttpError"]
