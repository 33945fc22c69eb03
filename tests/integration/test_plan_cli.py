"""`dialer plan CAMPAIGN` as a user runs it: JSON shape, dry-run explanations, errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from dialer_process import run_dialer
from typer.testing import CliRunner

from dialer.clock import Clock, SettableClock, SystemClock
from dialer.ingest import Importer
from dialer.plan_cli import plan_command
from dialer.store import Store

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS = ROOT / "campaigns"
# The shipped campaign's own table for the person's calls (dropped where a variant makes its own).
AGENT_ATTEMPTS = '[attempts.agent]\nmax_attempts = 2\nspacing = "1h"\nring_timeout = "30s"\n'
HEADER = "customer id,name,phone,member,consent,service date,service time,service\n"
KEYS = {
    "campaign",
    "created",
    "existing",
    "members",
    "not_contactable",
    "skipped",
    "infeasible",
    "capacity",
    "dry_run",
}


@dataclass
class Root:
    """Stands in for dialer.cli's Context: the mounted command takes store and clock from it."""

    db: Store
    clock: Clock

    def store(self) -> Store:
        return self.db


@pytest.fixture
def app_and_store(tmp_path: Path) -> Iterator[tuple[typer.Typer, Store, SettableClock]]:
    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    clock = SettableClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = Root(store, clock)

    app.command("plan")(plan_command)  # the line dialer.cli adds
    csv = tmp_path / "f.csv"
    csv.write_text(
        HEADER
        + "A1,王小明,0912345678,yes,,2026/11/21,10:00,oil\n"
        + "A2,陳美玲,0928222333,no,,2026/11/20,09:00,wash\n"
        + "A3,No Number,12345,yes,,2026/11/21,10:00,oil\n",
        encoding="utf-8",
    )
    Importer(store, clock, default_region="TW", actor="t").run(csv)
    try:
        yield app, store, clock
    finally:
        store.close()


