"""Campaign files: the shipped ones validate, and every kind of mistake names file, field and fix."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import holidays
import pytest

from dialer.campaigns import (
    CampaignError,
    CampaignSpec,
    load_campaign,
    load_campaigns,
    parse_duration,
    parse_weekdays,
    read_campaign,
    scan_campaigns,
    voice_locale,
)
from dialer.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "campaigns"
AFTER = "after-service-satisfaction"
LUNAR = "lunar-new-year-2027"
REMINDER = "maintenance-reminder"


def variant(tmp_path: Path, slug: str, old: str, new: str) -> Path:
    """A copy of a shipped campaign with one edit, under the same file name."""
    text = (SHIPPED / f"{slug}.toml").read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {slug}.toml"
    target = tmp_path / f"{slug}.toml"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


# ------------------------------------------------------------------------ shipped campaigns


def test_every_shipped_campaign_validates() -> None:
    results = scan_campaigns(SHIPPED)
    assert sorted(r.slug for r in results) == [AFTER, LUNAR, REMINDER]
    for r in results:
        assert r.valid, [p.sentence() for p in r.problems]
    specs = load_campaigns(SHIPPED)
    assert {s.kind for s in specs} == {"after_service", "holiday_greeting", "maintenance_reminder"}


@pytest.mark.parametrize("slug", [AFTER, LUNAR, REMINDER])
def test_definition_is_json_and_round_trips(slug: str) -> None:
    path = SHIPPED / f"{slug}.toml"
    spec = load_campaign(path)
    assert spec.slug == slug
    assert spec.source == str(path)
    assert spec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    definition = json.loads(json.dumps(spec.as_definition(), ensure_ascii=False))
    again = CampaignSpec.from_definition(definition, slug=slug)
    assert again.model_dump() == spec.model_dump()
    assert again.slug == slug


def test_after_service_follows_the_domain_rules() -> None:
    spec = load_campaign(SHIPPED / f"{AFTER}.toml")
    assert (spec.purpose, spec.trigger.type, spec.deadline.days_after_service) == (
        "service",
        "service_event",
        3,
    )
    # The IVR, then an SMS, then a person for the customers neither reached.
    assert spec.channels == ["voice", "sms", "agent"]
    assert spec.attempt_policy("agent").max_attempts == 2
    assert spec.planning.member_coverage_goal == 100
    assert spec.window.skip_holidays is True
    assert set(spec.scripts) == {"zh-TW", "en", "ko"}
    for script in spec.scripts.values():
        assert script.branches is not None and script.reasons is not None
        assert script.branches.average.same_as == "unsatisfied"
        assert script.branches.for_answer("average") == script.branches.unsatisfied
        assert script.sms is not None
        assert sorted(script.sms.replies.values()) == ["average", "satisfied", "unsatisfied"]
        assert "{company}" in script.opening and "{name}" in script.opening
        assert script.question and "{service}" in script.question and "{date}" in script.question
    zh = spec.scripts["zh-TW"]
    assert zh.sms is not None and "退訂" in zh.sms.opt_out
    assert zh.reasons is not None and len(zh.reasons.options) == 5


def test_lunar_new_year_greeting_ends_before_the_new_year_of_the_tw_calendar() -> None:
    spec = load_campaign(SHIPPED / f"{LUNAR}.toml")
    tw = holidays.country_holidays("TW", years=2027)
    new_year = next(d for d, name in sorted(tw.items()) if name == "Chinese New Year")
    assert new_year == date(2027, 2, 6)
    assert spec.purpose == "marketing" and spec.audience.require_consent
    assert spec.audience.members_only and spec.audience.regions == ["TW"]
    assert spec.channels[0] == "sms"
    assert spec.window.skip_holidays is False
    assert spec.trigger.type == "fixed_date" and spec.trigger.start is not None
    assert spec.trigger.start.date() == date(2027, 2, 1)
    deadline = spec.deadline_for()
    assert deadline == datetime(2027, 2, 5, 10, 0, tzinfo=UTC)  # 18:00 in Taipei
    assert deadline.date() < new_year


def test_maintenance_reminder_runs_every_monday_morning() -> None:
    spec = load_campaign(SHIPPED / f"{REMINDER}.toml")
    assert spec.trigger.cron == "0 9 * * mon" and spec.trigger.time_zone == "Asia/Taipei"
    assert spec.audience.last_service_older_than == timedelta(days=180)
    assert spec.audience.mileage_at_least == 5000 and spec.audience.match == "any"
    monday = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert spec.deadline_for(triggered_at=monday) == monday + timedelta(days=5)


# ------------------------------------------------------------------------- every mistake named

# fmt: off
MISTAKES = [
    # (id, campaign, old, new, field, what the sentence must say)
    ("typo", AFTER, 'handle_time = "3m"', 'handle_tme = "3m"', "handle_tme", "did you mean handle_time"),
    ("nested typo", AFTER, "max_attempts = 3", "max_atempts = 3", "attempts.voice.max_atempts", "allowed here"),
    ("span", AFTER, '"13:30-20:30"]', '"13:30-25:00"]', "window.hours[1]", "HH:MM-HH:MM"),
    ("span order", AFTER, '"13:30-20:30"]', '"20:30-13:30"]', "window.hours[1]", "cannot wrap midnight"),
    ("overlap", AFTER, '"13:30-20:30"]', '"11:30-20:30"]', "window.hours", "overlap"),
    ("zone", AFTER, 'default_time_zone = "Asia/Taipei"', 'default_time_zone = "Asia/Taipai"', "default_time_zone", "did you mean Asia/Taipei"),
    ("trigger zone", REMINDER, '\ntime_zone = "Asia/Taipei"', '\ntime_zone = "Taipei"', "trigger.time_zone", "IANA time zone"),
    ("country", AFTER, "skip_holidays = true\n", 'skip_holidays = true\nholiday_country = "XX"\n', "window.holiday_country", "ISO 3166"),
    ("subdivision", AFTER, "skip_holidays = true\n", 'skip_holidays = true\nholiday_country = "US"\nholiday_subdivision = "ZZ"\n', "window.holiday_subdivision", "use one of AK"),
    ("subdivision alone", AFTER, "skip_holidays = true\n", 'skip_holidays = true\nholiday_subdivision = "CA"\n', "window.holiday_subdivision", "needs holiday_country"),
    ("cron digits", REMINDER, '"0 9 * * mon"', '"0 9 * * 1"', "trigger.cron", "mon..sun"),
    ("cron range", REMINDER, '"0 9 * * mon"', '"61 9 * * mon"', "trigger.cron", "not a valid cron expression"),
    ("cron fields", REMINDER, '"0 9 * * mon"', '"0 9 * mon"', "trigger.cron", "5 fields"),
    ("placeholder", AFTER, "這裡是{company}的客服專員", "這裡是{compny}的客服專員", "scripts.zh-TW.opening", "unknown placeholder {compny}"),
    ("brace", AFTER, "Were you satisfied? Reply", "Were you {satisfied? Reply", "scripts.en.sms.text", "unmatched brace"),
    ("branch", AFTER, '[scripts.ko.branches.average]\nsame_as = "unsatisfied"\n', "", "scripts.ko.branches.average", "same_as"),
    ("branch half", AFTER, '[scripts.en.branches.average]\nsame_as = "unsatisfied"\n', '[scripts.en.branches.average]\nclosing = "Bye."\n', "scripts.en.branches.average", "follow_up and closing"),
    ("voice", AFTER, 'voice = "Google.cmn-TW-Standard-A"', 'voice = "Polly.Zhiyu"', "scripts.zh-TW.voice", "use a cmn-TW voice"),
    ("voice ko", AFTER, 'voice = "Google.ko-KR-Standard-A"', 'voice = "Polly.Joanna"', "scripts.ko.voice", "speaks en-US, not ko"),
    ("unknown voice", AFTER, 'voice = "Google.en-US-Standard-C"', 'voice = "Polly.Nobody"', "scripts.en.voice", "not a known Twilio voice"),
    ("consent", LUNAR, "require_consent = true", "require_consent = false", "audience.require_consent", "marketing campaign"),
    ("purpose", LUNAR, 'purpose = "marketing"', 'purpose = "service"', "purpose", 'purpose "marketing"'),
    ("kind", AFTER, 'kind = "after_service"', 'kind = "aftersales"', "kind", "'after_service', 'holiday_greeting'"),
    ("channel", AFTER, 'channels = ["voice", "sms", "agent"]', 'channels = ["voice", "fax", "agent"]', "channels[1]", "'voice', 'sms' or 'agent'"),
    ("weekdays", AFTER, 'weekdays = "mon-sat"', 'weekdays = "mon-sta"', "window.weekdays", "day names"),
    ("duration", AFTER, 'spacing = "2h"', 'spacing = "2 hours"', "attempts.voice.spacing", "90s, 15m, 2h or 3d"),
    ("deadline kind", AFTER, "days_after_service = 3", 'after_trigger = "3d"', "deadline.days_after_service", "days_after_service = 3"),
    ("deadline two", REMINDER, 'after_trigger = "5d"', 'after_trigger = "5d"\nat = 2027-01-01T00:00:00', "deadline", "exactly one"),
    ("deadline order", LUNAR, "at = 2027-02-05T18:00:00", "at = 2027-01-05T18:00:00", "deadline.at", "not after the start"),
    ("fixed needs start", LUNAR, "start = 2027-02-01T10:00:00", "", "trigger.start", "needs it"),
    ("reply", AFTER, '3 = "unsatisfied" }\nopt_out = ["STOP"]', '3 = "angry" }\nopt_out = ["STOP"]', "scripts.en.sms.replies.3", "'callback_requested'"),
    ("opt-out", AFTER, 'opt_out = ["STOP"]\n', 'opt_out = ["QUIT"]\n', "scripts.en.sms.text", "how to opt out"),
    ("opt-out after complaint", AFTER, "3 still unsatisfied. Reply STOP to opt out.", "3 still unsatisfied.", "scripts.en.sms.after_complaint", "how to opt out"),
    ("language", LUNAR, "[scripts.en]", "[scripts.english]", "scripts.english", "zh-TW, zh-CN"),
    ("default language", LUNAR, 'default_language = "zh-TW"', 'default_language = "ja"', "default_language", "has no script"),
    ("no question", AFTER, 'question = "感謝您在{date}', 'message = "感謝您在{date}', "scripts.zh-TW.question", "asks the satisfaction question"),
    ("rest covers all", AFTER, 'rest = ["12:00-13:30", "21:00-09:00"]', 'rest = ["08:00-21:00"]', "window.rest", "never opens"),
    ("attempts channel", REMINDER, 'channels = ["voice", "sms"]', 'channels = ["voice"]', "attempts.sms", "not among the channels"),
    ("sms ring", REMINDER, '[attempts.sms]\nmax_attempts = 1', '[attempts.sms]\nring_timeout = "20s"\nmax_attempts = 1', "attempts.sms.ring_timeout", "does not ring"),
    ("agents first", REMINDER, 'handled_by = "automated"', 'handled_by = "agents"', "channels", '"agent" first'),
    ("coverage", AFTER, "member_coverage_goal = 100", "member_coverage_goal = 120", "planning.member_coverage_goal", "must be at most 100 (got 120)"),
    ("missing table", REMINDER, '[deadline]\nafter_trigger = "5d"\n', "", "deadline", "is missing"),
]
# fmt: on


@pytest.mark.parametrize(
    ("slug", "old", "new", "field", "says"),
    [pytest.param(*m[1:], id=m[0]) for m in MISTAKES],
)
def test_each_mistake_names_file_field_and_what_is_allowed(
    tmp_path: Path, slug: str, old: str, new: str, field: str, says: str | None
) -> None:
    path = variant(tmp_path, slug, old, new)
    result = read_campaign(path)
    assert not result.valid and result.spec is None
    matching = [p for p in result.problems if p.field == field]
    assert matching, [p.sentence() for p in result.problems]
    sentence = matching[0].sentence()
    assert sentence.startswith(f"{path}:") or sentence.startswith(f"{path}: ")
    assert f": {field}: " in sentence
    if says:
        assert says in sentence
    assert "\n" not in sentence
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert isinstance(caught.value, ConfigError) and caught.value.exit_code == 2
    assert str(path) in str(caught.value)


def test_infeasible_sms_needs_an_sms_channel(tmp_path: Path) -> None:
    path = variant(tmp_path, REMINDER, 'channels = ["voice", "sms"]', 'channels = ["voice"]')
    text = path.read_text(encoding="utf-8").replace(
        '[attempts.sms]\nmax_attempts = 1\nspacing = "1d"\n', ""
    )
    path.write_text(text, encoding="utf-8")
    sentences = [p.sentence() for p in read_campaign(path).problems]
    assert any("planning.on_infeasible" in s and '"sms" is not among' in s for s in sentences)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = variant(tmp_path, AFTER, 'handle_time = "3m"', 'handle_time = 3m"')
    line = next(
        n
        for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if text.startswith("handle_time")
    )
    [problem] = read_campaign(path).problems
    assert problem.line == line
    assert problem.sentence().startswith(f"{path}:{line}: not valid TOML: ")
    assert "column" in problem.sentence()


def test_field_errors_carry_the_line_of_the_key(tmp_path: Path) -> None:
    path = variant(tmp_path, AFTER, '"13:30-20:30"]', '"13:30-25:00"]')
    lines = path.read_text(encoding="utf-8").splitlines()
    [problem] = read_campaign(path).problems
    assert problem.line is not None and lines[problem.line - 1].startswith("hours = ")
    assert problem.sentence().startswith(f"{path}:{problem.line}: window.hours[1]: ")


def test_all_problems_of_a_file_are_listed_together(tmp_path: Path) -> None:
    path = variant(tmp_path, LUNAR, 'handle_time = "1m"', 'handle_time = "1 minute"')
    text = path.read_text(encoding="utf-8")
    text = text.replace("require_consent = true", "require_consent = false")
    text = text.replace('voice = "Google.en-US-Standard-C"', 'voice = "Polly.Seoyeon"')
    path.write_text(text, encoding="utf-8")
    fields = {p.field for p in read_campaign(path).problems}
    assert {"handle_time", "audience.require_consent", "scripts.en.voice"} <= fields
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert len(caught.value.problems) == len(fields)
    assert "more problems" in str(caught.value) and "dialer campaign validate" in str(caught.value)


def test_folder_errors_cover_every_file(tmp_path: Path) -> None:
    variant(tmp_path, AFTER, 'kind = "after_service"', 'kind = "x"')
    (tmp_path / "broken.toml").write_text("name = \n", encoding="utf-8")
    with pytest.raises(CampaignError) as caught:
        load_campaigns(tmp_path)
    files = {Path(p.file or "").name for p in caught.value.problems}
    assert files == {f"{AFTER}.toml", "broken.toml"}
    with pytest.raises(ConfigError, match="does not exist"):
        scan_campaigns(tmp_path / "nowhere")


def test_file_name_must_be_a_slug(tmp_path: Path) -> None:
    bad = tmp_path / "After Service.toml"
    bad.write_bytes((SHIPPED / f"{AFTER}.toml").read_bytes())
    [problem] = read_campaign(bad).problems
    assert "lower-case letters, digits and hyphens" in problem.sentence()
    [missing] = read_campaign(tmp_path / "gone.toml").problems
    assert missing.sentence() == f"{tmp_path / 'gone.toml'}: there is no such file"


def test_cross_rules_hold_for_direct_construction_too() -> None:
    definition = load_campaign(SHIPPED / f"{LUNAR}.toml").as_definition()
    definition["audience"]["require_consent"] = False
    with pytest.raises(CampaignError, match=r"audience\.require_consent: a marketing campaign"):
        CampaignSpec.model_validate(definition)


# ------------------------------------------------------------------------------ the window


def test_window_policy_args_map_the_file() -> None:
    spec = load_campaign(SHIPPED / f"{AFTER}.toml")
    args = spec.window_policy_args()
    assert args == {
        "weekdays": frozenset(range(6)),
        "hours": ((time(9), time(12)), (time(13, 30), time(20, 30))),
        "rest": ((time(12), time(13, 30)), (time(21), time(9))),
        "purpose": "service",
        "skip_holidays": True,
        "holiday_country": None,
        "holiday_subdivision": None,
        "default_zone": "Asia/Taipei",
        "no_zone_zones": (),
        "min_open": timedelta(seconds=30) + timedelta(minutes=3),
    }
    assert spec.window_policy_args(min_open=timedelta(minutes=1))["min_open"] == timedelta(
        minutes=1
    )
    assert spec.min_open(queueing=timedelta(seconds=20)) == timedelta(seconds=230)


def test_window_policy_builds_the_windows_dataclass() -> None:
    from dialer.windows import Reachee, WindowPolicy, is_open

    spec = load_campaign(SHIPPED / f"{AFTER}.toml")
    policy = spec.window_policy(min_open=timedelta(0))
    assert isinstance(policy, WindowPolicy)
    assert policy.hours == ((time(9), time(12)), (time(13, 30), time(20, 30)))
    assert policy.holiday_country is None and policy.purpose == "service"
    who = Reachee(time_zones=("Asia/Taipei",), region="TW")
    taipei = datetime(2026, 11, 23, 10, 0, tzinfo=UTC) - timedelta(hours=8)  # Mon 10:00 local
    assert is_open(who, policy, taipei)
    assert not is_open(who, policy, taipei + timedelta(hours=2, minutes=30))  # 12:30 lunch rest
    assert not is_open(who, policy, taipei + timedelta(days=6))  # Sunday
    lunar = load_campaign(SHIPPED / f"{LUNAR}.toml").window_policy()
    assert lunar.purpose == "marketing" and lunar.skip_holidays is False
    assert lunar.holiday_country == "TW" and lunar.weekdays == frozenset(range(7))


# ---------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon-fri,sun", {0, 1, 2, 3, 4, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        (["Monday", "wed"], {0, 2}),
        ("sat", {5}),
    ],
)
def test_weekdays(text: object, days: set[int]) -> None:
    assert parse_weekdays(text) == frozenset(days)


@pytest.mark.parametrize("bad", ["0-4", "weekdays", [1, 2], "", "mon-tue-wed"])
def test_weekdays_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="day names"):
        parse_weekdays(bad)


def test_durations() -> None:
    assert parse_duration("3d") == timedelta(days=3)
    assert parse_duration("1d12h") == timedelta(days=1, hours=12)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("15m") == timedelta(minutes=15)
    for bad in ("3", "6 months", "2w", ""):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_open_hours_may_end_at_midnight_and_rest_may_wrap(tmp_path: Path) -> None:
    path = variant(tmp_path, AFTER, '"13:30-20:30"]', '"13:30-00:00"]')
    path.write_text(
        path.read_text(encoding="utf-8").replace('"21:00-09:00"]', '"22:00-00:00", "00:00-09:00"]'),
        encoding="utf-8",
    )
    spec = load_campaign(path)
    assert spec.window.hours[1] == (time(13, 30), time(0))
    assert spec.as_definition()["window"]["hours"] == ["09:00-12:00", "13:30-00:00"]


def test_voice_locales() -> None:
    assert voice_locale("Google.cmn-TW-Standard-A") == "cmn-TW"
    assert voice_locale("Google.en-US-Chirp3-HD-Aoede") == "en-US"
    assert voice_locale("Polly.Zhiyu") == "cmn-CN"
    assert voice_locale("Polly.Joanna-Neural") == "en-US"
    assert voice_locale("Polly.Seoyeon") == "ko-KR"
    with pytest.raises(ValueError, match="not a known Twilio voice"):
        voice_locale("alice")


def test_script_for_a_customer_language() -> None:
    spec = load_campaign(SHIPPED / f"{AFTER}.toml")
    assert spec.script_for("ko-KR")[0] == "ko"
    assert spec.script_for("en_US")[0] == "en"
    assert spec.script_for("zh-TW")[0] == "zh-TW"
    assert spec.script_for("zh-CN")[0] == "zh-TW"  # no zh-CN script: the default, never by base
    assert spec.script_for("ja")[0] == "zh-TW"
    assert spec.script_for(None)[0] == "zh-TW"


def test_after_service_deadline_is_the_earliest_end_of_day() -> None:
    spec = load_campaign(SHIPPED / f"{AFTER}.toml")
    served = date(2026, 11, 20)
    assert spec.deadline_for(service_date=served) == datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC)
    both = spec.deadline_for(service_date=served, zones=("America/New_York", "Asia/Taipei"))
    assert both == datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC)
    with pytest.raises(ValueError, match="service date"):
        spec.deadline_for()


def test_attempt_policy_defaults() -> None:
    spec = load_campaign(SHIPPED / f"{LUNAR}.toml")
    assert spec.attempt_policy("voice").ring_timeout == timedelta(seconds=25)
    assert spec.attempt_policy("sms").ring_timeout is None
    assert spec.attempt_policy("agent").ring_timeout == timedelta(seconds=30)
    assert spec.min_open() == timedelta(seconds=25) + timedelta(minutes=1)
