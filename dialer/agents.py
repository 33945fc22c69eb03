"""The agent registry (客服專員): add, update, (de)activate, list, and import agents from a file.

Agents come from `dialer agents add` or from a CSV/TOML file (`load_agents_file` +
`import_agents`, all rows in one transaction: a file with any bad row writes nothing).

Schema adapter: the `agents` table has no columns yet for skills (campaign kinds), working hours,
working days or time zone. `AgentProfile` / `profile_of` read them with `getattr` and fall back
to the defaults below (all kinds; Mon–Fri 09:00–18:00 Asia/Taipei), and `_store_pending`
writes them only when the model has the attribute — so once a migration adds the columns
(`skills` JSON, `work_start`/`work_end` time strings, `work_days` JSON, `time_zone`) they are
stored and read with no change here beyond removing this note.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any, Final, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer import audit
from dialer.campaigns import CampaignSpec
from dialer.clock import Clock
from dialer.errors import InputFileError, NotFoundError, PhoneError, UsageError
from dialer.models import Agent, AgentRole
from dialer.phones import parse_phone

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_HOURS",
    "DEFAULT_TIME_ZONE",
    "KINDS",
    "AgentFileError",
    "AgentProfile",
    "AgentSpec",
    "ImportAgentsResult",
    "add_agent",
    "find_agent",
    "import_agents",
    "list_agents",
    "load_agents_file",
    "parse_days",
    "parse_hours",
    "parse_languages",
    "parse_skills",
    "profile_of",
    "set_active",
    "update_agent",
]

KINDS: Final[frozenset[str]] = frozenset(get_args(CampaignSpec.model_fields["kind"].annotation))
DEFAULT_HOURS: Final = (time(9, 0), time(18, 0))
DEFAULT_DAYS: Final = frozenset(range(5))  # Monday=0 .. Friday=4
DEFAULT_TIME_ZONE: Final = "Asia/Taipei"
DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_LANG = re.compile(r"^([A-Za-z]{2,3})((?:-[A-Za-z0-9]{2,8})*)$")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_TRUE = frozenset({"1", "true", "yes", "y", "active", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "inactive", "off"})


# --- the schema adapter --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """What assignment and the capacity check need beyond the agents table's current columns."""

    skills: frozenset[str] | None = None
    """Campaign kinds the agent handles; None means every kind."""
    hours: tuple[time, time] = DEFAULT_HOURS
    days: frozenset[int] = DEFAULT_DAYS
    time_zone: str = DEFAULT_TIME_ZONE


def profile_of(agent: Agent) -> AgentProfile:
    """The agent's skills, hours, days and zone: from columns when they exist, else the defaults."""
    skills = getattr(agent, "skills", None)
    start = getattr(agent, "work_start", None)
    end = getattr(agent, "work_end", None)
    days = getattr(agent, "work_days", None)
    zone = getattr(agent, "time_zone", None)
    return AgentProfile(
        skills=frozenset(skills) if skills else None,
        hours=(_as_time(start), _as_time(end)) if start and end else DEFAULT_HOURS,
        days=frozenset(int(d) for d in days) if days else DEFAULT_DAYS,
        time_zone=str(zone) if zone else DEFAULT_TIME_ZONE,
    )


def pending_columns() -> list[str]:
    """Profile columns the agents table does not have yet (shown by the CLI as a warning)."""
    return [
        c
        for c in ("skills", "work_start", "work_end", "work_days", "time_zone")
        if not hasattr(Agent, c)
    ]


def _store_pending(agent: Agent, profile: AgentProfile) -> None:
    """Write the profile to the columns that exist; a no-op for the ones still missing."""
    values: dict[str, Any] = {
        "skills": sorted(profile.skills) if profile.skills is not None else None,
        "work_start": profile.hours[0].strftime("%H:%M"),
        "work_end": profile.hours[1].strftime("%H:%M"),
        "work_days": sorted(profile.days),
        "time_zone": profile.time_zone,
    }
    for name, value in values.items():
        if hasattr(Agent, name):
            setattr(agent, name, value)


def _as_time(value: object) -> time:
    if isinstance(value, time):
        return value
    hh, mm = str(value).split(":")[:2]
    return time(int(hh), int(mm))


# --- field parsing (shared by the CLI and the file loader) ---------------------------------


