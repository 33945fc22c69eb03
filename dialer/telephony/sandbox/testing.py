"""Test helpers shipped with the sandbox (like a stub broker): a harness that runs virtual time,
and a loopback webhook receiver that plays the application.

Used by tests/telephony/conftest.py's fixtures; any other test package can import them too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator
from twilio.rest import Client

from dialer.clock import SettableClock
from dialer.telephony.http import RewritingHttpClient
from dialer.telephony.sandbox.sandbox import Sandbox
from dialer.telephony.sandbox.server import SandboxServer

Answer = str | int | Callable[[dict[str, str]], str | int]


@dataclass
class SandboxHarness:
    """A served Sandbox plus the clock that drives it."""

    sandbox: Sandbox
    server: SandboxServer
    clock: SettableClock
    processed: int = field(default=0)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def client(self) -> Client:
        """A fresh real Twilio client for this sandbox."""
        return Client(
            self.sandbox.account_sid,
            self.sandbox.auth_token,
            http_client=RewritingHttpClient(self.base_url),
        )

    def advance(self, seconds: float) -> int:
        """Move the clock forward `seconds`, stopping at every due event on the way to run it."""
        end = self.clock.now() + timedelta(seconds=seconds)
        n = self.sandbox.pump()
        while (nxt := self.sandbox.next_event_at()) is not None and nxt <= end:
            if nxt > self.clock.now():
                self.clock.set(nxt)
            n += self.sandbox.pump()
        self.clock.set(max(end, self.clock.now()))
        n += self.sandbox.pump()
        self.processed += n
        return n

    def settle(self, limit: float = 24 * 3600) -> int:
        """Run events until none is left (at most `limit` virtual seconds ahead); returns how many."""
        start: datetime = self.clock.now()
        n = self.sandbox.pump()
        while (nxt := self.sandbox.next_event_at()) is not None:
            if (nxt - start).total_seconds() > limit:
                break
            if nxt > self.clock.now():
                self.clock.set(nxt)
            n += self.sandbox.pump()
        self.processed += n
        return n

    def close(self) -> None:
        self.server.stop()
        self.sandbox.close()


@dataclass(frozen=True)
class Received:
    """One webhook request as the application saw it."""

    method: str
    path: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]

    def signed_by(self, auth_token: str) -> bool:
        """Whether X-Twilio-Signature is valid for this URL and form (RequestValidator.validate)."""
        signature = self.headers.get("X-Twilio-Signature", "")
        body = self.params if self.method == "POST" else {}
        return bool(RequestValidator(auth_token).validate(self.url, body, signature))


class WebhookReceiver:
    """`receiver.answer("/voice", "<Response>…</Response>")`; `receiver.url("/voice")` for Twilio.

    An answer is TwiML text, an HTTP status code (e.g. 500), or a function of the posted form
    returning either. Unset paths answer an empty `<Response/>`.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else split.query
                params = dict(parse_qsl(raw, keep_blank_values=True))
                item = Received(
                    self.command,
                    split.path,
                    receiver.base_url + self.path,
                    params,
                    dict(self.headers),
                )
                with receiver._lock:
                    receiver.received.append(item)
                    receiver._arrived.notify_all()
                    answer = receiver._answers.get(split.path, "<Response/>")
                if callable(answer):
                    answer = answer(params)
                if isinstance(answer, int):
                    self.send_response(answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = answer.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base_url + path

    def answer(self, path: str, answer: Answer) -> None:
        with self._lock:
            self._answers[path] = answer

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests reached `path` (real-time mode); raises TimeoutError."""
        with self._arrived:
            if not self._arrived.wait_for(
                lambda: sum(r.path == path for r in self.received) >= count, timeout
            ):
                raise TimeoutError(f"fewer than {count} webhook(s) reached {path} in {timeout} s")
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
