"""One capacity model: can the planned work be done before its deadlines, and if not, how much more?

`dialer plan`, `assign.capacity_check` and coverage's at-risk (`dialer.capacity_risk`, run by the
slack refresh: which open tasks the capacity cannot reach) all ask this; the answer lives here
only.

- **Demand** is tasks grouped into classes: (language, the customer's calling window, deadline,
  member). A class's work is tasks × expected attempts × handle time (agents), or tasks ×
  expected attempts ÷ calls per second (the automated dispatcher).
- An automated campaign whose channels end with "agent" also needs agents for the share of its
  tasks expected to miss every channel before them (`fallback_share`): that work is judged on
  the agents as an agent campaign's is, and counted in the verdict's agent-hour fields.
- **Supply** is servers: groups of identical agents (their working hours and days in their own
  zone, each capped per local day at daily_capacity × handle time, with their languages and
  skills), or the dispatcher, always on.
- Time is cut into 15-minute slots from `now`. A class can use a server's slot only for the part
  in which both are open (the smaller of the two fractions: exact for hours written on quarter
  hours), only before its deadline, and only when the server speaks its language.
- Classes are served earliest deadline first, each taking the earliest slots it may use (exact
  when the windows coincide, where EDF meets every deadline whenever any order can; a close,
  greedy approximation when they differ); whatever stays unserved is the shortfall: the
  agent-hours to add, per language, because a Korean-speaking shortfall is not fixed by
  Mandarin speakers. They help only inside the customers' windows before the deadlines, which
  the verdict's basis says. Members are checked on their own too, since covering every member is
  the rule that must hold. `members_first` serves every member class before any other (the
  dispatcher's and the assignment's order), and `unmet_by_class` says what each class missed.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dialer.agents import AgentProfile
from dialer.balance import AgentInfo, language_matches
from dialer.campaigns import CampaignSpec
from dialer.windows import Reachee, open_intervals

__all__ = [
    "ANSWER_RATE",
    "AUTOMATED_CPS",
    "SLOT",
    "SMS_REPLY_RATE",
    "CapacityCheck",
    "CapacityVerdict",
    "Demand",
    "PlanLoad",
    "Server",
    "Shortfall",
    "Supply",
    "calls_left",
    "campaign_supply",
    "capacity_check",
    "expected_attempts",
    "fallback_share",
    "plan_capacity",
    "shared_hours",
    "shortfall",
    "working_spans",
]

# The sandbox's default customers (docs/definitions.md): 65% of calls answered by a person, 40%
# of SMS replied.
ANSWER_RATE = 0.65
SMS_REPLY_RATE = 0.40
AUTOMATED_CPS = 1.0  # Twilio's default calls per second for an account

SLOT = timedelta(minutes=15)
_SLOT_S = SLOT.total_seconds()
_EPS = 1e-9

Interval = tuple[datetime, datetime]
WindowFn = Callable[[Any, datetime, datetime], Sequence[Interval]]


@dataclass(frozen=True, slots=True)
class Demand:
    """One class of tasks: same language, same calling window (`who`), same deadline."""

    language: str | None
    who: Any  # the customer's window key (a windows.Reachee); None = always open
    deadline: datetime
    member: bool
    hours: float  # work in server-hours


@dataclass(frozen=True, slots=True)
class Server:
    """`count` identical agents (or the dispatcher: no languages, no hours, no daily cap)."""

    count: int
    speaks: Callable[[str | None], bool]
    spans: Callable[[datetime, datetime], list[Interval]] | None = None  # None: always on
    daily_hours: float | None = None  # cap per agent per local day
    zone: str = "UTC"  # where "a day" is counted


@dataclass
class Shortfall:
    required: float = 0.0
    available: float = 0.0
    unmet: float = 0.0
    unmet_members: float = 0.0
    by_language: dict[str, float] = field(default_factory=dict)
    binding_deadline: datetime | None = None
    unmet_by_class: list[float] = field(default_factory=list)  # per Demand, in the order given


@dataclass
class CapacityVerdict:
    """What `dialer plan` says about capacity (JSON keys are part of the plan's output)."""

    verdict: str
    required_agent_hours: float
    available_agent_hours: float
    shortfall_agent_hours: float
    basis: str
    members_shortfall_agent_hours: float = 0.0
    shortfall_by_language: dict[str, float] = field(default_factory=dict)
    binding_deadline: datetime | None = None
    dispatch: dict[str, float] | None = None  # automated campaigns: dispatcher hours
    fallback: dict[str, Any] | None = None
    """Automated campaigns whose channels end with "agent": the agents' part (the agent-hour
    fields above then count it)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "sufficient": self.verdict == "sufficient",
            "required_agent_hours": round(self.required_agent_hours, 2),
            "available_agent_hours": round(self.available_agent_hours, 2),
            "shortfall_agent_hours": round(self.shortfall_agent_hours, 2),
            "members_shortfall_agent_hours": round(self.members_shortfall_agent_hours, 2),
            "shortfall_by_language": {
                k: round(v, 2) for k, v in sorted(self.shortfall_by_language.items())
            },
            "binding_deadline": self.binding_deadline.isoformat()
            if self.binding_deadline
            else None,
            "dispatch": {k: round(v, 2) for k, v in self.dispatch.items()}
            if self.dispatch is not None
            else None,
            "agent_fallback": self.fallback,
            "basis": self.basis,
        }


def working_spans(
    hours: tuple[Any, Any], days: Iterable[int], zone: str, start: datetime, end: datetime
) -> list[Interval]:
    """An agent's working intervals (local hours on local working days) within [start, end)."""
    tz = ZoneInfo(zone)
    wanted = frozenset(days)
    day: date = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    spans: list[Interval] = []
    while day <= last:
        if day.weekday() in wanted:
            s = datetime.combine(day, hours[0], tz).astimezone(UTC)
            e = datetime.combine(day, hours[1], tz).astimezone(UTC)
            if e <= s:  # a shift past midnight
                e = datetime.combine(day + timedelta(days=1), hours[1], tz).astimezone(UTC)
            s, e = max(s, start), min(e, end)
            if e > s:
                spans.append((s, e))
        day += timedelta(days=1)
    return spans


def _fractions(intervals: Iterable[Interval], now: datetime, slots: int) -> dict[int, float]:
    """Slot index -> open fraction of that slot."""
    out: dict[int, float] = defaultdict(float)
    for a, b in intervals:
        s = (a - now).total_seconds()
        e = (b - now).total_seconds()
        i = max(0, int(s // _SLOT_S))
        while i < slots and i * _SLOT_S < e:
            lo, hi = max(s, i * _SLOT_S), min(e, (i + 1) * _SLOT_S)
            if hi > lo:
                out[i] += (hi - lo) / _SLOT_S
            i += 1
    return out


def shared_hours(
    a: Iterable[Interval], b: Iterable[Interval], now: datetime, end: datetime
) -> tuple[float, datetime | None]:
    """Hours in [now, end) when both `a` and `b` are open, counted in the model's 15-minute slots
    (the smaller open fraction of each slot, as `shortfall` lets a class use a server), and the
    start of the first slot they share (None when they never do): assignment's reach test."""
    if end <= now:
        return 0.0, None
    slots = max(1, math.ceil((end - now) / SLOT))
    fa, fb = _fractions(a, now, slots), _fractions(b, now, slots)
    total, first = 0.0, None
    for i in sorted(fa):
        both = min(fa[i], fb.get(i, 0.0))
        if both > _EPS:
            total += both
            if first is None:
                first = now + SLOT * i
    return total * _SLOT_S / 3600, first


def shortfall(
    demand: Iterable[Demand],
    servers: Sequence[Server],
    now: datetime,
    window: WindowFn,
    *,
    members_first: bool = False,
) -> Shortfall:
    """Serve every class earliest deadline first; what stays unserved is the shortfall.

    `window(who, start, end)` gives the open intervals of a class's calling window.
    `members_first` serves every member class (earliest deadline first) before any non-member
    one: the dispatcher's claim order and the assignment's (docs/definitions.md's priority), used to
    say *which* tasks capacity cannot reach (`dialer.capacity_risk`); the plan's verdict keeps plain
    EDF (members first among equal deadlines), where EDF fits whenever any order can.
    `unmet_by_class` is aligned with `demand` as given.
    """
    given = list(demand)

    def order(i: int) -> tuple[Any, ...]:
        d = given[i]
        return (not d.member, d.deadline) if members_first else (d.deadline, not d.member)

    positions = sorted((i for i, d in enumerate(given) if d.hours > 0), key=order)
    classes = [given[i] for i in positions]
    result = Shortfall(required=sum(d.hours for d in classes), unmet_by_class=[0.0] * len(given))
    if not classes:
        return result
    horizon = max(max(d.deadline for d in classes), now)
    slots = max(1, math.ceil((horizon - now) / SLOT))
    slot_h = _SLOT_S / 3600
    # Per server: its open fraction per slot, and the local day of each slot (for the daily cap).
    fracs: list[dict[int, float]] = []
    by_zone: dict[str, list[int]] = {}
    days: list[list[int]] = []
    for sv in servers:
        if sv.spans is None:
            fracs.append(dict.fromkeys(range(slots), 1.0))
        else:
            fracs.append(_fractions(sv.spans(now, horizon), now, slots))
        if sv.zone not in by_zone:
            tz = ZoneInfo(sv.zone)
            by_zone[sv.zone] = [(now + SLOT * i).astimezone(tz).toordinal() for i in range(slots)]
        days.append(by_zone[sv.zone])
    windows: dict[tuple[Any, datetime], dict[int, float]] = {}

    def class_fracs(d: Demand) -> dict[int, float]:
        key = (d.who, d.deadline)
        if key not in windows:
            if d.who is None:
                ivs: Sequence[Interval] = [(now, d.deadline)]
            else:
                ivs = window(d.who, now, d.deadline) if d.deadline > now else []
            windows[key] = _fractions(ivs, now, slots)
        return windows[key]

    def run(
        only_members: bool,
    ) -> tuple[float, dict[str, float], datetime | None, float, list[float]]:
        left = [
            {i: f * sv.count * slot_h for i, f in fr.items()}
            for sv, fr in zip(servers, fracs, strict=True)
        ]
        day_left: list[dict[int, float]] = [{} for _ in servers]
        unmet_total = 0.0
        unmet_lang: defaultdict[str, float] = defaultdict(float)
        binding: datetime | None = None
        usable: list[dict[int, float]] = [
            {} for _ in servers
        ]  # slots any class could use (for "available")
        each = [0.0] * len(classes)
        for pos, d in enumerate(classes):
            if only_members and not d.member:
                continue
            need = d.hours
            cf = class_fracs(d)
            eligible = [k for k, sv in enumerate(servers) if sv.speaks(d.language)]
            for i in sorted(cf):
                for k in eligible:
                    if cf[i] > usable[k].get(i, 0.0):
                        usable[k][i] = cf[i]
                    if need <= _EPS:
                        continue
                    sv = servers[k]
                    room = left[k].get(i, 0.0)
                    if room <= _EPS:
                        continue
                    take = min(need, room, min(cf[i], fracs[k].get(i, 0.0)) * sv.count * slot_h)
                    if sv.daily_hours is not None:
                        day = days[k][i]
                        cap = day_left[k].setdefault(day, sv.daily_hours * sv.count)
                        take = min(take, cap)
                        day_left[k][day] = cap - take
                    if take > 0:
                        left[k][i] = room - take
                        need -= take
            if need > _EPS:
                each[pos] = need
                unmet_total += need
                unmet_lang[d.language or "any"] += need
                binding = d.deadline if binding is None else min(binding, d.deadline)
        available = 0.0
        for k, sv in enumerate(servers):
            per_day: dict[int, float] = defaultdict(float)
            for i, f in usable[k].items():
                per_day[days[k][i]] += min(f, fracs[k].get(i, 0.0)) * sv.count * slot_h
            for hours in per_day.values():
                cap = sv.daily_hours * sv.count if sv.daily_hours is not None else hours
                available += min(hours, cap)
        return unmet_total, unmet_lang, binding, available, each

    result.unmet, lang, result.binding_deadline, result.available, each = run(False)
    result.by_language = {k: v for k, v in lang.items() if v > _EPS}
    for pos, i in enumerate(positions):
        result.unmet_by_class[i] = each[pos]
    if members_first:  # the members were served first: what they missed is theirs alone
        result.unmet_members = sum(u for u, d in zip(each, classes, strict=True) if d.member)
    else:
        result.unmet_members = run(True)[0] if any(d.member for d in classes) else 0.0
    return result


def describe(short: Shortfall, unit: str, digits: int = 1) -> str:
    """'sufficient', or 'short by 12.5 agent-hours (members 3.0; ko 10.0, zh-TW 2.5)'."""
    if short.unmet <= 0.005:
        return "sufficient"
    parts = [f"members {short.unmet_members:.{digits}f}"]
    if len(short.by_language) > 1 or set(short.by_language) - {"any"}:
        parts.append(", ".join(f"{k} {v:.{digits}f}" for k, v in sorted(short.by_language.items())))
    return f"short by {short.unmet:.{digits}f} {unit} ({'; '.join(parts)})"


def verdict_for(
    short: Shortfall, *, agents: bool, basis: str, extra: Mapping[str, float] | None = None
) -> CapacityVerdict:
    """The plan's verdict from a shortfall: agent-hours for agents, dispatch hours otherwise."""
    if agents:
        return CapacityVerdict(
            describe(short, "agent-hours"),
            short.required,
            short.available,
            short.unmet,
            basis,
            members_shortfall_agent_hours=short.unmet_members,
            shortfall_by_language=dict(short.by_language),
            binding_deadline=short.binding_deadline,
        )
    dispatch = {
        "required_hours": short.required,
        "available_hours": short.available,
        "shortfall_hours": short.unmet,
        **(extra or {}),
    }
    return CapacityVerdict(
        describe(short, "dispatch hours"),
        0.0,
        0.0,
        0.0,
        basis,
        binding_deadline=short.binding_deadline,
        dispatch=dispatch,
    )


# ------------------------------------------------------------------ the two callers' shapes


def expected_attempts(max_attempts: int, answer_rate: float = ANSWER_RATE) -> float:
    """Expected calls per task when a call is answered with `answer_rate` (docs/definitions.md)."""
    miss = 1 - answer_rate
    return sum(miss**k for k in range(max_attempts))


@dataclass
class PlanLoad:
    """Open tasks that will need a call, counted by (language, window, deadline, member)."""

    counts: Counter[tuple[str | None, Reachee, datetime, bool]] = field(default_factory=Counter)

    def add(self, language: str | None, who: Reachee, deadline: datetime, member: bool) -> None:
        self.counts[(language, who, deadline, member)] += 1

    def __len__(self) -> int:
        return sum(self.counts.values())


def _agent_servers(
    agents: Sequence[tuple[AgentInfo, AgentProfile]], kind: str | None, hours_per_task: float
) -> list[Server]:
    """Active agents with the skill, identical ones counted together (200 agents, few shapes)."""
    shapes: Counter[tuple[frozenset[str], int, tuple[Any, Any], frozenset[int], str]] = Counter()
    for info, profile in agents:
        if not info.active or info.daily_capacity <= 0:
            continue
        if kind is not None and profile.skills is not None and kind not in profile.skills:
            continue
        shapes[
            (
                info.languages,
                info.daily_capacity,
                profile.hours,
                frozenset(profile.days),
                profile.time_zone,
            )
        ] += 1
    servers = []
    for (langs, cap, hours, days, zone), n in sorted(shapes.items(), key=repr):
        servers.append(
            Server(
                count=n,
                speaks=_speaker(langs),
                spans=_shift(hours, days, zone),
                daily_hours=cap * hours_per_task,
                zone=zone,
            )
        )
    return servers


def _speaker(languages: frozenset[str]) -> Callable[[str | None], bool]:
    return lambda lang: language_matches(lang, languages)


def _shift(
    hours: tuple[Any, Any], days: frozenset[int], zone: str
) -> Callable[[datetime, datetime], list[Interval]]:
    return lambda s, e: working_spans(hours, days, zone, s, e)


def calls_left(spec: CampaignSpec, attempts_made: int = 0) -> float:
    """Expected calls a task still needs: the first call channel's tries left, each answered
    with ANSWER_RATE; an SMS-only campaign's one message until it is sent."""
    calls = [c for c in spec.channels if c != "sms"]
    if not calls:
        return 1.0 if attempts_made <= 0 else 0.0
    left = spec.attempt_policy(calls[0]).max_attempts - max(attempts_made, 0)
    return expected_attempts(left) if left > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Supply:
    """Who does a campaign's calls: the servers, the server-hours one call takes, the windows."""

    agents: bool  # agent-handled (hours are agent-hours) or the automated dispatcher
    servers: list[Server]
    call_hours: float
    window: WindowFn
    cps: float


def campaign_supply(
    spec: CampaignSpec,
    agents: Sequence[tuple[AgentInfo, AgentProfile]],
    *,
    cps: float = AUTOMATED_CPS,
) -> Supply:
    """The servers of `spec`: its skilled active agents, or the dispatcher at `cps` calls/s."""
    policy = spec.window_policy()

    def window(who: Any, s: datetime, e: datetime) -> Sequence[Interval]:
        return open_intervals(who, policy, s, e)

    if spec.handled_by == "agents":
        handle_h = spec.handle_time / timedelta(hours=1)
        return Supply(True, _agent_servers(agents, spec.kind, handle_h), handle_h, window, cps)
    servers = [Server(count=1, speaks=lambda _lang: True)]
    return Supply(False, servers, 1 / cps / 3600, window, cps)


def plan_capacity(
    spec: CampaignSpec,
    load: PlanLoad,
    agents: Sequence[tuple[AgentInfo, AgentProfile]],
    now: datetime,
    *,
    cps: float = AUTOMATED_CPS,
) -> CapacityVerdict:
    """`dialer plan`'s verdict: agent-hours for agent campaigns, CPS × window for automated ones."""
    per_task = calls_left(spec)
    if not load.counts:
        return verdict_for(
            Shortfall(), agents=spec.handled_by == "agents", basis="no tasks to call"
        )
    supply = campaign_supply(spec, agents, cps=cps)
    work = per_task * supply.call_hours
    if supply.agents:
        basis = (
            f"agents: {per_task:.2f} expected calls per task ({ANSWER_RATE:.0%} answered) x "
            f"{supply.call_hours * 60:.0f} min, in the customer's open calling window and before "
            f"the deadline; {sum(s.count for s in supply.servers)} active agent(s) with the skill "
            f"{spec.kind}, their working hours and days in their zone, at most daily_capacity "
            "calls a day, matched by language"
        )
    else:
        default = " (Twilio's default CPS)" if cps == AUTOMATED_CPS else ""
        basis = (
            f"automated: {per_task:.2f} expected calls per task at {cps:g} call/s{default} "
            "within each customer's open window before the deadline; agent hours not needed"
        )
    demand = [
        Demand(lang, who, deadline, member, n * work)
        for (lang, who, deadline, member), n in load.counts.items()
    ]
    short = shortfall(demand, supply.servers, now, supply.window)
    share = fallback_share(spec)
    if supply.agents or share <= 0:
        return verdict_for(short, agents=supply.agents, basis=basis, extra={"cps": cps})
    return _with_fallback(spec, load, agents, now, short, share, basis, cps)


def fallback_share(spec: CampaignSpec) -> float:
    """The share of an automated campaign's tasks expected to reach its "agent" channel: every
    try of every channel before it misses (calls answered ANSWER_RATE, SMS replied
    SMS_REPLY_RATE, docs/definitions.md's defaults). 0 without an agent channel or when agents
    come first.

    The shipped after-service campaign: 3 calls then 1 SMS, 0.35^3 x 0.6 = 2.57%.
    """
    channels = list(spec.channels)
    if "agent" not in channels or channels[0] == "agent":
        return 0.0
    share = 1.0
    for channel in channels[: channels.index("agent")]:
        rate = SMS_REPLY_RATE if channel == "sms" else ANSWER_RATE
        share *= (1 - rate) ** spec.attempt_policy(channel).max_attempts
    return share


def _with_fallback(
    spec: CampaignSpec,
    load: PlanLoad,
    agents: Sequence[tuple[AgentInfo, AgentProfile]],
    now: datetime,
    short: Shortfall,
    share: float,
    basis: str,
    cps: float,
) -> CapacityVerdict:
    """The dispatcher's verdict plus the agents' part: `share` of the tasks, each needing the
    agent channel's expected calls x handle time, on the skilled agents' shifts inside the
    customers' windows before the deadlines (the same model as an agent campaign's)."""
    handle_h = spec.handle_time / timedelta(hours=1)
    calls = expected_attempts(spec.attempt_policy("agent").max_attempts)
    servers = _agent_servers(agents, spec.kind, handle_h)
    policy = spec.window_policy()

    def window(who: Any, s: datetime, e: datetime) -> Sequence[Interval]:
        return open_intervals(who, policy, s, e)

    demand = [
        Demand(lang, who, deadline, member, n * share * calls * handle_h)
        for (lang, who, deadline, member), n in load.counts.items()
    ]
    fb = shortfall(demand, servers, now, window)
    staffed = sum(sv.count for sv in servers)
    words = describe(fb, "agent-hours", digits=2)  # a few percent of the tasks: small numbers
    dispatch = describe(short, "dispatch hours")
    if words == "sufficient":
        verdict = dispatch
    elif dispatch == "sufficient":
        verdict = f"agent fallback {words}"
    else:
        verdict = f"{dispatch}; agent fallback {words}"
    basis = basis.replace(
        "; agent hours not needed",
        f"; agents are the fallback (channel 'agent' after "
        f"{', '.join(spec.channels[: list(spec.channels).index('agent')])}): "
        f"{share:.2%} of tasks expected to fall through ({ANSWER_RATE:.0%} of calls answered, "
        f"{SMS_REPLY_RATE:.0%} of SMS replied), each {calls:.2f} expected agent calls x "
        f"{handle_h * 60:.0f} min, on {staffed} active agent(s) with the skill {spec.kind}, "
        "their hours and days, in the customer's window before the deadline",
    )
    fallback = {
        "share": round(share, 6),
        "tasks": round(len(load) * share, 2),
        "agents": staffed,
        "verdict": words,
        "sufficient": words == "sufficient",
        "required_agent_hours": round(fb.required, 2),
        "available_agent_hours": round(fb.available, 2),
        "shortfall_agent_hours": round(fb.unmet, 2),
        "members_shortfall_agent_hours": round(fb.unmet_members, 2),
        "shortfall_by_language": {k: round(v, 2) for k, v in sorted(fb.by_language.items())},
    }
    result = verdict_for(short, agents=False, basis=basis, extra={"cps": cps})
    result.verdict = verdict
    result.required_agent_hours = fb.required
    result.available_agent_hours = fb.available
    result.shortfall_agent_hours = fb.unmet
    result.members_shortfall_agent_hours = fb.unmet_members
    result.shortfall_by_language = dict(fb.by_language)
    result.fallback = fallback
    if fb.binding_deadline is not None and (
        result.binding_deadline is None or fb.binding_deadline < result.binding_deadline
    ):
        result.binding_deadline = fb.binding_deadline
    return result


@dataclass(frozen=True, slots=True)
class CapacityCheck:
    sufficient: bool
    required_hours: float
    available_hours: float
    shortfall_hours: float
    """More agent-hours needed so that every task is handled by its deadline (0 when enough)."""
    binding_deadline: datetime | None
    """The first deadline that cannot be met."""

    def as_json(self) -> dict[str, Any]:
        return {
            "sufficient": self.sufficient,
            "required_agent_hours": round(self.required_hours, 2),
            "available_agent_hours": round(self.available_hours, 2),
            "shortfall_agent_hours": round(self.shortfall_hours, 2),
            "binding_deadline": self.binding_deadline.isoformat()
            if self.binding_deadline
            else None,
        }


def capacity_check(
    deadlines: Sequence[datetime],
    agents: Sequence[tuple[AgentInfo, AgentProfile]],
    *,
    handle_time: timedelta,
    now: datetime,
) -> CapacityCheck:
    """Can the active agents handle one task per deadline (each `handle_time`) in time?

    The same model as the plan's verdict, with every customer's window always open: agents'
    working hours in their zone on their days, capped per day at daily_capacity × handle_time.
    """
    hours_per_task = handle_time.total_seconds() / 3600
    per_deadline = Counter(deadlines)
    demand = [Demand(None, None, d, False, n * hours_per_task) for d, n in per_deadline.items()]
    short = shortfall(demand, _agent_servers(agents, None, hours_per_task), now, _never)
    return CapacityCheck(
        sufficient=short.unmet <= _EPS,
        required_hours=short.required,
        available_hours=short.available,
        shortfall_hours=short.unmet,
        binding_deadline=short.binding_deadline,
    )


def _never(_who: Any, _s: datetime, _e: datetime) -> Sequence[Interval]:
    return []
