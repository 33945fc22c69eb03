"""The one verdict on a campaign's member coverage, shared by `dialer coverage`, its `--json`,
the summary report and the supervisor console, so no screen can say better than the truth.

The ratio docs/definitions.md defines (member tasks reached by their deadline ÷ member tasks decided) is
100% as soon as the few decided members were all reached, however many are still waiting; on
its own it is the wrong headline. So the headline is "reached in time X of N members (Y%)",
with pending, at risk and breached beside it, and the ratio is shown under its own label. The
verdict, in order:

- **no_members**: the campaign has no member task (yet);
- **goal_met**: every member task is decided and the ratio meets the goal;
- **missed**: the goal cannot be met any more — even if every member still open were reached
  in time, in_time ÷ members would stay below the goal (with a 100% goal: one member breached,
  late or not contactable);
- **at_risk**: some member is at risk (`dialer.coverage`'s rule);
- **on_track**: members are still open, none of them at risk, and the goal can still be met.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["no_members", "goal_met", "on_track", "at_risk", "missed"]
VERDICTS: tuple[Verdict, ...] = ("no_members", "goal_met", "on_track", "at_risk", "missed")
DECIDED = ("in_time", "late", "breached", "not_contactable")
OPEN = ("pending", "at_risk")
# The colour of each verdict, as a class name the report and the console style.
TONE: dict[Verdict, str] = {
    "no_members": "muted",
    "goal_met": "good",
    "on_track": "ok",
    "at_risk": "warn",
    "missed": "bad",
}
WORDS: dict[Verdict, str] = {
    "no_members": "no member tasks",
    "goal_met": "goal met",
    "on_track": "on track",
    "at_risk": "at risk",
    "missed": "goal missed",
}
_EPS = 1e-12  # 0.95 * 20 members is 18.999999999999996


@dataclass(frozen=True, slots=True)
class Headline:
    """The members' figures behind the verdict; `members` counts every member task."""

    members: int
    in_time: int
    late: int
    pending: int
    at_risk: int
    breached: int
    not_contactable: int
    goal: float  # a fraction

    @property
    def decided(self) -> int:
        return self.in_time + self.late + self.breached + self.not_contactable

    @property
    def open(self) -> int:
        return self.pending + self.at_risk

    @property
    def share(self) -> float | None:
        """Reached in time ÷ every member task: the headline figure."""
        return self.in_time / self.members if self.members else None

    @property
    def ratio(self) -> float | None:
        """Member coverage (docs/definitions.md): reached in time ÷ decided (None: nothing decided)."""
        return self.in_time / self.decided if self.decided else None

    @property
    def best_possible(self) -> float | None:
        """The share if every open member were still reached in time."""
        return (self.in_time + self.open) / self.members if self.members else None

    @property
    def verdict(self) -> Verdict:
        if not self.members:
            return "no_members"
        best = self.best_possible
        assert best is not None
        if best < self.goal - _EPS:
            return "missed"
        if not self.open:
            return "goal_met"  # everything decided and in_time ÷ members meets the goal
        return "at_risk" if self.at_risk else "on_track"

    @property
    def tone(self) -> str:
        return TONE[self.verdict]

    @property
    def words(self) -> str:
        return WORDS[self.verdict]

    def failures(self) -> list[str]:
        """What `dialer coverage --check` fails on, one clause each (empty: it passes): a member
        breached or at risk (a member to act on now, whatever the goal), or the goal missed."""
        found = []
        if self.breached:
            found.append(f"{self.breached} member(s) breached (deadline passed, not reached)")
        if self.at_risk:
            found.append(f"{self.at_risk} member(s) at risk of missing the deadline")
        if self.verdict == "missed":
            best = self.best_possible or 0.0
            found.append(
                f"the goal of {pct(self.goal)} can no longer be met (at most {pct(best)}: "
                f"{self.late} late, {self.breached} breached, "
                f"{self.not_contactable} not contactable)"
            )
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "reached_in_time": self.in_time,
            "reached_in_time_share": self.share,
            "pending": self.pending,
            "at_risk": self.at_risk,
            "breached": self.breached,
            "decided": self.decided,
            "member_coverage": self.ratio,
            "goal": self.goal,
            "verdict": self.verdict,
        }


def headline(members: Counter[str], goal: float) -> Headline:
    """The headline of a campaign from its member counts by coverage state."""
    return Headline(
        members=sum(members[s] for s in (*DECIDED, *OPEN)),
        in_time=members["in_time"],
        late=members["late"],
        pending=members["pending"],
        at_risk=members["at_risk"],
        breached=members["breached"],
        not_contactable=members["not_contactable"],
        goal=goal,
    )


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def headline_text(h: Headline) -> str:
    """The one line every text screen shows first (the CLI, the demo)."""
    if not h.members:
        return "no member tasks"
    return (
        f"reached in time {h.in_time} of {h.members} members ({pct(h.share)}) · "
        f"pending {h.pending} · at risk {h.at_risk} · breached {h.breached} — {h.words}"
    )


def ratio_text(h: Headline) -> str:
    """The ratio of docs/definitions.md, labelled as what it is."""
    return (
        f"member coverage (reached in time ÷ decided): {h.in_time} ÷ {h.decided} = "
        f"{pct(h.ratio)} (goal {pct(h.goal)})"
    )


__all__ = [
    "TONE",
    "VERDICTS",
    "Headline",
    "Verdict",
    "headline",
    "headline_text",
    "pct",
    "ratio_text",
]