def parse_languages(value: str | Iterable[str] | None) -> list[str]:
    """'zh-TW, en' or a list → normalised tags ['zh-TW', 'en']; primary lower, region upper."""
    items = _items(value)
    out: list[str] = []
    for item in items:
        m = _LANG.match(item)
        if not m:
            raise UsageError(f"{item!r} is not a language tag such as zh-TW, ko or en")
        subtags = [s for s in m.group(2).split("-") if s]
        norm = "-".join(
            [m.group(1).lower(), *(s.upper() if len(s) == 2 else s.title() for s in subtags)]
        )
        if norm not in out:
            out.append(norm)
    return out


def parse_skills(value: str | Iterable[str] | None) -> frozenset[str] | None:
    """'after_service,promotion' → those kinds; empty or 'all' → None (every kind)."""
    items = [i.lower() for i in _items(value)]
    if not items or items == ["all"]:
        return None
    unknown = sorted(set(items) - KINDS)
    if unknown:
        raise UsageError(
            f"unknown skill(s) {', '.join(unknown)}; skills are campaign kinds: "
            f"{', '.join(sorted(KINDS))}"
        )
    return frozenset(items)


def parse_hours(value: str | None) -> tuple[time, time]:
    """'09:00-18:00' → (09:00, 18:00); the end must be after the start."""
    if value is None or not str(value).strip():
        return DEFAULT_HOURS
    m = _HOURS.match(str(value))
    if not m:
        raise UsageError(f"working hours {value!r} must look like 09:00-18:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise UsageError(f"working hours {value!r} are not times of day")
    start, end = time(h1, m1), time(23, 59) if h2 == 24 else time(h2, m2)
    if end <= start:
        raise UsageError(f"working hours {value!r} end before they start")
    return start, end


def parse_days(value: str | Iterable[str] | None) -> frozenset[int]:
    """'mon-fri', 'mon,wed,sat' or 'mon-fri,sun' → weekday numbers (Monday = 0)."""
    items = [i.lower()[:3] if "-" not in i else i.lower() for i in _items(value)]
    if not items:
        return DEFAULT_DAYS
    days: set[int] = set()
    for item in items:
        first, sep, last = item.partition("-")
        try:
            a = DAY_NAMES.index(first.strip()[:3])
            b = DAY_NAMES.index(last.strip()[:3]) if sep else a
        except ValueError:
            raise UsageError(f"working days {item!r} must be like mon-fri or mon,wed,sat") from None
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
    return frozenset(days)


def parse_time_zone(value: str | None) -> str:
    if value is None or not str(value).strip():
        return DEFAULT_TIME_ZONE
    name = str(value).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"{name!r} is not an IANA time zone such as Asia/Taipei") from None
    return name


def parse_phone_e164(value: str | None, region: str) -> str | None:
    if value is None or not str(value).strip():
        return None
    try:
        return parse_phone(str(value), region).e164
    except PhoneError as exc:
        raise UsageError(f"phone: {exc.reason}") from None


def _items(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    raw = re.split(r"[,;/\s]+", value) if isinstance(value, str) else [str(v) for v in value]
    return [r.strip() for r in raw if r and r.strip()]


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text == "":
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"active {value!r} must be yes or no")


# --- the registry --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """One agent as given on the command line or in a file row, already validated."""

    username: str
    display_name: str
    phone_e164: str | None = None
    languages: tuple[str, ...] = ()
    daily_capacity: int = 60
    skill: int = 1
    profile: AgentProfile = field(default_factory=AgentProfile)
    active: bool = True
    role: str = AgentRole.AGENT


def _check_username(username: str) -> str:
    username = username.strip()
    if not _USERNAME.match(username):
        raise UsageError(f"username {username!r} must be letters, digits, . _ @ - (max 80)")
    return username


def _check_numbers(daily_capacity: int, skill: int) -> None:
    if not 1 <= daily_capacity <= 10_000:
        raise UsageError(f"daily capacity {daily_capacity} must be between 1 and 10000 tasks")
    if not 1 <= skill <= 10:
        raise UsageError(f"skill level {skill} must be between 1 and 10")


def find_agent(session: Session, username: str) -> Agent:
    agent = session.scalars(select(Agent).where(Agent.username == username.strip())).first()
    if agent is None:
        raise NotFoundError(f"there is no agent {username!r}")
    return agent


