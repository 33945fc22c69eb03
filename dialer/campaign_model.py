"""The campaign file's pydantic models, one per table, and `CampaignSpec`, the whole file.

Field checks are pydantic's; `CampaignSpec` also runs the cross-field rules of
`dialer.campaign_checks` when built directly, so a spec in memory is as valid as a file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from dialer.windows import WindowPolicy
from dialer.campaign_checks import CampaignError, Problem, _cross_problems
from dialer.campaign_values import (
    CALL_CHANNELS,
    ChannelName,
    Duration,
    Language,
    OpenSpan,
    Region,
    ReplyKey,
    ReplyOutcome,
    RestSpan,
    Span,
    Text,
    Voice,
    Weekdays,
    Zone,
    _minutes,
    _to_datetime,
    check_country,
    check_cron,
    format_span,
)

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
    service_time_zone: Literal["customer", "trigger"] = Field(
        default="customer",
        description="service_event only: where a service time written without an offset is "
        "read: \"customer\" (the customer's zone: the file's zone column, else the number's) "
        'or "trigger" (this trigger\'s time_zone); a time with an offset (16:00+00:00) is '
        "that instant either way",
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
    no_zone_time_zones: list[Zone] = Field(
        default_factory=list,
        description="a number without a time zone (toll-free) is called only when open in all "
        'of these, e.g. ["America/New_York", "America/Los_Angeles"]; omitted: both ends of '
        "the number's country",
    )

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
    after_complaint: Text | None = Field(
        default=None,
        max_length=1600,
        description="the SMS of the follow-up after a resolved complaint (are you satisfied "
        "now? with the same reply options); the normal text if unset",
    )

    @field_validator("text", "after_complaint")
    @classmethod
    def _mentions_opt_out(cls, value: str | None, info: ValidationInfo) -> str | None:
        keywords = info.data.get("opt_out") or []
        if value and keywords and not any(k.casefold() in value.casefold() for k in keywords):
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
    opt_out: Text | None = Field(
        default=None, description="how to stop our calls (key 9); built-in wording if unset"
    )
    opted_out: Text | None = Field(default=None, description="said after the opt-out key")
    no_input: Text | None = Field(default=None, description="the goodbye after silence")
    when: Text | None = Field(default=None, description="asks for the hour to call back")
    sms: Sms | None = None
    after_complaint: Text | None = Field(
        default=None,
        description="the question asked on the follow-up call after a complaint was resolved, "
        "e.g. we handled your complaint; are you satisfied now? 1/2/3",
    )

    def texts(self) -> Iterable[tuple[str, str]]:
        """Every spoken text in call order, for previews."""
        for name in ("opening", "convenience", "later", "message", "question", "after_complaint"):
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
            "no_zone_zones": tuple(w.no_zone_time_zones),
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
