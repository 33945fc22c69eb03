"""Twilio's list pages (PageSize, Page, PageToken and the *_page_uri links) and its date filters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from dialer.telephony.sandbox.errors import ApiError

PAGING = ("PageSize", "Page", "PageToken")


class HasSid(Protocol):
    sid: str


def paged(
    items: Sequence[HasSid],
    query: dict[str, str],
    path: str,
    key: str,
    render: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """One page of `items` (newest first) shaped like Twilio's ListCallResponse/ListMessageResponse.

    PageToken is "PA<sid>" (the page after that record) or "PB<sid>" (the page before it), so
    paging stays stable while new records arrive at the front.
    """
    try:
        size = min(1000, max(1, int(query.get("PageSize", "50"))))
        page = max(0, int(query.get("Page", "0")))
    except ValueError as exc:
        raise ApiError(400, 20001, "PageSize and Page must be integers") from exc
    start = page * size
    token = query.get("PageToken", "")
    sids = [r.sid for r in items]
    if token[:2] in ("PA", "PB") and token[2:] in sids:
        at = sids.index(token[2:])
        start = at + 1 if token[:2] == "PA" else max(0, at - size)
    chunk = list(items[start : start + size])
    filters = [(k, v) for k, v in query.items() if k not in PAGING]

    def link(p: int, tok: str | None = None) -> str:
        params = [*filters, ("PageSize", str(size)), ("Page", str(p))]
        if tok:
            params.append(("PageToken", tok))
        return f"{path}?{urlencode(params)}"

    more = start + size < len(items)
    return {
        key: [render(r) for r in chunk],
        "end": start + len(chunk) - 1 if chunk else start,
        "first_page_uri": link(0),
        "next_page_uri": link(page + 1, f"PA{chunk[-1].sid}") if more and chunk else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": link(page - 1, f"PB{chunk[0].sid}") if page > 0 and chunk else None,
        "start": start,
        "uri": link(page, token or None),
    }


def _bound(value: str, *, upper: bool) -> datetime:
    """A Twilio date filter value (YYYY-MM-DD or ISO 8601 datetime) as an aware UTC instant."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            at = datetime.combine(day, time.min, UTC)
            return at + timedelta(days=1) - timedelta(microseconds=1) if upper else at
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, 20001, f"Invalid date filter value {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def date_filter(query: dict[str, str], name: str) -> Callable[[datetime | None], bool]:
    """`Name=day` (that day), `Name<` (on or before), `Name>` (on or after); None never matches."""
    checks: list[Callable[[datetime], bool]] = []
    if name in query:
        lo, hi = _bound(query[name][:10], upper=False), _bound(query[name][:10], upper=True)
        checks.append(lambda at: lo <= at <= hi)
    if f"{name}<" in query:
        hi2 = _bound(query[f"{name}<"], upper=True)
        checks.append(lambda at: at <= hi2)
    if f"{name}>" in query:
        lo2 = _bound(query[f"{name}>"], upper=False)
        checks.append(lambda at: at >= lo2)
    if not checks:
        return lambda at: True
    return lambda at: at is not None and all(c(at) for c in checks)
