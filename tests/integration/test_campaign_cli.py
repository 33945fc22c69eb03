"""`dialer campaign list | show | validate` as a user runs them: real processes, exit codes, JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from dialer_process import run_dialer
from typer.testing import CliRunner

from dialer.campaign_cli import campaign_app
from dialer.campaigns import CampaignSpec

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "campaigns"
SLUGS = ["after-service-satisfaction", "lunar-new-year-2027", "maintenance-reminder"]


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    clean["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "dialer.campaign_cli", *args],
        cwd=cwd,
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_sentence(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped campaigns plus one broken file."""
    target = tmp_path / "campaigns"
    shutil.copytree(SHIPPED, target)
    text = (SHIPPED / "after-service-satisfaction.toml").read_text(encoding="utf-8")
    broken = text.replace('"13:30-20:30"]', '"13:30-25:00"]').replace(
        'voice = "Google.ko-KR-Standard-A"', 'voice = "Polly.Joanna"'
    )
    (target / "broken-copy.toml").write_text(broken, encoding="utf-8")
    return target


def test_list_default_folder_is_campaigns_in_the_working_directory() -> None:
    result = run(ROOT, "list")
    assert result.returncode == 0, result.stderr
    for slug in SLUGS:
        assert slug in result.stdout
    assert "voice → sms" in result.stdout and "sms → voice" in result.stdout
    assert "no (" not in result.stdout


def test_list_json_one_object_per_line(tmp_path: Path) -> None:
    result = run(tmp_path, "list", "--json", "--dir", str(SHIPPED))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["slug"] for r in rows] == SLUGS
    assert all(r["valid"] and r["problems"] == [] for r in rows)
    lunar = rows[1]
    assert (lunar["purpose"], lunar["kind"], lunar["channels"]) == (
        "marketing",
        "holiday_greeting",
        ["sms", "voice"],
    )
    assert lunar["trigger"] == "once, from 2027-02-01 10:00 Asia/Taipei"


def test_list_marks_a_broken_file(folder: Path, tmp_path: Path) -> None:
    result = run(tmp_path, "list", "--dir", str(folder))
    assert result.returncode == 0, result.stderr
    assert "broken-copy" in result.stdout and "no (2 problems)" in result.stdout
    rows = [
        json.loads(x)
        for x in run(tmp_path, "list", "--json", "--dir", str(folder)).stdout.splitlines()
    ]
    broken = next(r for r in rows if r["slug"] == "broken-copy")
    assert broken["valid"] is False and broken["name"] == "After-service satisfaction callback"
    assert any("window.hours[1]" in p for p in broken["problems"])


def test_folder_from_environment_and_missing_folder(tmp_path: Path) -> None:
    result = run(tmp_path, "list", "--json", env={"DIALER_CAMPAIGNS_DIR": str(SHIPPED)})
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 3
    # No ./campaigns here: the campaigns shipped with dialer are listed (docs/campaigns.md, "Campaign files").
    shipped = run(tmp_path, "list", "--json")
    assert shipped.returncode == 0 and len(shipped.stdout.splitlines()) == 3
    missing = run(tmp_path, "list", "--dir", "nowhere")  # a folder named explicitly must exist
    assert missing.returncode == 2
    assert_one_sentence(missing)
    assert "campaign folder 'nowhere' does not exist" in missing.stderr


def test_show_in_words_with_the_zh_tw_script(tmp_path: Path) -> None:
    result = run(tmp_path, "show", "after-service-satisfaction", "--dir", str(SHIPPED))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "After-service satisfaction callback" in text
    assert "Mon–Sat, 09:00–12:00 and 13:30–20:30" in text
    assert "rest hours 12:00–13:30 and 21:00–09:00" in text
    assert "end of the day 3 days after the service day" in text
    assert "script zh-TW (voice Google.cmn-TW-Standard-A)" in text
    assert "請問您現在方便通話嗎？方便請按1" in text
    assert "same as unsatisfied" in text
    assert "1 等候時間" in text and "退訂" in text
    assert "other languages: en, ko" in text


def test_show_another_language_and_cron_runs(tmp_path: Path) -> None:
    en = run(tmp_path, "show", "after-service-satisfaction", "--lang", "en", "--dir", str(SHIPPED))
    assert en.returncode == 0 and "Press 1 to continue" in en.stdout
    cron = run(tmp_path, "show", str(SHIPPED / "maintenance-reminder.toml"))
    assert cron.returncode == 0, cron.stderr
    assert "cron '0 9 * * mon' Asia/Taipei" in cron.stdout
    assert "next runs" in cron.stdout and "Mon " in cron.stdout and "09:00" in cron.stdout
    assert "last service more than 180d ago or about 5000 km" in cron.stdout
    missing = run(
        tmp_path, "show", "after-service-satisfaction", "--lang", "ja", "--dir", str(SHIPPED)
    )
    assert missing.returncode == 5
    assert_one_sentence(missing)


def test_show_json_is_the_stored_definition(tmp_path: Path) -> None:
    result = run(tmp_path, "show", "lunar-new-year-2027", "--json", "--dir", str(SHIPPED))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["slug"] == "lunar-new-year-2027" and len(data["sha256"]) == 64
    spec = CampaignSpec.from_definition(data["definition"], slug=data["slug"])
    assert spec.deadline.at is not None and spec.deadline.at.isoformat() == "2027-02-05T18:00:00"


def test_show_unknown_and_broken(folder: Path, tmp_path: Path) -> None:
    unknown = run(tmp_path, "show", "no-such-campaign", "--dir", str(folder))
    assert unknown.returncode == 5
    assert_one_sentence(unknown)
    assert "after-service-satisfaction" in unknown.stderr  # names what exists
    broken = run(tmp_path, "show", "broken-copy", "--dir", str(folder))
    assert broken.returncode == 2
    assert_one_sentence(broken)
    assert "broken-copy.toml:" in broken.stderr and "window.hours[1]" in broken.stderr


