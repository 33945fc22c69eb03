"""The SDK's HTTP client, pointed at another host (the sandbox) the supported way: `http_client=`.

The official `twilio` SDK builds `https://api.twilio.com/...` URLs; this client rewrites the
scheme and host to a base URL such as `http://127.0.0.1:8765`, keeps a pooled keep-alive
session large enough for the dispatcher's concurrent requests, and remembers the last
response's headers per thread so `Retry-After` on a 429 can be honoured (the SDK's exception
does not carry headers).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

_TWILIO_HOST = re.compile(r"^https://[A-Za-z0-9.-]*twilio\.com")


class RewritingHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """`TwilioHttpClient` that sends every request to `base_url` instead of Twilio's hosts."""

    def __init__(
        self, base_url: str | None = None, *, pool_size: int = 64, timeout: float | None = 15.0
    ) -> None:
        super().__init__(pool_connections=True, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self._local = threading.local()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        assert self.session is not None
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def rewrite(self, url: str) -> str:
        return _TWILIO_HOST.sub(self.base_url, url) if self.base_url else url

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
        response: Response = super().request(
            method, self.rewrite(url), params, data, headers, auth, timeout, allow_redirects
        )
        self._local.headers = response.headers
        return response

    def last_headers(self) -> Any:
        """Headers of this thread's last response (None before the first)."""
        return getattr(self._local, "headers", None)
