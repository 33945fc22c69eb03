"""Campaign files: one small, readable TOML file per callback run, validated into a `CampaignSpec`.

`load_campaign(path)` reads and checks one file; `scan_campaigns(folder)` checks every `*.toml` in a
folder without stopping at the first bad one. Every problem names the file (and the line when it
can be found), the field path (`window.hours[1]`) and what is allowed, in one sentence; a file with
problems raises `CampaignError` (a `ConfigError`, exit code 2) listing all of them.

Field checks are done by pydantic; the rules that tie fields together (purpose and consent, kind and
trigger, trigger and deadline, channels and attempts, a voice and its language...) are checked by
`_cross_problems` on the plain data, so they are reported together with the field errors.

One concept per module, this one re-exporting them so that `from dialer.campaigns import ...`
keeps working: `campaign_values` (durations, spans, weekdays, zones, voices), `campaign_model`
(the pydantic models, `CampaignSpec`), `campaign_checks` (cross-field rules, `Problem`,
`CampaignError`) and `campaign_files` (reading, scanning, line numbers).
"""

from __future__ import annotations

from dialer.campaign_checks import (
    KIND_PURPOSE,
    CampaignError,
    Problem,
    _cross_problems,  # noqa: F401  (named in the docstring)
    format_loc,
)
from dialer.campaign_files import (
    DEFAULT_FOLDER,
    CampaignFile,
    campaign_folder,
    load_campaign,
    load_campaigns,
    read_campaign,
    scan_campaigns,
    shipped_folder,
)
from dialer.campaign_model import (
    DEFAULT_ATTEMPTS,
    DEFAULT_RING_TIMEOUT,
    AttemptPolicy,
    Audience,
    AverageBranch,
    Branch,
    Branches,
    CampaignSpec,
    Complaints,
    Deadline,
    Planning,
    ReasonMenu,
    Script,
    Sms,
    Trigger,
    Window,
)
from dialer.campaign_values import (
    CALL_CHANNELS,
    CHANNELS,
    DAYS,
    LANGUAGES,
    PLACEHOLDERS,
    POLLY_VOICES,
    ChannelName,
    Duration,
    Language,
    Loc,
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
    check_country,
    check_cron,
    check_language,
    check_region,
    check_text,
    check_zone,
    format_duration,
    format_span,
    parse_duration,
    parse_weekdays,
    voice_locale,
)

__all__ = [
    "CALL_CHANNELS",
    "CHANNELS",
    "DAYS",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_FOLDER",
    "DEFAULT_RING_TIMEOUT",
    "KIND_PURPOSE",
    "LANGUAGES",
    "PLACEHOLDERS",
    "POLLY_VOICES",
    "AttemptPolicy",
    "Audience",
    "AverageBranch",
    "Branch",
    "Branches",
    "CampaignError",
    "CampaignFile",
    "CampaignSpec",
    "ChannelName",
    "Complaints",
    "Deadline",
    "Duration",
    "Language",
    "Loc",
    "OpenSpan",
    "Planning",
    "Problem",
    "ReasonMenu",
    "Region",
    "ReplyKey",
    "ReplyOutcome",
    "RestSpan",
    "Script",
    "Sms",
    "Span",
    "Text",
    "Trigger",
    "Voice",
    "Weekdays",
    "Window",
    "Zone",
    "campaign_folder",
    "check_country",
    "check_cron",
    "check_language",
    "check_region",
    "check_text",
    "check_zone",
    "format_duration",
    "format_loc",
    "format_span",
    "load_campaign",
    "load_campaigns",
    "parse_duration",
    "parse_weekdays",
    "read_campaign",
    "scan_campaigns",
    "shipped_folder",
    "voice_locale",
]
