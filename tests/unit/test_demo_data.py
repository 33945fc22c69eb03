"""The demo's generated customer file: counts, bad rows, and the same file for the same seed."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from dialer.demo_data import generate

START = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def test_counts_members_countries_and_bad_rows(tmp_path: Path) -> None:
    summary = generate(tmp_path / "c.csv", 3000, seed=1, start=START)
    with summary.path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == summary.rows == 3000
    assert 24 <= summary.bad_rows <= 60
    assert 0.35 < summary.members / 3000 < 0.45
    assert set(summary.by_country) == {"TW", "KR", "US"}
    assert all(v > 300 for v in summary.by_country.values())
    assert {r["語言"] for r in rows} == {"zh-TW", "ko", "en"}
    assert len({r["客戶編號"] for r in rows}) == 3000
    kr = [r for r in rows if r["國家"] == "KR" and r["手機"].startswith("010-")]
    assert kr and all(r["姓名"] and ord(r["姓名"][0]) >= 0xAC00 for r in kr if r["姓名"])
    us_zones = {r["時區"] for r in rows if r["國家"] == "US"}
    assert len(us_zones) >= 3
    bad_phone = sum(not any(ch.isdigit() for ch in r["手機"]) or len(r["手機"]) < 8 for r in rows)
    no_name = sum(not r["姓名"] for r in rows)
    bad_date = sum(not r["服務日期"][:4].isdigit() or r["服務日期"][5:7] > "12" for r in rows)
    assert bad_phone > 0 and no_name > 0 and bad_date > 0
    # Good service dates are within the two days before the start.
    dates = {
        r["服務日期"] for r in rows if r["服務日期"][:2] == "20" and r["服務日期"][5:7] <= "12"
    }
    assert dates <= {"2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"}


def test_same_seed_same_file_other_seed_other_file(tmp_path: Path) -> None:
    a = generate(tmp_path / "a.csv", 500, seed=7, start=START).path.read_bytes()
    b = generate(tmp_path / "b.csv", 500, seed=7, start=START).path.read_bytes()
    c = generate(tmp_path / "c.csv", 500, seed=8, start=START).path.read_bytes()
    assert a == b
    assert a != c
