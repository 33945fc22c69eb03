"""A real loopback HTTP server that plays the application's webhooks in sandbox tests.

It records every request (path, full URL, form fields, headers) and answers each path with the
TwiML (or status code) the test set, so a test can check callbacks, their order and signatures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

Answer = str | int | Callable[[dict[str, str]], str | int]


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
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else split.query
                params = dict(parse_qsl(raw, keep_blank_values=True))
                host = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
                item = Received(
                    self.command, split.path, host + self.path, params, dict(self.headers)
                )
                with receiver._lock:
                    receiver.received.append(item)
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

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
