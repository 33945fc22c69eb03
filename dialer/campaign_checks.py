"""The rules that tie campaign fields together, checked on the plain data, and the problem types.

Purpose and consent, kind and trigger, trigger and deadline, channels and attempts, a voice and
its language: reported together with pydantic's field errors, each as one `Problem`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialer.errors import ConfigError

if TYPE_CHECKING:
    pass
from dialer.campaign_values import CHANNELS, LANGUAGES, Loc, _minutes, _parse_span, voice_locale

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
