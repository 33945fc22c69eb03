"""The agent registry and agents files, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dialer.agents import (
    AgentFileError,
    AgentProfile,
    AgentSpec,
    add_agent,
    import_agents,
    list_agents,
    load_agents_file,
    parse_days,
    parse_hours,
    parse_languages,
    parse_skills,
    profile_of,
    set_active,
    update_agent,
)
from dialer.clock import SettableClock
from dialer.errors import InputFileError, NotFoundError, UsageError
from dialer.models import Agent, AuditEntry
from dialer.store import Store

CSV_OK = """username,name,phone,languages,skills,daily_capacity,skill,hours,days,time_zone,active
wang,王小明,0912-345-678,"zh-TW,en",after_service,60,2,09:00-18:00,mon-fri,Asia/Taipei,yes
kim,김민준,+82 10-1234-5678,ko,all,30,1,10:00-19:00,"mon-fri,sat",Asia/Seoul,no
"""


def count(store: Store, model: type) -> int:
    with store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_field_parsers() -> None:
    assert parse_languages("zh-tw, EN ko") == ["zh-TW", "en", "ko"]
    assert parse_skills("all") is None and parse_skills("promotion") == frozenset({"promotion"})
    assert parse_hours("9:30-18:00") == (time(9, 30), time(18, 0))
    assert parse_days("mon-fri") == set(range(5)) and parse_days("fri-mon") == {4, 5, 6, 0}
    assert parse_days("Monday,sat") == {0, 5}
    for bad in (
        lambda: parse_languages("english!"),
        lambda: parse_skills("cooking"),
        lambda: parse_hours("18:00-09:00"),
        lambda: parse_days("someday"),
    ):
        with pytest.raises(UsageError):
            bad()


def test_add_update_activate_list(store: Store, clock: SettableClock) -> None:
    spec = AgentSpec(
        username="wang",
        display_name="王小明",
        phone_e164="+886912345678",
        languages=("zh-TW",),
        daily_capacity=50,
        profile=AgentProfile(skills=frozenset({"after_service"})),
    )
    with store.transaction() as s:
        add_agent(s, clock, spec, actor="tester")
    with store.transaction() as s, pytest.raises(UsageError, match="already exists"):
        add_agent(s, clock, spec, actor="tester")
    with store.transaction() as s:
        update_agent(s, clock, "wang", daily_capacity=40, languages=("zh-TW", "en"), actor="t")
        set_active(s, clock, "wang", False, actor="tester")
    with store.sessions() as s:
        (agent,) = list_agents(s)
        assert (agent.daily_capacity, agent.languages, agent.active) == (40, ["zh-TW", "en"], False)
        assert list_agents(s, include_inactive=False) == []
        assert profile_of(agent).hours == (time(9), time(18))
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["agent_add", "agent_update", "agent_deactivate"]
    with store.transaction() as s, pytest.raises(NotFoundError):
        set_active(s, clock, "nobody", True, actor="tester")
    with store.transaction() as s, pytest.raises(UsageError):
        update_agent(s, clock, "wang", daily_capacity=0, actor="t")


def test_import_csv_adds_then_updates(store: Store, clock: SettableClock, tmp_path: Path) -> None:
    path = tmp_path / "agents.csv"
    path.write_text(CSV_OK, encoding="utf-8")
    specs = load_agents_file(path)
    assert [s.phone_e164 for s in specs] == ["+886912345678", "+821012345678"]
    assert specs[1].profile.days == {0, 1, 2, 3, 4, 5} and specs[1].active is False
    assert (
        specs[0].profile.skills == frozenset({"after_service"}) and specs[1].profile.skills is None
    )
    with store.transaction() as s:
        first = import_agents(s, clock, specs, actor="tester")
    assert first.added == ["wang", "kim"] and first.updated == []
    with store.transaction() as s:
        second = import_agents(s, clock, specs, actor="tester")
    assert second.added == [] and second.updated == ["wang", "kim"]
    assert count(store, Agent) == 2


def test_import_toml(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(
        '[[agents]]\nusername = "lee"\nname = "Lee"\nlanguages = ["ko", "en"]\n'
        'skills = ["promotion"]\ndaily_capacity = 45\ntime_zone = "Asia/Seoul"\n',
        encoding="utf-8",
    )
    (spec,) = load_agents_file(path)
    assert spec.languages == ("ko", "en") and spec.daily_capacity == 45
    assert spec.profile.time_zone == "Asia/Seoul" and spec.profile.skills == frozenset(
        {"promotion"}
    )


def test_bad_row_writes_nothing_and_is_reported(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "agents.csv"
    path.write_text(
        CSV_OK
        + "lee,Lee,12,ko,,30,1,,,,\n"
        + "park,Park,,ko,cooking,30,1,,,,\n"
        + "wang,Again,,en,,30,1,,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(AgentFileError) as info:
        load_agents_file(path)
    rows = [row for row, _ in info.value.problems]
    assert rows == [4, 5, 6]
    reasons = dict(info.value.problems)
    assert (
        reasons[4].startswith("phone:")
        and "cooking" in reasons[5]
        and "repeats row 2" in reasons[6]
    )
    assert "nothing was imported" in str(info.value)
    assert count(store, Agent) == 0


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="lacks the column"):
        p = tmp_path / "a.csv"
        p.write_text("user,name\nx,y\n", encoding="utf-8")
        load_agents_file(p)
    with pytest.raises(InputFileError, match=r"\.csv or \.toml"):
        p = tmp_path / "a.xlsx"
        p.write_bytes(b"x")
        load_agents_file(p)
    with pytest.raises(InputFileError, match="cannot read"):
        load_agents_file(tmp_path / "missing.csv")
