"""`dialer campaign list | show | validate`: the campaign files, readable and checked.

Mounted by `dialer.cli` with `app.add_typer(campaign_app, name="campaign")`; also runnable on its
own as `python -m dialer.campaign_cli`. The folder is `--dir`, else `DIALER_CAMPAIGNS_DIR`, else
`./campaigns`, else (when that is absent) the campaigns shipped with dialer. Problems are `ConfigError`s (exit 2): one sentence each, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from dialer.campaign_files import campaign_path, existing_campaign_folder
from dialer.campaign_floors import floor_warnings, hours_text, place_hours
from dialer.campaigns import (
    CampaignError,
    CampaignFile,
    CampaignSpec,
    Problem,
    Script,
    campaign_folder,
    format_duration,
    format_span,
    read_campaign,
    scan_campaigns,
)
from dialer.clock import Clock, SystemClock
from dialer.console import err, out, sub_app
from dialer.errors import ConfigError, DialerError, NotFoundError

campaign_app = sub_app("Campaign files (campaigns/*.toml): list them, show one, validate them.")


DirOption = Annotated[
    Path,
    typer.Option(
        "--dir",
        envvar="DIALER_CAMPAIGNS_DIR",
        help=(
            "Folder of campaign files (default: DIALER_CAMPAIGNS_DIR or ./campaigns; without "
            "either, the campaigns shipped with dialer)."
        ),
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _emit(data: dict[str, Any]) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str))


# ------------------------------------------------------------------------------- in words


def days_text(days: Iterable[int]) -> str:
    chosen = sorted(set(days))
    if len(chosen) == 7:
        return "every day"
    runs: list[list[int]] = []
    for d in chosen:
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ", ".join(
        DAY_NAMES[r[0]] if len(r) == 1 else f"{DAY_NAMES[r[0]]}–{DAY_NAMES[r[-1]]}" for r in runs
    )


def _spans(spans: Iterable[tuple[Any, Any]]) -> str:
    parts = [format_span(s).replace("-", "–") for s in spans]
    return " and ".join(parts) if parts else "none"


def window_text(spec: CampaignSpec) -> str:
    """The days and hours asked for; `place_hours` says what the law leaves of them per place."""
    w = spec.window
    text = (
        f"{days_text(w.weekdays)}, {_spans(sorted(w.hours))} asked for, in each zone of the "
        "dialled number"
    )
    if w.rest:
        text += f"; rest hours {_spans(w.rest)}"
    if not w.skip_holidays:
        return text + "; also on public holidays"
    if w.holiday_country:
        where = w.holiday_country + (f"-{w.holiday_subdivision}" if w.holiday_subdivision else "")
        return text + f"; not on public holidays of {where}"
    return text + "; not on the customer's own public holidays"


def trigger_text(spec: CampaignSpec, *, short: bool = False) -> str:
    t = spec.trigger
    if t.type == "service_event":
        text = "each service event"
        if t.delay and not short:
            text += f", first try {format_duration(t.delay)} after the service"
        return text
    if t.type == "fixed_date":
        start = f"{t.start:%Y-%m-%d %H:%M}" if t.start else "?"
        return f"once, from {start} {t.time_zone}"
    return f"cron '{t.cron}' {t.time_zone}"


def deadline_text(spec: CampaignSpec) -> str:
    d = spec.deadline
    if d.days_after_service is not None:
        return (
            f"end of the day {d.days_after_service} days after the service day (23:59:59 in the "
            "customer's local time; several zones: the earliest)"
        )
    if d.after_trigger is not None:
        return f"{format_duration(d.after_trigger)} after the trigger"
    assert d.at is not None
    return f"{d.at:%Y-%m-%d %H:%M}" + ("" if d.at.tzinfo else f" {spec.trigger.time_zone}")


def audience_text(spec: CampaignSpec) -> str:
    a = spec.audience
    parts = ["members only" if a.members_only else "members and non-members"]
    if a.require_consent:
        parts.append("with marketing consent")
    if a.languages:
        parts.append(f"languages {', '.join(a.languages)}")
    if a.regions:
        parts.append(f"regions {', '.join(a.regions)}")
    if a.service_types:
        parts.append(f"service types {', '.join(a.service_types)}")
    due = []
    if a.last_service_older_than is not None:
        due.append(f"last service more than {format_duration(a.last_service_older_than)} ago")
    if a.mileage_at_least is not None:
        due.append(
            f"about {a.mileage_at_least} km driven since (else {a.assumed_km_per_day:g} km/day)"
        )
    if due:
        parts.append((" or " if a.match == "any" else " and ").join(due))
    return "; ".join(parts)


def attempts_text(spec: CampaignSpec) -> list[str]:
    lines = []
    for ch in spec.channels:
        p = spec.attempt_policy(ch)
        text = f"{ch}: up to {p.max_attempts} {'try' if p.max_attempts == 1 else 'tries'}"
        if p.max_attempts > 1:
            text += f", {format_duration(p.spacing)} apart"
            if p.backoff != 1:
                text += f" (×{p.backoff:g} each time)"
        if p.give_up_after:
            text += f", give up {format_duration(p.give_up_after)} after the first"
        if p.ring_timeout:
            text += f", ring {format_duration(p.ring_timeout)}"
        lines.append(text)
    return lines


def next_runs(spec: CampaignSpec, clock: Clock, count: int = 3) -> list[datetime]:
    """The next cron fire times (local), for `show`."""
    if spec.trigger.type != "cron" or not spec.trigger.cron:
        return []
    from apscheduler.triggers.cron import CronTrigger

    zone = ZoneInfo(spec.trigger.time_zone)
    trigger = CronTrigger.from_crontab(spec.trigger.cron, timezone=zone)
    runs: list[datetime] = []
    at = clock.now().astimezone(zone)
    previous = None
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, at)
        if fire is None:
            break
        runs.append(fire)
        previous, at = fire, fire + timedelta(seconds=1)
    return runs


# ------------------------------------------------------------------------------- commands


def _summary(result: CampaignFile) -> dict[str, Any]:
    spec, data = result.spec, result.data

    def raw(key: str) -> Any:
        value = data.get(key)
        return value if isinstance(value, str | list) else None

    return {
        "slug": result.slug,
        "file": str(result.path),
        "name": spec.name if spec else raw("name"),
        "kind": spec.kind if spec else raw("kind"),
        "purpose": spec.purpose if spec else raw("purpose"),
        "trigger": trigger_text(spec, short=True) if spec else None,
        "channels": list(spec.channels) if spec else raw("channels"),
        "valid": result.valid,
        "problems": [p.sentence() for p in result.problems],
    }


@campaign_app.command("list")
def list_cmd(
    folder: DirOption = Path("campaigns"),
    as_json: JsonOption = False,
) -> None:
    """The campaign files of the folder, whether each is valid."""
    folder = campaign_folder(folder)
    results = scan_campaigns(existing_campaign_folder(folder))
    if as_json:
        for r in results:
            _emit(_summary(r))
        return
    if not results:
        out.print(f"no campaign files (*.toml) in {folder}")
        return
    table = Table("slug", "name", "kind", "purpose", "trigger", "channels", "valid")
    for r in results:
        s = _summary(r)
        channels = s["channels"] if isinstance(s["channels"], list) else []
        n = len(r.problems)
        table.add_row(
            *(
                Text(str(v or ""))
                for v in (s["slug"], s["name"], s["kind"], s["purpose"], s["trigger"])
            ),
            Text(" → ".join(str(c) for c in channels)),
            Text("yes", style="green")
            if r.valid
            else Text(f"no ({n} problem{'s' if n != 1 else ''})", style="red"),
        )
    out.print(table)
    bad = sum(not r.valid for r in results)
    if bad:
        out.print(
            f"{bad} of {len(results)} campaign files have problems; "
            "`dialer campaign validate` lists them",
            markup=False,
        )


def _row(grid: Table, label: str, value: str) -> None:
    grid.add_row(Text(label, style="bold"), Text(value))


def _script_rows(grid: Table, script: Script) -> None:
    for name, text in script.texts():
        _row(grid, name, text)
    if script.branches:
        for answer in ("satisfied", "average", "unsatisfied"):
            if answer == "average" and script.branches.average.same_as:
                _row(grid, "average", f"same as {script.branches.average.same_as}")
                continue
            branch = script.branches.for_answer(answer)
            _row(grid, f"{answer}: follow-up", branch.follow_up)
            _row(grid, f"{answer}: closing", branch.closing)
    if script.reasons:
        _row(grid, "reasons", script.reasons.prompt)
        _row(
            grid,
            "reason keys",
            "  ".join(f"{i} {o}" for i, o in enumerate(script.reasons.options, 1)),
        )
    if script.closing:
        _row(grid, "closing", script.closing)
    if script.voicemail:
        _row(grid, "voicemail", script.voicemail)
    if script.sms:
        _row(grid, "SMS", script.sms.text)
        if script.sms.replies:
            replies = ", ".join(f"{k} {v}" for k, v in script.sms.replies.items())
            _row(grid, "SMS replies", replies)
        _row(grid, "SMS opt-out", ", ".join(script.sms.opt_out))


@campaign_app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="The campaign's slug (file name) or a file path.")],
    folder: DirOption = Path("campaigns"),
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Show this language's script (default: the campaign's)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The validated definition as one JSON object.")
    ] = False,
) -> None:
    """One campaign in words: trigger, audience, deadline, window, channels and its script."""
    folder = campaign_folder(folder)
    path = campaign_path(name, folder)
    if not path.is_file():
        if path.parent == folder:
            existing_campaign_folder(folder)
            known = ", ".join(p.stem for p in sorted(folder.glob("*.toml"))) or "none"
            raise NotFoundError(f"there is no campaign {name!r} in {folder} (campaigns: {known})")
        raise NotFoundError(f"there is no campaign file {str(path)!r}")
    result = read_campaign(path)
    if result.spec is None:
        raise CampaignError(result.problems)
    spec = result.spec
    if as_json:
        _emit(
            {
                "slug": spec.slug,
                "file": spec.source,
                "sha256": spec.sha256,
                "definition": spec.as_definition(),
            }
        )
        return
    language = lang or spec.default_language
    if language not in spec.scripts:
        raise NotFoundError(
            f"{spec.slug} has no {language!r} script; it has {', '.join(spec.scripts)}"
        )
    out.print(Text(f"{spec.name}", style="bold"), Text(f"({spec.slug}, {spec.source})"))
    if spec.description:
        out.print(Text(" ".join(spec.description.split())))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    _row(grid, "kind", f"{spec.kind}, purpose {spec.purpose}")
    _row(grid, "trigger", trigger_text(spec))
    runs = next_runs(spec, SystemClock())
    if runs:
        _row(grid, "next runs", ", ".join(f"{r:%a %Y-%m-%d %H:%M}" for r in runs))
    _row(grid, "audience", audience_text(spec))
    _row(grid, "deadline", deadline_text(spec))
    _row(grid, "window", window_text(spec))
    for place in place_hours(spec):
        _row(grid, "calls in", hours_text(place))
    handled = "by agents" if spec.handled_by == "agents" else "automatically (IVR and SMS)"
    _row(grid, "channels", " → ".join(spec.channels) + f", handled {handled}")
    for line in attempts_text(spec):
        _row(grid, "attempts", line)
    _row(grid, "handle time", format_duration(spec.handle_time) + " per call")
    p, c = spec.planning, spec.complaints
    _row(
        grid,
        "planning",
        f"member coverage goal {p.member_coverage_goal:g}%; cannot meet the deadline: "
        f"{p.on_infeasible}; merge triggers within {format_duration(p.dedupe_window)}",
    )
    _row(
        grid,
        "complaints",
        ("average opens a case too" if c.average_opens_case else "unsatisfied opens a case")
        + f"; callback {format_duration(c.follow_up_deadline)} after resolution",
    )
    _row(grid, "nightly report", "yes" if spec.nightly_report else "no")
    out.print(grid)
    script = spec.scripts[language]
    out.print()
    out.print(Text(f"script {language} (voice {script.voice})", style="bold"))
    sgrid = Table.grid(padding=(0, 2))
    sgrid.add_column(no_wrap=True)
    sgrid.add_column(overflow="fold")
    _script_rows(sgrid, script)
    out.print(sgrid)
    others = [k for k in spec.scripts if k != language]
    if others:
        out.print(
            f"other languages: {', '.join(others)} (--lang {others[0]})",
            markup=False,
        )


@campaign_app.command("validate")
def validate_cmd(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Slugs or files (default: every file in the folder).", show_default=False
        ),
    ] = None,
    folder: DirOption = Path("campaigns"),
    as_json: JsonOption = False,
) -> None:
    """Check campaign files; every problem is listed, and any problem exits 2."""
    folder = campaign_folder(folder)
    if targets:
        results = []
        for target in targets:
            path = campaign_path(target, folder)
            if path.is_file():
                results.append(read_campaign(path))
            else:
                missing = CampaignFile(path=path, slug=path.stem)
                missing.problems.append(Problem(str(path), (), "there is no such campaign file"))
                results.append(missing)
    else:
        results = scan_campaigns(existing_campaign_folder(folder))
        if not results:
            raise ConfigError(f"there are no campaign files (*.toml) in {folder}")
    for r in results:
        warnings = floor_warnings(r.spec) if r.spec is not None else []
        if as_json:
            _emit(
                {
                    "file": str(r.path),
                    "slug": r.slug,
                    "valid": r.valid,
                    "sha256": r.sha256,
                    "problems": [p.as_json() | {"sentence": p.sentence()} for p in r.problems],
                    "warnings": warnings,
                }
            )
        elif r.valid:
            out.print(Text("ok     ", style="green"), Text(f"{r.path} ({r.slug})"), sep="")
            for w in warnings:
                out.print(
                    Text("warning", style="yellow"), Text(f" {r.slug}: {w}"), sep="", soft_wrap=True
                )
        else:
            for p in r.problems:
                out.print(Text("error  ", style="red"), Text(p.sentence()), sep="", soft_wrap=True)
    bad = [r for r in results if not r.valid]
    if bad:
        count = sum(len(r.problems) for r in bad)
        raise ConfigError(
            f"{len(bad)} of {len(results)} campaign file{'s' if len(results) != 1 else ''} "
            f"{'has' if len(bad) == 1 else 'have'} problems ({count} in all)"
        )


def main() -> None:
    """`python -m dialer.campaign_cli`: the same commands and error handling as `dialer campaign`."""
    try:
        campaign_app()
    except DialerError as exc:
        err.print(Text("error:", style="red"), Text(str(exc)), soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
