"""Campaign file values: durations, clock spans, weekdays, zones, languages, voices, cron.

The small parsers and checks the campaign models use, each with an error message that says what
is allowed. Split from `dialer.campaigns`, which re-exports the public names.
"""

from __future__ import annotations

import difflib
import re
import string
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
)

if TYPE_CHECKING:
    pass


Loc = tuple[str | int, ...]
Span = tuple[time, time]

PLACEHOLDERS = frozenset(
    {"company", "name", "title", "service", "date", "agent", "store", "vehicle"}
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHANNELS = ("voice", "sms", "agent")
CALL_CHANNELS = ("voice", "agent")

# Script languages use the customer file's language codes (dialer.values.parse_language); each
# accepts TTS voices of these locales. Polly.Zhiyu speaks cmn-CN, so it is not a zh-TW voice.
LANGUAGES: dict[str, tuple[str, ...]] = {
    "zh-TW": ("cmn-TW",),
    "zh-CN": ("cmn-CN",),
    "zh-HK": ("yue-HK", "yue-CN"),
    "ko": ("ko-KR",),
    "en": ("en-US", "en-GB", "en-AU", "en-IN", "en-NZ", "en-ZA", "en-IE"),
    "ja": ("ja-JP",),
}
POLLY_VOICES = {
    "Zhiyu": "cmn-CN",
    "Hiujin": "yue-CN",
    "Seoyeon": "ko-KR",
    "Mizuki": "ja-JP",
    "Takumi": "ja-JP",
    "Kazuha": "ja-JP",
    "Tomoko": "ja-JP",
    **dict.fromkeys(
        "Joanna Matthew Salli Kimberly Kendra Ivy Joey Justin Kevin Ruth Stephen Danielle Gregory".split(),  # noqa: SIM905
        "en-US",
    ),
    **dict.fromkeys(["Amy", "Emma", "Brian", "Arthur"], "en-GB"),
    **dict.fromkeys(["Nicole", "Russell", "Olivia"], "en-AU"),
    **dict.fromkeys(["Aditi", "Raveena", "Kajal"], "en-IN"),
}
_GOOGLE_VOICE = re.compile(r"Google\.([a-z]{2,3}-[A-Z]{2})-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
_POLLY_VOICE = re.compile(r"Polly\.([A-Za-z]+)(?:-(?:Neural|Generative|Standard))?")


# --------------------------------------------------------------------------- value parsers


def _hint(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_DURATION = re.compile(r"(?:\d+[dhms])+")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: object) -> timedelta:
    """`"3d"`, `"2h"`, `"15m"`, `"90s"`, or combined (`"1d12h"`); a bare number is refused."""
    if isinstance(value, timedelta):
        return value
    text = value.replace(" ", "").lower() if isinstance(value, str) else ""
    if not _DURATION.fullmatch(text):
        raise ValueError(
            f"{_hint(value)} is not a duration; write a number with a unit: 90s, 15m, 2h or 3d "
            "(months are not a unit: 6 months is 180d)"
        )
    seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([dhms])", text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _parse_clock(text: str, whole: object) -> time:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if not m:
        raise ValueError(
            f"{_hint(whole)} is not a time span; write HH:MM-HH:MM with hours 00-23, "
            "e.g. 09:00-12:00"
        )
    return time(int(m[1]), int(m[2]))


def _parse_span(value: object, *, wrap: bool) -> Span:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(t, time) for t in value):
        start, end = value
    else:
        parts = (
            re.split(r"\s*(?:-|–|—|~|～|to)\s*", value.strip(), maxsplit=1)
            if isinstance(value, str)
            else []
        )
        if len(parts) != 2:
            raise ValueError(
                f"{_hint(value)} is not a time span; write HH:MM-HH:MM, e.g. 09:00-12:00"
            )
        start, end = (_parse_clock(p, value) for p in parts)
    if start == end:
        raise ValueError(f"{_hint(value)} starts where it ends; a span needs a length")
    if start > end and not wrap and end != time(0):
        raise ValueError(
            f"{_hint(value)} ends before it starts; open hours cannot wrap midnight (they may "
            "end at 00:00, meaning midnight; only rest spans such as 21:00-09:00 wrap)"
        )
    return (start, end)


def _minutes(t: time, end: bool = False) -> int:
    """Minutes since midnight; an end of 00:00 is midnight at the end of the day (1440)."""
    return t.hour * 60 + t.minute or (1440 if end else 0)


def format_span(span: Span) -> str:
    return f"{span[0]:%H:%M}-{span[1]:%H:%M}"


def parse_weekdays(value: object) -> frozenset[int]:
    """`"mon-fri"`, `"mon-fri,sun"` or `["mon", "wed"]` (wrapping ranges like `"fri-mon"` work)."""
    if isinstance(value, frozenset | set) and all(isinstance(d, int) for d in value):
        return frozenset(value)
    items: list[object]
    if isinstance(value, str):
        items = [p for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    days: set[int] = set()
    problem = (
        f"{_hint(value)} is not a set of weekdays; write day names mon, tue, wed, thu, fri, sat, "
        'sun or ranges, e.g. "mon-fri" or ["mon", "wed"]'
    )
    for item in items:
        if not isinstance(item, str):
            raise ValueError(problem)
        ends = [_day(p.strip()) for p in item.split("-")]
        if None in ends or not 1 <= len(ends) <= 2:
            raise ValueError(problem)
        first, last = ends[0], ends[-1]
        assert first is not None and last is not None
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    if not days:
        raise ValueError(problem)
    return frozenset(days)


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(text: str) -> int | None:
    name = text.lower()
    for number, (short, full) in enumerate(zip(DAYS, _FULL_DAYS, strict=True)):
        if name in (short, full):
            return number
    return None


def _names_of_days(days: frozenset[int]) -> list[str]:
    return [DAYS[d] for d in sorted(days)]


def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        near = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
        guess = f" (did you mean {near[0]}?)" if near else ""
        raise ValueError(
            f"{value!r} is not an IANA time zone; use a name such as Asia/Taipei, Asia/Seoul, "
            f"Asia/Shanghai or America/New_York{guess}"
        ) from None
    return value


def check_country(value: str) -> str:
    import holidays

    code = value.strip().upper()
    if len(code) != 2 or code not in holidays.list_supported_countries():
        raise ValueError(
            f"{value!r} has no public-holiday calendar in the holidays package; use an ISO 3166 "
            "country code such as TW, KR, CN, JP or US"
        )
    return code


def check_region(value: str) -> str:
    import phonenumbers

    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not a two-letter region code such as TW, KR, CN or US")
    return code


def check_language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError(
            f"{value!r} is not a script language; use one of {', '.join(LANGUAGES)} "
            "(the language codes of the customer file)"
        )
    return value


def voice_locale(voice: str) -> str:
    """The TTS locale a Twilio voice speaks (`Google.cmn-TW-Standard-A` -> `cmn-TW`)."""
    if m := _GOOGLE_VOICE.fullmatch(voice):
        return m[1]
    if (m := _POLLY_VOICE.fullmatch(voice)) and m[1] in POLLY_VOICES:
        return POLLY_VOICES[m[1]]
    raise ValueError(
        f"{voice!r} is not a known Twilio voice; write Google.<locale>-<type>-<variant> "
        f"(e.g. Google.cmn-TW-Standard-A) or Polly.<name> with one of {', '.join(POLLY_VOICES)}"
    )


def _check_voice(voice: str) -> str:
    voice_locale(voice)
    return voice


def check_text(value: str) -> str:
    """Script text: not empty, placeholders only from PLACEHOLDERS, plain `{name}` form."""
    text = value.strip()
    if not text:
        raise ValueError("is empty; write the words to say or send")
    allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        raise ValueError(
            "has an unmatched brace; write placeholders as {name} and a literal brace as {{ or }}"
        ) from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise ValueError(f"uses the unknown placeholder {{{name}}}; allowed: {allowed}")
        if spec or conversion:
            raise ValueError(
                f"formats the placeholder {{{name}}}; write it plain — the value is filled in "
                "already formatted for the language"
            )
    return text


def check_cron(expr: str, zone: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expr!r} is not a crontab line; write 5 fields (minute hour day month "
            "day-of-week), e.g. '0 9 * * mon'"
        )
    if re.search(r"\d", fields[4]):
        raise ValueError(
            f"{expr!r} names the day of week by number; write mon..sun (APScheduler 3 counts "
            "0 as Monday where crontab counts 0 as Sunday, so numbers are ambiguous)"
        )
    try:
        CronTrigger.from_crontab(expr, timezone=ZoneInfo(zone))
    except ValueError as exc:
        raise ValueError(f"{expr!r} is not a valid cron expression: {exc}") from None
    return " ".join(fields)


def _to_datetime(end_of_day: bool) -> Any:
    def convert(value: object) -> object:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, time(23, 59, 59) if end_of_day else time(0))
        return value

    return convert


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
OpenSpan = Annotated[
    Span,
    BeforeValidator(lambda v: _parse_span(v, wrap=False)),
    PlainSerializer(format_span, return_type=str, when_used="json"),
]
RestSpan = Annotated[
    Span,
    BeforeValidator(lambda v: _parse_span(v, wrap=True)),
    PlainSerializer(format_span, return_type=str, when_used="json"),
]
Weekdays = Annotated[
    frozenset[int],
    BeforeValidator(parse_weekdays),
    PlainSerializer(_names_of_days, return_type=list[str], when_used="json"),
]
Zone = Annotated[str, AfterValidator(check_zone)]
Language = Annotated[str, AfterValidator(check_language)]
Region = Annotated[str, AfterValidator(check_region)]
Text = Annotated[str, AfterValidator(check_text)]
Voice = Annotated[str, AfterValidator(_check_voice)]
ChannelName = Literal["voice", "sms", "agent"]
ReplyOutcome = Literal[
    "satisfied", "average", "unsatisfied", "callback_requested", "refused", "wrong_number"
]
ReplyKey = Annotated[str, Field(pattern=r"^[0-9A-Za-z]{1,10}$")]