def test_json_is_one_object_with_the_documented_keys(
    app_and_store: tuple[typer.Typer, Store, SettableClock],
) -> None:
    app, _store, _clock = app_and_store
    runner = CliRunner()
    result = runner.invoke(
        app, ["plan", "after-service-satisfaction", "--dir", str(CAMPAIGNS), "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) >= KEYS
    assert data["campaign"] == "after-service-satisfaction" and data["dry_run"] is False
    assert (data["created"], data["members"], data["existing"]) == (2, 1, 0)
    assert set(data["capacity"]) >= {
        "verdict",
        "required_agent_hours",
        "available_agent_hours",
        "shortfall_agent_hours",
    }
    for item in data["infeasible"]:
        assert set(item) >= {"task_id", "customer_id", "member", "reason", "earliest_possible"}
    assert "0912345678" not in result.stdout and "+886" not in result.stdout

    again = json.loads(
        runner.invoke(
            app, ["plan", str(CAMPAIGNS / "after-service-satisfaction.toml"), "--json"]
        ).stdout
    )
    assert (again["created"], again["existing"]) == (0, 2)
    assert again["skipped"] == {"already_covered": 2}


def test_dry_run_explains_who_and_why_without_writing(
    app_and_store: tuple[typer.Typer, Store, SettableClock],
) -> None:
    app, store, _clock = app_and_store
    result = CliRunner().invoke(
        app, ["plan", "lunar-new-year-2027", "--dir", str(CAMPAIGNS), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "would create" in result.stdout
    assert "not in the audience" in result.stdout and "not a member" in result.stdout
    assert "no marketing consent" in result.stdout
    from sqlalchemy import text

    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM callback_tasks")).scalar() == 0


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_dialer(tmp_path, *args, db=tmp_path / "p.db", module="dialer.plan_cli")


def test_standalone_process_plans_todays_services(tmp_path: Path) -> None:
    clock = SystemClock()
    today = clock.now().date()
    store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    csv = tmp_path / "today.csv"
    csv.write_text(
        HEADER + f"S1,Amy,0912345678,yes,,{today - timedelta(days=1):%Y/%m/%d},10:00,oil\n",
        encoding="utf-8",
    )
    Importer(store, clock, default_region="TW", actor="t").run(csv)
    store.close()
    result = run(tmp_path, str(CAMPAIGNS / "after-service-satisfaction.toml"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= KEYS and data["created"] == 1 and data["members"] == 1


def test_unknown_campaign_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    result = run(tmp_path, "no-such-campaign", "--dir", str(CAMPAIGNS))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().startswith("error:") and "no-such-campaign" in result.stderr


def test_capacity_in_words_for_agents(
    app_and_store: tuple[typer.Typer, Store, SettableClock], tmp_path: Path
) -> None:
    # The same campaign handled by agents, with nobody to handle it: the shortfall in words.
    app, _store, _clock = app_and_store
    text = (CAMPAIGNS / "after-service-satisfaction.toml").read_text(encoding="utf-8")
    text = text.replace('handled_by = "automated"', 'handled_by = "agents"')
    text = text.replace('channels = ["voice", "sms", "agent"]', 'channels = ["agent", "sms"]')
    text = text.replace(AGENT_ATTEMPTS, "").replace("[attempts.voice]", "[attempts.agent]")
    path = tmp_path / "after-service-by-agents.toml"
    path.write_text(text, encoding="utf-8")
    runner = CliRunner()
    words = runner.invoke(app, ["plan", str(path), "--dry-run"])
    assert words.exit_code == 0, words.output
    assert "capacity: short by" in words.stdout and "members" in words.stdout
    assert "agent-hours:" in words.stdout and "more needed" in words.stdout
    data = json.loads(runner.invoke(app, ["plan", str(path), "--dry-run", "--json"]).stdout)
    cap = data["capacity"]
    assert cap["sufficient"] is False and cap["available_agent_hours"] == 0
    assert cap["shortfall_agent_hours"] == cap["required_agent_hours"] > 0
    assert cap["dispatch"] is None


def test_capacity_in_words_for_automated(
    app_and_store: tuple[typer.Typer, Store, SettableClock],
) -> None:
    app, _store, _clock = app_and_store
    words = CliRunner().invoke(
        app, ["plan", "after-service-satisfaction", "--dir", str(CAMPAIGNS), "--dry-run"]
    )
    assert words.exit_code == 0, words.output
    assert "capacity: sufficient" in words.stdout
    assert "dispatch hours:" in words.stdout and "open before the deadlines" in words.stdout
    # Two tasks x 2.57% falling through to the agents: 0.0035 agent-hours, within rounding.
    flat = " ".join(words.stdout.split())
    assert "agents are the fallback (channel 'agent' after voice, sms)" in flat
    assert "agent fallback: 2.57% of tasks (about 0.05) expected to reach the agents" in flat
    assert "0.00 agent-hours needed, 0.0 available on 0 agent(s)" in flat


def test_plan_names_the_customers_whose_zones_did_not_simply_apply(tmp_path: Path) -> None:
    """A toll-free number gets its country's safe window; an Alaska number whose quiet hours
    leave no moment legal in both its zones is not callable: the plan says both by name."""
    store = Store.open(f"sqlite:///{tmp_path / 'z.db'}")
    clock = SettableClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = Root(store, clock)

    app.command("plan")(plan_command)
    csv = tmp_path / "z.csv"
    csv.write_text(
        "customer id,name,phone,member,service date,service time,quiet hours\n"
        "NY,Ann,+1 212 555 0123,yes,2026/11/22,10:00,\n"
        "TF,Ben,+1 800 555 0123,yes,2026/11/22,10:00,\n"
        "AK,Cat,+1 907 555 0123,yes,2026/11/22,10:00,10:00-09:00\n",
        encoding="utf-8",
    )
    Importer(store, clock, default_region="TW", actor="t").run(csv)
    try:
        runner = CliRunner()
        text = runner.invoke(
            app, ["plan", "after-service-satisfaction", "--dir", str(CAMPAIGNS), "--dry-run"]
        )
        assert text.exit_code == 0, text.output
        out = " ".join(text.stdout.split())
        assert "time zones that did not simply apply (2):" in out
        assert "TF Ben (member): number has no time zone: the safe window of US" in out
        assert "AK Cat (member): its time zones America/Adak, America/Anchorage" in out
        assert "not callable" in out and "NY Ann (member):" not in out
        data = json.loads(
            runner.invoke(
                app, ["plan", "after-service-satisfaction", "--dir", str(CAMPAIGNS), "--json"]
            ).stdout
        )
        assert data["time_zones_count"] == 2
        assert {z["customer_id"] for z in data["time_zones"]} == {"TF", "AK"}
        [ak] = [i for i in data["infeasible"] if i["customer_id"] == "AK"]
        assert ak["reason"].startswith("not callable") and ak["plan_action"] == "flag"
    finally:
        store.close()
