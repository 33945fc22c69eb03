"""Campaign files: one small, readable TOML file per callback run, validated into a `CampaignSpec`.

`load_campaign(path)` reads and checks one file; `scan_campaigns(folder)` checks every `*.toml` in a
folder without stopping at the first bad one. Every problem names the file (and the line when it
can be found), the field path (`window.hours[1]`) and what is allowed, in one sentence; a file with
problems raises `CampaignError` (a `ConfigError`, exit code 2) listing all of them.

Field checks are done by pydantic; the rules that tie fields together (purpose and consent, kind and
trigger, trigger and deadline, channels and attempts, a voice and its language...) are checked by
`_cross_problems` on the plain data, so they are reported together with the field errors.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import re
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dialer.errors import ConfigError

if TYPE_CHECKING:
    from dialer.windows import WindowPolicy

__all__ = [
    "LANGUAGES",
    "PLACEHOLDERS",
    "CampaignError",
    "CampaignFile",
    "CampaignSpec",
    "Problem",
    "Script",
    "load_campaign",
    "load_campaigns",
    "read_campaign",
    "scan_campaigns",
]

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


# --------------------------------------------------------------------------------- the models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Model):
    """What starts tasks: each service event, a fixed date, or a cron schedule, in a named zone."""

    type: Literal["service_event", "fixed_date", "cron"] = Field(
        description='service_event, fixed_date or cron, e.g. type = "service_event"'
    )
    time_zone: Zone = Field(
        description='the IANA zone the trigger is read in, e.g. time_zone = "Asia/Taipei"'
    )
    start: Annotated[datetime | None, BeforeValidator(_to_datetime(end_of_day=False))] = Field(
        default=None, description="fixed_date only: the local date (and time) the run starts"
    )
    cron: str | None = Field(
        default=None, description="cron only: a crontab line with day names, e.g. '0 9 * * mon'"
    )
    delay: Duration | None = Field(
        default=None,
        description="service_event only: wait this long after the service before the first try",
    )

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None, info: ValidationInfo) -> str | None:
        zone = info.data.get("time_zone")
        return value if value is None or zone is None else check_cron(value, zone)


class Audience(_Model):
    """Who gets a task; every condition given must hold (the two service-age tests: see `match`)."""

    members_only: bool = False
    require_consent: bool = Field(
        default=False, description="only customers who gave marketing consent"
    )
    languages: list[Language] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)
    service_types: list[str] = Field(
        default_factory=list, description="only service events of these types (empty: all)"
    )
    last_service_older_than: Duration | None = None
    mileage_at_least: int | None = Field(
        default=None,
        ge=1,
        description="km driven since the last service, estimated from the customer's service "
        "mileages (or assumed_km_per_day when there is only one)",
    )
    assumed_km_per_day: float = Field(default=40.0, gt=0, le=1000)
    match: Literal["any", "all"] = Field(
        default="any",
        description="whether last_service_older_than OR (any) / AND (all) mileage_at_least",
    )


class Deadline(_Model):
    """Exactly one of: days after the service day (end of day), a duration, or an instant."""

    days_after_service: int | None = Field(default=None, ge=0, le=30)
    after_trigger: Duration | None = Field(default=None, gt=timedelta(0))
    at: Annotated[datetime | None, BeforeValidator(_to_datetime(end_of_day=True))] = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [self.days_after_service, self.after_trigger, self.at]
        if sum(v is not None for v in given) != 1:
            raise ValueError(
                "give exactly one of days_after_service (after-service: 3), after_trigger "
                '(e.g. "5d") or at (a local date and time, e.g. 2027-02-05T18:00:00)'
            )
        return self


class Window(_Model):
    """When customers may be contacted, in their own local time."""

    weekdays: Weekdays = Field(description='the days calls are allowed, e.g. weekdays = "mon-sat"')
    hours: list[OpenSpan] = Field(
        min_length=1,
        description='the open hours in local time, e.g. hours = ["09:00-12:00", "13:30-20:30"]',
    )
    rest: list[RestSpan] = Field(
        default_factory=list, description='rest hours, may wrap midnight: ["21:00-09:00"]'
    )
    skip_holidays: bool = Field(
        default=True, description="no contact on the public holidays of holiday_country"
    )
    holiday_country: Annotated[str, AfterValidator(check_country)] | None = Field(
        default=None,
        description="whose public holidays; omitted: each customer's own country (from the "
        "number), else the country of their time zone",
    )
    holiday_subdivision: str | None = None

    @field_validator("hours")
    @classmethod
    def _no_overlap(cls, spans: list[Span]) -> list[Span]:
        ordered = sorted(spans)
        for a, b in itertools.pairwise(ordered):
            if _minutes(b[0]) < _minutes(a[1], end=True):
                raise ValueError(f"the spans {format_span(a)} and {format_span(b)} overlap")
        return spans

    @field_validator("holiday_subdivision")
    @classmethod
    def _subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("holiday_country")
        if value is None or country is None:
            return value
        import holidays

        subdivisions = holidays.list_supported_countries()[country]
        code = value.strip().upper()
        if code not in subdivisions:
            allowed = ", ".join(subdivisions[:20]) + (" ..." if len(subdivisions) > 20 else "")
            raise ValueError(
                f"{value!r} is not a subdivision of {country} in the holidays package; "
                + (f"use one of {allowed}" if subdivisions else f"{country} has none")
            )
        return code


class AttemptPolicy(_Model):
    """How often one channel is tried before falling back to the next channel."""

    max_attempts: int = Field(default=3, ge=1, le=10)
    spacing: Duration = Field(default=timedelta(hours=2), ge=timedelta(minutes=1))
    backoff: float = Field(default=1.0, ge=1.0, le=10.0, description="spacing multiplier")
    give_up_after: Duration | None = Field(
        default=None, gt=timedelta(0), description="stop this channel this long after its first try"
    )
    ring_timeout: Duration | None = Field(
        default=None, ge=timedelta(seconds=5), le=timedelta(seconds=120)
    )


DEFAULT_ATTEMPTS = {
    "voice": AttemptPolicy(max_attempts=3, spacing=timedelta(hours=2)),
    "sms": AttemptPolicy(max_attempts=1, spacing=timedelta(days=1)),
    "agent": AttemptPolicy(max_attempts=3, spacing=timedelta(hours=1)),
}
DEFAULT_RING_TIMEOUT = timedelta(seconds=30)


class Planning(_Model):
    on_infeasible: Literal["sms", "extend", "flag"] = Field(
        default="flag",
        description="tasks that cannot be met before the deadline: sms, extend or flag",
    )
    dedupe_window: Duration = Field(
        default=timedelta(0),
        description="triggers of one customer within this span merge into one task",
    )
    member_coverage_goal: float = Field(default=100.0, gt=0, le=100, description="percent")


class Complaints(_Model):
    average_opens_case: bool = Field(
        default=False, description="whether an average answer opens a follow-up case"
    )
    follow_up_deadline: Duration = Field(
        default=timedelta(days=3),
        gt=timedelta(0),
        description="deadline of the callback after a complaint is resolved",
    )


class Branch(_Model):
    follow_up: Text = Field(description="the question this branch asks next")
    closing: Text = Field(description="the goodbye of this branch")


class AverageBranch(_Model):
    same_as: Literal["unsatisfied"] | None = None
    follow_up: Text | None = None
    closing: Text | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.same_as and (self.follow_up or self.closing):
            raise ValueError('give same_as = "unsatisfied" or follow_up and closing, not both')
        if not self.same_as and not (self.follow_up and self.closing):
            raise ValueError(
                'write follow_up and closing, or same_as = "unsatisfied" (average follows the '
                "unsatisfied branch)"
            )
        return self


_BRANCH_HELP = (
    'every language defines satisfied, average and unsatisfied (average may say same_as = "'
    'unsatisfied")'
)


class Branches(_Model):
    satisfied: Branch = Field(description=_BRANCH_HELP)
    average: AverageBranch = Field(description=_BRANCH_HELP)
    unsatisfied: Branch = Field(description=_BRANCH_HELP)

    def for_answer(self, answer: Literal["satisfied", "average", "unsatisfied"]) -> Branch:
        """The branch to speak; `average` resolves to `unsatisfied` when it says `same_as`."""
        if answer == "average":
            avg = self.average
            if avg.same_as or avg.follow_up is None or avg.closing is None:
                return self.unsatisfied
            return Branch(follow_up=avg.follow_up, closing=avg.closing)
        return self.satisfied if answer == "satisfied" else self.unsatisfied


class ReasonMenu(_Model):
    prompt: Text = Field(description="the menu read out, e.g. 'press 1 for waiting time, ...'")
    options: list[Text] = Field(
        min_length=2, max_length=9, description="reason labels in key order (key 1 first)"
    )


class Sms(_Model):
    opt_out: list[str] = Field(
        min_length=1, description='the opt-out keywords, e.g. opt_out = ["STOP", "退訂"]'
    )
    replies: dict[ReplyKey, ReplyOutcome] = Field(
        default_factory=dict, description='reply -> outcome, e.g. { 1 = "satisfied" }'
    )
    text: Text = Field(max_length=1600, description="the SMS, with its reply options")

    @field_validator("text")
    @classmethod
    def _mentions_opt_out(cls, value: str, info: ValidationInfo) -> str:
        keywords = info.data.get("opt_out") or []
        if keywords and not any(k.casefold() in value.casefold() for k in keywords):
            raise ValueError(
                f"does not tell how to opt out; mention one of {', '.join(keywords)} in the text"
            )
        return value


class Script(_Model):
    """What is said and sent in one language; digits: 1 go on / 2 later, 1/2/3 for the answer."""

    voice: Voice = Field(description='the TTS voice, e.g. voice = "Google.cmn-TW-Standard-A"')
    opening: Text = Field(description="greeting with {company} and the customer's {name}")
    convenience: Text | None = Field(default=None, description="is now a good time? 1 / 2")
    later: Text | None = Field(default=None, description="said when the customer presses 2")
    message: Text | None = None
    question: Text | None = None
    branches: Branches | None = None
    reasons: ReasonMenu | None = None
    closing: Text | None = None
    voicemail: Text | None = None
    sms: Sms | None = None

    def texts(self) -> Iterable[tuple[str, str]]:
        """Every spoken text in call order, for previews."""
        for name in ("opening", "convenience", "later", "message", "question"):
            value = getattr(self, name)
            if value:
                yield name, value


class CampaignSpec(_Model):
    """One campaign file, validated. `slug`, `source` and `sha256` come from the file."""

    name: str = Field(min_length=1, max_length=200, description="a readable name")
    description: str | None = None
    kind: Literal["after_service", "holiday_greeting", "maintenance_reminder", "promotion"] = Field(
        description="after_service, holiday_greeting, maintenance_reminder or promotion"
    )
    purpose: Literal["service", "marketing"] = Field(description="service or marketing")
    default_time_zone: Zone = Field(
        description='the zone for numbers without one, e.g. default_time_zone = "Asia/Taipei"'
    )
    default_language: Language = Field(
        description='the script for customers without a matching language, e.g. "zh-TW"'
    )
    channels: list[ChannelName] = Field(
        min_length=1, description='voice, sms, agent in fallback order, e.g. ["voice", "sms"]'
    )
    handled_by: Literal["automated", "agents"] = Field(
        description="automated (IVR and SMS) or agents"
    )
    handle_time: Duration = Field(
        default=timedelta(minutes=3), gt=timedelta(0), description="expected time per call"
    )
    nightly_report: bool = True
    trigger: Trigger = Field(description="what starts the tasks: the trigger table")
    audience: Audience = Field(default_factory=Audience)
    deadline: Deadline = Field(description="when each task must be reached: the deadline table")
    window: Window = Field(description="the calling window: the window table")
    attempts: dict[ChannelName, AttemptPolicy] = Field(default_factory=dict)
    planning: Planning = Field(default_factory=Planning)
    complaints: Complaints = Field(default_factory=Complaints)
    scripts: dict[Language, Script] = Field(
        min_length=1, description="one scripts.<language> table per language, e.g. scripts.zh-TW"
    )

    _slug: str = PrivateAttr(default="")
    _source: str = PrivateAttr(default="")
    _sha256: str = PrivateAttr(default="")

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"{value} names a channel twice; list each channel once")
        return value

    @model_validator(mode="after")
    def _cross(self, info: ValidationInfo) -> Self:
        if not (info.context or {}).get("skip_cross"):
            problems = _cross_problems(self.as_definition())
            if problems:
                raise CampaignError([Problem(None, loc, msg) for loc, msg in problems])
        return self

    # -- identity

    @property
    def slug(self) -> str:
        return self._slug

    @property
    def source(self) -> str:
        return self._source

    @property
    def sha256(self) -> str:
        return self._sha256

    def as_definition(self) -> dict[str, Any]:
        """JSON-safe, for the `campaigns.definition` column; `CampaignSpec.model_validate` reads it."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any], slug: str = "") -> CampaignSpec:
        spec = cls.model_validate(dict(definition))
        spec._slug = slug
        return spec

    # -- what the planner and the dispatcher read

    @property
    def asks_satisfaction(self) -> bool:
        return any(s.question for s in self.scripts.values())

    def attempt_policy(self, channel: ChannelName) -> AttemptPolicy:
        policy = self.attempts.get(channel) or DEFAULT_ATTEMPTS[channel]
        if channel in CALL_CHANNELS and policy.ring_timeout is None:
            policy = policy.model_copy(update={"ring_timeout": DEFAULT_RING_TIMEOUT})
        return policy

    def min_open(self, queueing: timedelta = timedelta(0)) -> timedelta:
        """Window time a call needs: queueing + ring timeout + the handle time (0 for SMS only)."""
        calls = [c for c in self.channels if c in CALL_CHANNELS]
        if not calls:
            return timedelta(0)
        ring = self.attempt_policy(calls[0]).ring_timeout or DEFAULT_RING_TIMEOUT
        return queueing + ring + self.handle_time

    def window_policy_args(self, min_open: timedelta | None = None) -> dict[str, Any]:
        w = self.window
        return {
            "weekdays": frozenset(w.weekdays),
            "hours": tuple(sorted(w.hours)),
            "rest": tuple(w.rest),
            "purpose": self.purpose,
            "skip_holidays": w.skip_holidays,
            "holiday_country": w.holiday_country,
            "holiday_subdivision": w.holiday_subdivision,
            "default_zone": self.default_time_zone,
            "min_open": self.min_open() if min_open is None else min_open,
        }

    def window_policy(self, min_open: timedelta | None = None) -> WindowPolicy:
        """The calling window for `dialer.windows`; min_open defaults to `self.min_open()`."""
        from dialer.windows import WindowPolicy

        return WindowPolicy(**self.window_policy_args(min_open))

    def script_for(self, language: str | None) -> tuple[str, Script]:
        """The script for a customer's language: exact, then the same base language, else default."""
        if language:
            wanted = language.replace("_", "-").casefold()
            for key, script in self.scripts.items():
                if key.casefold() == wanted:
                    return key, script
            base = wanted.split("-")[0]
            for key, script in self.scripts.items():
                if key.casefold().split("-")[0] == base and base != "zh":
                    return key, script
        return self.default_language, self.scripts[self.default_language]

    def deadline_for(
        self,
        *,
        triggered_at: datetime | None = None,
        service_date: date | None = None,
        zones: Sequence[str] = (),
    ) -> datetime:
        """A task's deadline in aware UTC (after-service: the earliest of the candidate zones)."""
        d = self.deadline
        if d.days_after_service is not None:
            if service_date is None:
                raise ValueError("an after-service deadline needs the service date")
            day = service_date + timedelta(days=d.days_after_service)
            ends = [
                datetime.combine(day, time(23, 59, 59), ZoneInfo(z))
                for z in (zones or [self.default_time_zone])
            ]
            return min(ends).astimezone(UTC)
        zone = ZoneInfo(self.trigger.time_zone)
        if d.at is not None:
            at = d.at if d.at.tzinfo else d.at.replace(tzinfo=zone)
            return at.astimezone(UTC)
        assert d.after_trigger is not None
        start = triggered_at or self.trigger.start
        if start is None:
            raise ValueError("a deadline after the trigger needs the trigger time")
        start = start if start.tzinfo else start.replace(tzinfo=zone)
        return (start + d.after_trigger).astimezone(UTC)


