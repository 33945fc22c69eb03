"""Point the official Twilio SDK at another host (the sandbox) through its supported `http_client=`.

The SDK builds its URLs (including `next_page_uri` paging) against api.twilio.com; this client
swaps the scheme and host just before sending, so nothing in the SDK is patched. One pooled
keep-alive session, large enough for the dispatcher's concurrent requests. It also remembers each
thread's last response headers, so `Retry-After` on a 429 can be honoured (the SDK's exception
carries no headers).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response


class NotSentError(Exception):
    """A pre-send hook held a request back: nothing reached Twilio."""


_TWILIO_HOST = re.compile(r"^https://(?:[A-Za-z0-9-]+\.)*twilio\.com(?::\d+)?(?=/|$)")


class RewritingHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """A TwilioHttpClient that sends every `https://*.twilio.com` request to `base_url` instead.

    Used as `Client(sid, token, http_client=RewritingHttpClient("http://127.0.0.1:8765"))`.
    With `base_url=None` it talks to Twilio itself (and still records response headers).
    Environment proxies are ignored when rewriting (the sandbox is loopback).
    """

    def __init__(
        self, base_url: str | None = None, *, timeout: float | None = None, pool_size: int = 8
    ) -> None:
        super().__init__(pool_connections=True, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self._local = threading.local()
        assert self.session is not None
        if self.base_url:
            self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def before_next_post(self, hook: Callable[[], bool] | None) -> None:
        """Run `hook` in this thread right before the next POST leaves (pacing's last word).

        The SDK has built the request by then, so what the pacer measures is when the request
        really leaves. A hook returning False stops it: `NotSentError` is raised instead.
        """
        self._local.hook = hook

    def rewrite(self, url: str) -> str:
        """The URL the request really goes to: a Twilio host replaced by `base_url`."""
        return _TWILIO_HOST.sub(self.base_url, url, count=1) if self.base_url else url

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        hook = getattr(self._local, "hook", None)
        if hook is not None and method.upper() == "POST":
            self._local.hook = None
            if not hook():
                raise NotSentError("the request was held back before it left")
        response: Response = super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        self._local.headers = response.headers
        return response

    def last_headers(self) -> Any:
        """Headers of this thread's last response (None before the first)."""
        return getattr(self._local, "headers", None)