def test_validate_everything_ok(tmp_path: Path) -> None:
    result = run(tmp_path, "validate", "--dir", str(SHIPPED))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("ok ") for line in lines)
    assert result.stderr == ""


def test_validate_lists_every_problem_and_exits_2(folder: Path, tmp_path: Path) -> None:
    result = run(tmp_path, "validate", "--dir", str(folder))
    assert result.returncode == 2
    assert_one_sentence(result)
    assert "1 of 4 campaign files has problems (2 in all)" in result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("error ")]
    assert len(errors) == 2
    assert any("broken-copy.toml:" in e and "window.hours[1]: '13:30-25:00'" in e for e in errors)
    assert any("scripts.ko.voice: Polly.Joanna speaks en-US, not ko" in e for e in errors)
    assert sum(line.startswith("ok ") for line in result.stdout.splitlines()) == 3


def test_validate_named_files_and_slugs(folder: Path, tmp_path: Path) -> None:
    bad_toml = tmp_path / "syntax.toml"
    bad_toml.write_text('name = "x"\nkind = \n', encoding="utf-8")
    result = run(
        tmp_path,
        "validate",
        "lunar-new-year-2027",
        str(bad_toml),
        "nothing-here",
        "--dir",
        str(folder),
        "--json",
    )
    assert result.returncode == 2
    rows = {r["slug"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["lunar-new-year-2027"]["valid"] is True
    [syntax] = rows["syntax"]["problems"]
    assert syntax["line"] == 2 and syntax["sentence"].startswith(f"{bad_toml}:2: not valid TOML")
    assert rows["nothing-here"]["problems"][0]["message"] == "there is no such campaign file"


def test_campaign_app_mounts_under_a_parent_app(folder: Path) -> None:
    parent = typer.Typer()

    @parent.callback()
    def root() -> None:
        """A stand-in for dialer.cli's root."""

    parent.add_typer(campaign_app, name="campaign")
    runner = CliRunner()
    ok = runner.invoke(parent, ["campaign", "validate", "--dir", str(SHIPPED)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("ok ") == 3
    bad = runner.invoke(parent, ["campaign", "validate", "--dir", str(folder)])
    assert bad.exit_code != 0 and "has problems" in str(bad.exception)


def _mounted_in_dialer_cli() -> bool:
    from dialer import cli

    return any(group.name == "campaign" for group in cli.app.registered_groups)


@pytest.mark.skipif(
    not _mounted_in_dialer_cli(),
    reason="dialer.cli does not mount campaign_app yet: add app.add_typer(campaign_app, "
    'name="campaign")',
)
def test_dialer_campaign_command(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    ok = run_dialer(tmp_path, "campaign", "validate", "--dir", str(SHIPPED), db=db)
    assert ok.returncode == 0, ok.stderr
    bad = run_dialer(tmp_path, "campaign", "validate", "--dir", str(folder), db=db)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error:")


@pytest.fixture
def us_marketing(tmp_path: Path) -> Path:
    """The greeting moved to the United States with hours 07:00-22:00 and no rest hours."""
    target = tmp_path / "us"
    target.mkdir()
    text = (SHIPPED / "lunar-new-year-2027.toml").read_text(encoding="utf-8")
    for old, new in (
        ('regions = ["TW"]', 'regions = ["US"]'),
        ('hours = ["10:00-12:00", "14:00-20:00"]', 'hours = ["07:00-22:00"]'),
        ('rest = ["12:00-14:00", "21:00-09:00"]', "rest = []"),
        ('holiday_country = "TW"', 'holiday_country = "US"'),
    ):
        assert old in text
        text = text.replace(old, new)
    (target / "us-greeting.toml").write_text(text, encoding="utf-8")
    return target


def test_validate_warns_when_hours_are_wider_than_a_floor_that_applies(
    us_marketing: Path, tmp_path: Path
) -> None:
    result = run(tmp_path, "validate", "--dir", str(us_marketing))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok ")
    warnings = [line for line in lines if line.startswith("warning")]
    assert len(warnings) == 3
    assert any("in US-FL" in w and "Fla. Stat. §501.616(6)(a)" in w for w in warnings)
    assert any("in US-OK" in w and "§775C.4" in w for w in warnings)
    assert any("in US (TCPA" in w and "calls only 08:00–21:00" in w for w in warnings)
    data = json.loads(run(tmp_path, "validate", "--json", "--dir", str(us_marketing)).stdout)
    assert data["valid"] is True and len(data["warnings"]) == 3
    shipped = run(tmp_path, "validate", "--json", "--dir", str(SHIPPED))
    assert all(json.loads(line)["warnings"] == [] for line in shipped.stdout.splitlines())


def test_show_prints_the_hours_that_run_per_country_and_state(
    us_marketing: Path, tmp_path: Path
) -> None:
    result = run(tmp_path, "show", "us-greeting", "--dir", str(us_marketing))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "every day, 07:00–22:00 asked for" in text
    assert "calls in        US: 08:00–21:00 (legal floor 08:00–21:00: TCPA" in text
    assert "US-FL: 08:00–20:00 (legal floor 08:00–20:00: Fla. Stat." in text
    assert "US-OK: 08:00–20:00" in text
    taiwan = run(tmp_path, "show", "after-service-satisfaction", "--dir", str(SHIPPED))
    assert "calls in        TW: 09:00–12:00, 13:30–20:30" in taiwan.stdout
    assert "US-FL" not in taiwan.stdout
