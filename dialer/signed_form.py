"""A Twilio webhook's form, parsed as Starlette parses it and checked as twilio checks it.

Status callbacks are the hottest route (four or more per call). Starlette's form parser feeds
python-multipart's streaming parser through callbacks, and twilio's
`RequestValidator.validate` signs the form twice (with and without the port), probing every
field for `getall` and `getlist` through two caught AttributeErrors and parsing the URL again
each time: about as much CPU as storing the callback. The functions here give the same answers
for less: `parse_urlencoded` the same fields as `Request.form()` on an urlencoded body,
`SignatureCheck.valid` the same verdict as `RequestValidator.validate`, signed by twilio's own
`compute_signature` once per URL variant (tests compare both with the originals on generated
input).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote_plus, urlparse

from twilio.request_validator import RequestValidator, add_port, compare, remove_port

URLENCODED = b"application/x-www-form-urlencoded"  # the content type Twilio posts its forms in
MAX_BODY = 64 * 1024  # Twilio's forms are a few hundred bytes; a larger body is refused (413)
MAX_FIELDS = 1000  # Starlette's limit: a form with more fields is refused as malformed

# A URL whose path and query `urlparse` + `geturl` give back unchanged: its two signed forms
# are the origin's two forms (computed once by twilio's own functions) plus this tail.
_PLAIN_URL = re.compile(
    r"(?P<origin>[a-z][a-z0-9]*://[A-Za-z0-9.-]+(?::[0-9]{1,5})?)"
    r"(?P<tail>/[A-Za-z0-9/_.~%+-]*(?:\?[A-Za-z0-9/_.~%+=&-]+)?)\Z"
)


def parse_urlencoded(body: bytes) -> dict[str, str] | None:
    """The fields of an urlencoded body exactly as Starlette's `Request.form()` reads them
    (bytes as Latin-1, then `unquote_plus`; empty pieces skipped; a name without `=` has the
    value ""), the last value of a repeated name kept where its first stood, as `dict(form)`
    does; None for more than `MAX_FIELDS` fields (Starlette refuses those)."""
    fields: dict[str, str] = {}
    count = 0
    for piece in body.decode("latin-1").split("&"):
        if not piece:
            continue
        count += 1
        if count > MAX_FIELDS:
            return None
        name, _, value = piece.partition("=")
        if "%" in piece or "+" in piece:  # else `unquote_plus` would give them back unchanged
            name, value = unquote_plus(name), unquote_plus(value)
        fields[name] = value
    return fields


class _Fields(dict[str, str]):
    """A form as twilio's `compute_signature` reads a MultiDict: its `getall` answers at once,
    where a plain dict costs two raised and caught AttributeErrors per field."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


class SignatureCheck:
    """`RequestValidator(token).validate(url, fields, signature)` for a form given as a dict,
    HMAC-SHA1 (the Auth Token signature), signed by twilio's own `compute_signature`: valid when
    the URL signed without its port or with it (Twilio signs either) matches. The variant
    without the port, which Twilio uses for a URL without one, is tried first, and the second
    is signed only when the first does not match."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._origins: dict[str, tuple[str, str]] = {}  # origin: (without port, with port)

    def valid(self, url: str, fields: Mapping[str, str], signature: str) -> bool:
        if not signature:
            return False
        form = _Fields(fields)
        return any(
            compare(self._validator.compute_signature(variant, form), signature)
            for variant in self.variants(url)
        )

    def variants(self, url: str) -> tuple[str, str]:
        """(the URL without its port, with it) as twilio's `remove_port` and `add_port` give."""
        plain = _PLAIN_URL.match(url)
        if plain is None:
            parsed = urlparse(url)
            return remove_port(parsed), add_port(parsed)
        origin, tail = plain.group("origin", "tail")
        known = self._origins.get(origin)
        if known is None:
            parsed = urlparse(f"{origin}/")
            known = (remove_port(parsed)[:-1], add_port(parsed)[:-1])
            if len(self._origins) < 64:  # a served app knows one or two (public, loopback)
                self._origins[origin] = known
        return known[0] + tail, known[1] + tail
