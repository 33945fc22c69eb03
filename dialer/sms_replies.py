"""What a customer's SMS reply means: an answer, an opt-out or opt-in, "later" (maybe a time),
free text, or nothing usable. Pure: the inbound-SMS webhook calls it and acts on the result.

Customers type on phones in Chinese, Korean and English: full-width digits (１２３), the
campaign's reply keys, Twilio's STOP family plus 退訂 / TD / 取消訂閱 / 수신거부, START to opt
back in, and times such as "19:00", "明天 19:00", "내일 7시" or "tomorrow 7pm" for a callback.
Anything else that is not empty is kept as the customer's own words (a suggestion or complaint).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dialer.clock import ensure_utc

Kind = Literal["answer", "opt_out", "opt_in", "later", "text", "unknown"]

# Twilio's own opt-out and opt-in keywords (the carrier acts on them too), and local ones.
STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
    | {"退訂", "退订", "td", "取消訂閱", "取消订阅", "수신거부", "거부"}
)
START_WORDS = frozenset({"start", "unstop", "yes", "訂閱", "订阅", "수신동의"})
LATER_WORDS = ("later", "call me later", "稍後", "稍后", "晚點", "晚点", "再打", "나중에", "다음에")
TOMORROW = ("明天", "明日", "tomorrow", "내일")
MAX_TEXT = 1600  # one long SMS; anything longer is cut, never refused

_TIME = re.compile(
    r"(?P<h>[01]?\d|2[0-3])\s*(?:[:：]\s*(?P<m>[0-5]\d)|(?P<unit>點|点|時|时|시)(?:\s*(?P<m2>[0-5]?\d)\s*(?:分|분)?)?)?"
    r"\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?",
    re.IGNORECASE,
)
_AFTERNOON = ("下午", "晚上", "오후", "저녁")


@dataclass(frozen=True, slots=True)
class Reply:
    """The meaning of one reply; `outcome` for answers, `at` (aware UTC) for a named time."""

    kind: Kind
    text: str
    outcome: str | None = None
    at: datetime | None = None


def normalise(body: str) -> str:
    """NFKC (full-width digits and letters become ASCII), trimmed, inner spaces folded."""
    text = unicodedata.normalize("NFKC", body or "")
    return " ".join(text.split())[:MAX_TEXT]


def parse_reply(
    body: str,
    replies: Mapping[str, str],
    opt_out: Iterable[str],
    now: datetime,
    zone: str,
) -> Reply:
    """Read one reply against the campaign's reply keys and opt-out words, in the customer's zone."""
    text = " ".join((body or "").split())[:MAX_TEXT]  # the customer's words, kept as written
    key = normalise(body).casefold().strip(" .!。！")
    if not key:
        return Reply("unknown", text)
    if key in STOP_WORDS or key in {w.casefold() for w in opt_out}:
        return Reply("opt_out", text)
    if key in START_WORDS:
        return Reply("opt_in", text)
    for reply_key, outcome in replies.items():
        if key == reply_key.casefold():
            return Reply("answer", text, outcome=outcome)
    at = _named_time(key, now, zone)
    if at is not None or any(word in key for word in LATER_WORDS):
        return Reply("later", text, at=at)
    return Reply("text", text)


def _named_time(key: str, now: datetime, zone: str) -> datetime | None:
    """A callback time in the reply ("19:00", "明天下午3點", "내일 7시", "7pm"), next such moment."""
    match = _TIME.search(key)
    if match is None or not (match["m"] or match["unit"] or match["ampm"]):
        return None  # a bare number is an answer key or free text, never a time
    hour = int(match["h"])
    minute = int(match["m"] or match["m2"] or 0)
    ampm = (match["ampm"] or "").replace(".", "").lower()
    if (ampm == "pm" or any(w in key for w in _AFTERNOON)) and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    tz = ZoneInfo(zone)
    local_now = ensure_utc(now).astimezone(tz)
    day = local_now.date() + (
        timedelta(days=1) if any(w in key for w in TOMORROW) else timedelta(0)
    )
    at = datetime.combine(day, time(hour, minute), tz)
    if at <= local_now:
        at += timedelta(days=1)
    return ensure_utc(at)