def add_agent(session: Session, clock: Clock, spec: AgentSpec, *, actor: str) -> Agent:
    """Add one agent (in the caller's transaction); a taken username is a UsageError."""
    _check_username(spec.username)
    _check_numbers(spec.daily_capacity, spec.skill)
    if session.scalars(select(Agent.id).where(Agent.username == spec.username)).first():
        raise UsageError(f"agent {spec.username!r} already exists; use `agents import` to update")
    agent = Agent(username=spec.username, created_at=clock.now())
    _apply(agent, spec)
    session.add(agent)
    session.flush()
    audit.record(session, clock, actor, "agent_add", "agent", agent.id, **_audit_detail(spec))
    return agent


def update_agent(
    session: Session, clock: Clock, username: str, *, actor: str, **changes: Any
) -> Agent:
    """Change some fields of an agent (AgentSpec field names); the audit log gets the new values."""
    agent = find_agent(session, username)
    current = _spec_of(agent)
    unknown = set(changes) - set(AgentSpec.__dataclass_fields__) - {"username"}
    if unknown:
        raise UsageError(f"cannot change {', '.join(sorted(unknown))} of an agent")
    spec = replace(current, **changes)
    _check_numbers(spec.daily_capacity, spec.skill)
    _apply(agent, spec)
    audit.record(session, clock, actor, "agent_update", "agent", agent.id, changed=sorted(changes))
    return agent


def set_active(session: Session, clock: Clock, username: str, active: bool, *, actor: str) -> Agent:
    """Activate or deactivate; deactivated agents' tasks move on the next `rebalance`."""
    agent = find_agent(session, username)
    if agent.active != active:
        agent.active = active
        audit.record(
            session,
            clock,
            actor,
            "agent_activate" if active else "agent_deactivate",
            "agent",
            agent.id,
        )
    return agent


def list_agents(session: Session, *, include_inactive: bool = True) -> Sequence[Agent]:
    query = select(Agent).order_by(Agent.username)
    if not include_inactive:
        query = query.where(Agent.active.is_(True))
    return session.scalars(query).all()


def _apply(agent: Agent, spec: AgentSpec) -> None:
    agent.display_name = spec.display_name
    agent.phone_e164 = spec.phone_e164
    agent.languages = list(spec.languages)
    agent.daily_capacity = spec.daily_capacity
    agent.skill = spec.skill
    agent.active = spec.active
    agent.role = spec.role
    _store_pending(agent, spec.profile)


def _spec_of(agent: Agent) -> AgentSpec:
    return AgentSpec(
        username=agent.username,
        display_name=agent.display_name,
        phone_e164=agent.phone_e164,
        languages=tuple(agent.languages or ()),
        daily_capacity=agent.daily_capacity,
        skill=agent.skill,
        profile=profile_of(agent),
        active=agent.active,
        role=agent.role,
    )


def _audit_detail(spec: AgentSpec) -> dict[str, Any]:
    """What changed, without the agent's phone number (masked elsewhere; not needed here)."""
    p = spec.profile
    return {
        "languages": list(spec.languages),
        "daily_capacity": spec.daily_capacity,
        "skill": spec.skill,
        "skills": sorted(p.skills) if p.skills is not None else "all",
        "hours": f"{p.hours[0]:%H:%M}-{p.hours[1]:%H:%M}",
        "days": [DAY_NAMES[d] for d in sorted(p.days)],
        "time_zone": p.time_zone,
        "active": spec.active,
        "has_phone": spec.phone_e164 is not None,
    }


# --- files ---------------------------------------------------------------------------------


