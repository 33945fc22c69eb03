"""The summary report as ONE self-contained HTML file: inline CSS, charts drawn here as inline SVG
(the coverage curve as a polyline against the goal and the last deadline, the outcome split as
bars), the agent table as an HTML table. No script and no external URL, so it opens offline;
Jinja autoescape escapes every value (campaign and agent names, reasons).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from dialer.coverage import STATES
from dialer.models import OutcomeName
from dialer.report import REFUSALS, SATISFACTION, Report

# The coverage chart's drawing area (SVG user units).
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 12, 36
OUTCOME_ORDER = (
    *SATISFACTION,
    OutcomeName.CALLBACK_REQUESTED,
    *REFUSALS,
    OutcomeName.NOT_REACHED,
    OutcomeName.NOT_CONTACTABLE,
)
COLOURS = {
    "satisfied": "#2e7d32",
    "average": "#f9a825",
    "unsatisfied": "#c62828",
    "callback_requested": "#1565c0",
    "refused": "#6a1b9a",
    "opted_out": "#4e342e",
    "wrong_number": "#757575",
    "not_reached": "#90a4ae",
    "not_contactable": "#b0bec5",
}


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    count: int
    share: float
    width: float
    y: float
    colour: str


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("dialer", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _curve(report: Report, zone: ZoneInfo) -> dict[str, object] | None:
    if not report.curve or report.first_task_at is None:
        return None
    start = report.first_task_at
    end = report.at
    if report.last_deadline is not None and report.last_deadline > end:
        end = report.last_deadline
    span = max((end - start).total_seconds(), 1.0)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: datetime) -> float:
        return round(LEFT + inner_w * (t - start).total_seconds() / span, 2)

    def y(v: float) -> float:
        return round(TOP + inner_h * (1.0 - max(0.0, min(1.0, v))), 2)

    points = " ".join(f"{x(p.at)},{y(p.progress)}" for p in report.curve)
    deadline_x = x(report.last_deadline) if report.last_deadline is not None else None
    ticks = [(y(v), f"{int(v * 100)}%") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "points": points,
        "count": len(report.curve),
        "goal_y": y(report.goal),
        "goal": pct(report.goal),
        "deadline_x": deadline_x,
        "deadline": _local(report.last_deadline, zone),
        "now_x": x(report.at),
        "ticks": ticks,
        "start": _local(start, zone),
        "end": _local(end, zone),
        "last": pct(report.curve[-1].progress),
    }


def _bars(report: Report) -> list[Bar]:
    names: list[str] = [str(n) for n in OUTCOME_ORDER if report.outcomes[n]]
    names += sorted(n for n in report.outcomes if n not in OUTCOME_ORDER and report.outcomes[n])
    total = sum(report.outcomes[n] for n in names)
    most = max((report.outcomes[n] for n in names), default=0)
    return [
        Bar(
            label=str(n),
            count=report.outcomes[n],
            share=report.outcomes[n] / total if total else 0.0,
            width=round(400 * report.outcomes[n] / most, 2) if most else 0.0,
            y=i * 26,
            colour=COLOURS.get(str(n), "#455a64"),
        )
        for i, n in enumerate(names)
    ]


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def render_html(report: Report) -> str:
    """The report as one HTML document (a str)."""
    try:
        zone = ZoneInfo(report.time_zone)
    except (ValueError, KeyError, OSError):
        zone = ZoneInfo("UTC")
    template = _env().get_template("report.html.j2")
    return template.render(
        r=report,
        t=report.target,
        u=report.list_use,
        states=STATES,
        satisfaction=SATISFACTION,
        refusals=REFUSALS,
        curve=_curve(report, zone),
        bars=_bars(report),
        bars_height=max(26 * len(_bars(report)), 26),
        pct=pct,
        at_local=_local(report.at, zone),
        zone=report.time_zone,
    )


__all__ = ["render_html"]