# ------------------------------------------------------------------------ cross-field checks


def _get(data: object, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _as_naive_local(value: object, zone: str | None, end_of_day: bool) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(23, 59, 59) if end_of_day else time(0))
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(ZoneInfo(zone or "UTC")).replace(tzinfo=None)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return value


KIND_PURPOSE = {
    "after_service": "service",
    "maintenance_reminder": "service",
    "holiday_greeting": "marketing",
    "promotion": "marketing",
}


def _cross_problems(d: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Rules between fields, on plain (TOML or JSON) data; wrong types are left to pydantic."""
    out: list[tuple[Loc, str]] = []
    kind, purpose = d.get("kind"), d.get("purpose")
    channels = d.get("channels")
    channels = channels if isinstance(channels, list) else []

    if purpose == "marketing" and _get(d, "audience", "require_consent") is not True:
        out.append(
            (
                ("audience", "require_consent"),
                "a marketing campaign may only reach customers who consented; set "
                "require_consent = true in the audience table",
            )
        )
    if (
        kind in KIND_PURPOSE
        and purpose in ("service", "marketing")
        and KIND_PURPOSE[kind] != purpose
    ):
        out.append((("purpose",), f'{kind} campaigns have purpose "{KIND_PURPOSE[kind]}"'))

    ttype = _get(d, "trigger", "type")
    tzone = _get(d, "trigger", "time_zone")
    if kind == "after_service" and ttype not in (None, "service_event"):
        out.append(
            (("trigger", "type"), 'an after_service campaign is triggered by "service_event"')
        )
    trigger = _table(d, "trigger")
    if trigger:
        needs = {"fixed_date": "start", "cron": "cron"}
        for key, only in (("start", "fixed_date"), ("cron", "cron"), ("delay", "service_event")):
            if (
                ttype in ("service_event", "fixed_date", "cron")
                and ttype != only
                and key in trigger
            ):
                out.append((("trigger", key), f"only applies to a {only} trigger"))
        if ttype in needs and trigger.get(needs[ttype]) is None:
            example = "start = 2027-02-01" if ttype == "fixed_date" else 'cron = "0 9 * * mon"'
            out.append(((("trigger", needs[ttype])), f"a {ttype} trigger needs it, e.g. {example}"))

    deadline = _table(d, "deadline")
    if kind == "after_service" and "days_after_service" not in deadline and deadline:
        out.append(
            (
                ("deadline", "days_after_service"),
                "an after-service deadline is the end of the day days_after_service after the "
                "service day; write days_after_service = 3",
            )
        )
    if "days_after_service" in deadline and ttype in ("fixed_date", "cron"):
        out.append(
            (
                ("deadline", "days_after_service"),
                f"only applies to service_event triggers; a {ttype} trigger uses after_trigger "
                "or at",
            )
        )
    if "at" in deadline and ttype in ("service_event", "cron"):
        out.append(
            (
                ("deadline", "at"),
                f"a {ttype} trigger starts tasks again and again; use "
                + ("days_after_service" if ttype == "service_event" else "after_trigger"),
            )
        )
    if "at" in deadline and ttype == "fixed_date":
        zone = tzone if isinstance(tzone, str) else None
        at = _as_naive_local(deadline["at"], zone, end_of_day=True)
        start = _as_naive_local(_get(d, "trigger", "start"), zone, end_of_day=False)
        if at is not None and start is not None and at <= start:
            out.append(
                (
                    ("deadline", "at"),
                    f"{at:%Y-%m-%d %H:%M} is not after the start {start:%Y-%m-%d %H:%M}",
                )
            )

    if d.get("handled_by") == "agents" and channels and channels[0] != "agent":
        out.append((("channels",), 'campaigns handled by agents list "agent" first'))
    if d.get("handled_by") == "automated" and channels and channels[0] == "agent":
        out.append(
            (
                ("channels",),
                'an automated campaign starts with "voice" or "sms"; "agent" may follow',
            )
        )
    attempts = _table(d, "attempts")
    for ch, policy in attempts.items():
        if ch in CHANNELS and channels and ch not in channels:
            out.append((("attempts", ch), f"{ch!r} is not among the channels {channels}"))
        if ch == "sms" and isinstance(policy, Mapping) and "ring_timeout" in policy:
            out.append((("attempts", "sms", "ring_timeout"), "an SMS does not ring"))
    if _get(d, "planning", "on_infeasible") == "sms" and channels and "sms" not in channels:
        out.append((("planning", "on_infeasible"), 'is "sms" but "sms" is not among the channels'))

    window = _table(d, "window")
    if window.get("holiday_subdivision") and not window.get("holiday_country"):
        out.append(
            (
                ("window", "holiday_subdivision"),
                'needs holiday_country, e.g. holiday_country = "US" with holiday_subdivision = "CA"',
            )
        )
    if window and _never_open(window.get("hours"), window.get("rest")):
        out.append((("window", "rest"), "covers all of the open hours; the window never opens"))

    scripts = _table(d, "scripts")
    default_language = d.get("default_language")
    if scripts and isinstance(default_language, str) and default_language not in scripts:
        out.append(
            (
                ("default_language",),
                f"{default_language!r} has no script; write a scripts.{default_language} table or use "
                f"one of {', '.join(scripts)}",
            )
        )
    for lang, script in scripts.items():
        if isinstance(script, Mapping) and lang in LANGUAGES:
            out.extend(_script_problems(str(lang), script, kind, channels))
    return out


def _script_problems(
    lang: str, s: Mapping[str, Any], kind: object, channels: list[Any]
) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    at: Loc = ("scripts", lang)
    voice = s.get("voice")
    if isinstance(voice, str) and lang in LANGUAGES:
        try:
            locale = voice_locale(voice)
        except ValueError:
            locale = None
        if locale is not None and locale not in LANGUAGES[lang]:
            out.append(
                (
                    (*at, "voice"),
                    f"{voice} speaks {locale}, not {lang}; use a {' or '.join(LANGUAGES[lang])} "
                    "voice",
                )
            )
    if kind == "after_service" and not s.get("question"):
        out.append(
            (
                (*at, "question"),
                "an after-service script asks the satisfaction question; write question = "
                '"Thank you for using our {service} on {date}. Were you satisfied? ..."',
            )
        )
    elif s.get("question"):
        for part, what in (
            ("branches", "the satisfied, average and unsatisfied branches"),
            ("reasons", "the reason menu offered after an unsatisfied answer"),
        ):
            if part not in s:
                out.append(((*at, part), f"a script that asks the question needs {what}"))
        replies = _get(s, "sms", "replies")
        if isinstance(replies, Mapping) and "sms" in channels:
            answers = ("satisfied", "average", "unsatisfied")
            missing = [a for a in answers if a not in replies.values()]
            if missing:
                out.append(((*at, "sms", "replies"), f"offers no reply for {', '.join(missing)}"))
    else:
        for part in ("branches", "reasons"):
            if part in s:
                out.append(((*at, part), "only applies to a script that has a question"))
        for part in ("message", "closing"):
            if not s.get(part):
                out.append(
                    ((*at, part), "a script without a question needs a message and a closing")
                )
    if s.get("convenience") and not s.get("later"):
        out.append(((*at, "later"), "says what is said when the customer presses 2 for later"))
    if "sms" in channels and "sms" not in s:
        out.append(((*at, "sms"), f"the campaign sends SMS, so write the scripts.{lang}.sms table"))
    return out


def _never_open(hours: object, rest: object) -> bool:
    try:
        opens = [_parse_span(h, wrap=False) for h in hours] if isinstance(hours, list) else []
        rests = [_parse_span(r, wrap=True) for r in rest] if isinstance(rest, list) else []
    except ValueError:
        return False
    if not opens:
        return False
    free = [False] * 1440
    for a, b in opens:
        x, y = _minutes(a), _minutes(b, end=True)
        free[x:y] = [True] * (y - x)
    for a, b in rests:
        x, y = _minutes(a), _minutes(b, end=True)
        ranges = [(x, y)] if x < y else [(x, 1440), (0, _minutes(b))]
        for x, y in ranges:
            free[x:y] = [False] * (y - x)
    return not any(free)


# ---------------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a campaign file: where (file, line, field path) and what is allowed."""

    file: str | None
    loc: Loc
    message: str
    line: int | None = None

    @property
    def field(self) -> str:
        return format_loc(self.loc)

    def sentence(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file
        parts = [p for p in (where, self.field) if p]
        return ": ".join([*parts, self.message])

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


class CampaignError(ConfigError):
    """A campaign file (or folder) is invalid; carries every problem found, one sentence each."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0].sentence() if problems else "the campaign is invalid"
        more = len(problems) - 1
        if more:
            files = sorted({p.file for p in problems if p.file})
            first += (
                f" (and {more} more problem{'s' if more > 1 else ''}: run `dialer campaign "
                f"validate {' '.join(files)}`)"
            )
        super().__init__(first)


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            out += f".{key}" if out else key
    return out


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin is not None and type(None) in get_args(tp):
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp


def _model_at(loc: Loc) -> Any:
    """The model (or type) found at a field path, walking lists and dict values."""
    tp: Any = CampaignSpec
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(part))
            if info is None:
                return None
            tp = info.annotation
        elif get_origin(tp) in (list, tuple, frozenset, set):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
    return _unwrap(tp)


_BOUNDS = {
    "greater_than": ("more than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def _plain(value: object) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return str(value)
    return _hint(value)


def _pydantic_problems(exc: ValidationError) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
        found = _model_at(loc[:-1]) if loc else None
        parent = found if isinstance(found, type) and issubclass(found, BaseModel) else None
        if kind == "extra_forbidden":
            names = list(parent.model_fields) if parent else []
            near = difflib.get_close_matches(str(loc[-1]), names, n=1)
            guess = f"did you mean {near[0]}? " if near else ""
            message = f"unknown field; {guess}allowed here: {', '.join(names)}"
        elif kind == "missing":
            info = parent.model_fields.get(str(loc[-1])) if parent else None
            message = "is missing" + (f": {info.description}" if info and info.description else "")
        elif kind in ("value_error", "assertion_error"):
            message = str((err.get("ctx") or {}).get("error", err["msg"]))
        elif kind == "literal_error":
            message = f"{_hint(err['input'])} is not allowed; use {err['ctx']['expected']}"
        elif kind in _BOUNDS:
            word, key = _BOUNDS[kind]
            info = parent.model_fields.get(str(loc[-1])) if parent else None
            limits = [getattr(m, key) for m in (info.metadata if info else []) if hasattr(m, key)]
            limit = limits[0] if limits else (err.get("ctx") or {}).get(key, "?")
            message = f"must be {word} {_plain(limit)} (got {_plain(err['input'])})"
        elif kind in ("too_short", "too_long"):
            ctx = err.get("ctx") or {}
            word, count = (
                ("at least", ctx.get("min_length"))
                if kind == "too_short"
                else ("at most", ctx.get("max_length"))
            )
            message = (
                f"needs {word} {count} item{'' if count == 1 else 's'} (got {_hint(err['input'])})"
            )
        elif kind == "string_pattern_mismatch" and loc[:1] == ("scripts",):
            message = f"{_hint(err['input'])} is not a reply key; use 1-10 letters or digits"
        else:
            msg = err["msg"]
            message = f"{msg[0].lower()}{msg[1:]} (got {_hint(err['input'])})"
        out.append((loc, message))
    return out


# ----------------------------------------------------------------------------------- loading


@dataclass
class CampaignFile:
    """One file as checked: its spec when valid, otherwise every problem found."""

    path: Path
    slug: str
    sha256: str | None = None
    spec: CampaignSpec | None = None
    problems: list[Problem] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the parsed TOML, even when invalid

    @property
    def valid(self) -> bool:
        return self.spec is not None and not self.problems


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,119}")


def read_campaign(path: str | Path) -> CampaignFile:
    """Check one campaign file; never raises for what is in the file."""
    p = Path(path)
    result = CampaignFile(path=p, slug=p.stem)
    shown = str(path)

    def fail(message: str, loc: Loc = (), line: int | None = None) -> CampaignFile:
        result.problems.append(Problem(shown, loc, message, line))
        return result

    if p.suffix != ".toml":
        return fail("a campaign file is a .toml file")
    if not _SLUG.fullmatch(p.stem):
        return fail(
            "the file name is the campaign's slug; use lower-case letters, digits and hyphens, "
            "e.g. after-service-satisfaction.toml"
        )
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return fail("there is no such file")
    except OSError as exc:
        return fail(f"cannot be read: {exc.strerror}")
    result.sha256 = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return fail(f"is not UTF-8 text (byte {exc.start}); save it as UTF-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if m:
            return fail(f"not valid TOML: {message[: m.start()]} at column {m[2]}", line=int(m[1]))
        return fail(f"not valid TOML: {message}")

    result.data = data
    lines = _key_lines(text)
    found: list[tuple[Loc, str]] = []
    spec: CampaignSpec | None = None
    try:
        spec = CampaignSpec.model_validate(data, context={"skip_cross": True})
    except ValidationError as exc:
        found.extend(_pydantic_problems(exc))
    seen = {loc for loc, _ in found}
    found.extend(item for item in _cross_problems(data) if item[0] not in seen)
    if found:
        spec = None
        for loc, message in found:
            fail(message, loc, _line_of(lines, loc))
        return result
    assert spec is not None
    spec._slug, spec._source, spec._sha256 = p.stem, shown, result.sha256
    result.spec = spec
    return result


def load_campaign(path: str | Path) -> CampaignSpec:
    """One valid campaign, or `CampaignError` naming the file, the field and what is allowed."""
    result = read_campaign(path)
    if result.spec is None:
        raise CampaignError(result.problems)
    return result.spec


def scan_campaigns(folder: str | Path) -> list[CampaignFile]:
    """Every `*.toml` in a folder (not hidden, not starting with `_`), checked, by file name."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"the campaign folder {str(folder)!r} does not exist")
    files = sorted(
        p for p in root.glob("*.toml") if p.is_file() and not p.name.startswith((".", "_"))
    )
    return [read_campaign(p) for p in files]


def load_campaigns(folder: str | Path) -> list[CampaignSpec]:
    """All campaigns of a folder; any invalid file raises `CampaignError` with all problems."""
    results = scan_campaigns(folder)
    problems = [p for r in results for p in r.problems]
    if problems:
        raise CampaignError(problems)
    return [r.spec for r in results if r.spec is not None]


# A line finder good enough for error messages: dotted table headers and `key =` lines.


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', text)
    return tuple(a or b or c for a, b, c in parts)


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string = False
    for number, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        was_in_string = in_string
        if (s.count('"""') + s.count("'''")) % 2:
            in_string = not in_string
        if was_in_string or s.startswith("#"):
            continue
        if header := re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", s):
            table = _split_key(header[1])
            lines.setdefault(table, number)
        elif key := re.match(r"^((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-.\s])+?)\s*=", s):
            lines.setdefault(table + _split_key(key[1]), number)
    return lines


def _line_of(lines: Mapping[tuple[str, ...], int], loc: Loc) -> int | None:
    keys = tuple(str(p) for p in loc if isinstance(p, str))
    for end in range(len(keys), 0, -1):
        if keys[:end] in lines:
            return lines[keys[:end]]
    return None