class AgentFileError(InputFileError):
    """An agents file has bad rows; nothing was written. `problems` = [(row, reason), ...]."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        shown = "; ".join(f"row {row}: {reason}" for row, reason in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(
            f"{source} has {len(problems)} bad row(s), nothing was imported: {shown}{more}"
        )


@dataclass(frozen=True, slots=True)
class ImportAgentsResult:
    added: list[str]
    updated: list[str]


FILE_COLUMNS: Final = (
    "username",
    "name",
    "phone",
    "languages",
    "skills",
    "daily_capacity",
    "skill",
    "hours",
    "days",
    "time_zone",
    "active",
)
_ALIASES: Final = {
    "display_name": "name",
    "capacity": "daily_capacity",
    "skill_level": "skill",
    "working_hours": "hours",
    "working_days": "days",
    "timezone": "time_zone",
    "tz": "time_zone",
    "phone_number": "phone",
}


def load_agents_file(path: Path, *, default_region: str = "TW") -> list[AgentSpec]:
    """Read and validate every row of a CSV or TOML agents file; any bad row → AgentFileError.

    CSV: a header row (FILE_COLUMNS; username and name required), rows numbered as a
    spreadsheet shows them (header = row 1). TOML: `[[agents]]` tables, numbered from 1.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror}") from exc
    rows: list[tuple[int, Mapping[str, Any]]]
    if path.suffix.lower() == ".toml":
        try:
            doc = tomllib.loads(data.decode("utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputFileError(f"{path.name} is not valid TOML: {exc}") from exc
        entries = doc.get("agents", doc.get("agent"))
        if not isinstance(entries, list):
            raise InputFileError(f"{path.name} has no [[agents]] tables")
        rows = [(i, e if isinstance(e, dict) else {}) for i, e in enumerate(entries, 1)]
    elif path.suffix.lower() in (".csv", ".txt"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{path.name} is not UTF-8 text") from exc
        reader = csv.DictReader(io.StringIO(text))
        headers = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [
            c for c in ("username", "name") if c not in {_ALIASES.get(h, h) for h in headers}
        ]
        if missing:
            raise InputFileError(f"{path.name} lacks the column(s) {', '.join(missing)}")
        rows = [(reader.line_num, r) for r in reader]
    else:
        raise InputFileError(f"{path.name}: agents files are .csv or .toml")
    specs: list[AgentSpec] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for number, raw in rows:
        try:
            spec = _row_spec(raw, default_region)
        except UsageError as exc:
            problems.append((number, str(exc)))
            continue
        if spec.username in seen:
            problems.append(
                (number, f"username {spec.username!r} repeats row {seen[spec.username]}")
            )
            continue
        seen[spec.username] = number
        specs.append(spec)
    if problems:
        raise AgentFileError(path.name, problems)
    return specs


def _row_spec(raw: Mapping[str, Any], default_region: str) -> AgentSpec:
    row: dict[str, Any] = {}
    for key, value in raw.items():
        if key is None:
            raise UsageError("the row has more cells than the header")
        name = _ALIASES.get(key.strip().lower(), key.strip().lower())
        row[name] = value.strip() if isinstance(value, str) else value
    username = _check_username(str(row.get("username") or ""))
    name = str(row.get("name") or "").strip()
    if not name:
        raise UsageError("name is empty")
    try:
        capacity = int(row.get("daily_capacity") or 60)
        skill = int(row.get("skill") or 1)
    except (TypeError, ValueError):
        raise UsageError("daily_capacity and skill must be whole numbers") from None
    _check_numbers(capacity, skill)
    languages = parse_languages(row.get("languages"))
    if not languages:
        raise UsageError("languages is empty (e.g. zh-TW,en)")
    return AgentSpec(
        username=username,
        display_name=name,
        phone_e164=parse_phone_e164(row.get("phone"), default_region),
        languages=tuple(languages),
        daily_capacity=capacity,
        skill=skill,
        profile=AgentProfile(
            skills=parse_skills(row.get("skills")),
            hours=parse_hours(row.get("hours")),
            days=parse_days(row.get("days")),
            time_zone=parse_time_zone(row.get("time_zone")),
        ),
        active=_parse_bool(row.get("active", True)),
    )


def import_agents(
    session: Session, clock: Clock, specs: Sequence[AgentSpec], *, actor: str
) -> ImportAgentsResult:
    """Add new agents and update existing ones (by username), in the caller's one transaction."""
    existing = {
        a.username: a
        for a in session.scalars(
            select(Agent).where(Agent.username.in_([s.username for s in specs]))
        )
    }
    added: list[str] = []
    updated: list[str] = []
    for spec in specs:
        agent = existing.get(spec.username)
        if agent is None:
            agent = Agent(username=spec.username, created_at=clock.now())
            session.add(agent)
            added.append(spec.username)
        else:
            updated.append(spec.username)
        _apply(agent, spec)
    session.flush()
    audit.record(
        session, clock, actor, "agents_import", "agent", None, added=added, updated=updated
    )
    return ImportAgentsResult(added=added, updated=updated)
