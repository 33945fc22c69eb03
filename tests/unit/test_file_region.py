"""The region inference for customer files (issue 18, item 1), without a store."""

from __future__ import annotations

from datetime import UTC, time, timedelta, timezone
from pathlib import Path

import pytest

from dialer.balance import language_matches
from dialer.campaigns import load_campaign
from dialer.customer_file import SourceRow
from dialer.file_region import (
    RegionUnclearError,
    carries_country_code,
    infer_file_region,
    script_region,
)
from dialer.phones import PhoneParser
from dialer.values import parse_date_and_time, parse_time_and_offset

CAMPAIGNS = Path(__file__).parents[2] / "campaigns"


def rows(*phones: str, country: str | None = None) -> list[SourceRow]:
    values = {"name": "x"} | ({"country": country} if country else {})
    return [SourceRow(i + 2, values, [("phone", p)], [], []) for i, p in enumerate(phones)]


def test_scripts() -> None:
    assert script_region(["客戶編號", "姓名", "門市"]) == "TW"
    assert script_region(["客户编号", "姓名", "门店"]) == "CN"
    assert script_region(["고객번호", "이름"]) == "KR"
    assert script_region(["姓名", "name"]) is None  # shared characters say nothing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("+82 10-1234-5678", True), ("0082 10 1234 5678", True), ("(+886) 912", True),
     ("02-312-3456", False), ("010-1234-5678", False), ("００８２１０１２３４５６７８", True)],
)  # fmt: skip
def test_country_code_as_typed(raw: str, expected: bool) -> None:
    assert carries_country_code(raw) is expected


def test_clear_inference_and_its_threshold() -> None:
    parser = PhoneParser()
    korean = [f"010-5555-{i:04d}" for i in range(9)] + ["02-312-3456"]
    found = infer_file_region(rows(*korean), ["이름", "휴대폰"], "cp949", "TW", parser)
    assert (found.region, found.source) == ("KR", "inferred")
    assert found.valid_share["KR"] == 1.0 and found.valid_share["TW"] == 0.1
    # Half landlines valid in both: TW at 50% is not "< 50%", so the file is refused.
    half = [f"010-5555-{i:04d}" for i in range(5)] + [f"02-312-{i:04d}" for i in range(5)]
    with pytest.raises(RegionUnclearError, match="--region KR"):
        infer_file_region(rows(*half), ["이름", "휴대폰"], "cp949", "TW", parser)


def test_inference_below_ninety_percent_is_refused() -> None:
    # 80% Korean mobiles, 20% numbers only Taiwan has: the default is under 50%, but KR is
    # not clear enough either.
    mixed = [f"010-5555-{i:04d}" for i in range(8)] + ["0912-345-678", "0928-222-333"]
    with pytest.raises(RegionUnclearError, match="80% of its numbers"):
        infer_file_region(rows(*mixed), ["이름", "휴대폰"], "cp949", "TW", PhoneParser())


def test_country_cells_and_plus_numbers_are_not_inferred() -> None:
    parser = PhoneParser()
    found = infer_file_region(
        rows("010-1234-5678", "02-312-3456", country="KR") + rows("+82 10 2345 6789"),
        ["이름", "휴대폰"],
        "cp949",
        "TW",
        parser,
    )
    assert (found.region, found.source, found.numbers) == ("TW", "default", 0)


def test_default_kept_when_its_numbers_are_valid() -> None:
    found = infer_file_region(
        rows("0912-345-678", "02-2345-6789"), ["姓名", "手機"], "utf-8", "TW", PhoneParser()
    )
    assert (found.region, found.source, found.note()) == ("TW", "default", None)


def test_service_date_and_time_values() -> None:
    assert parse_date_and_time("2027-03-11 19:00", "d")[1:] == (time(19), None)
    assert parse_date_and_time("2027-03-11T16:00:00+00:00", "d")[1:] == (time(16), UTC)
    assert parse_date_and_time("2027/03/11", "d")[1:] == (None, None)
    assert parse_time_and_offset("16:00+09:00", "t") == (
        time(16),
        timezone(timedelta(hours=9)),
    )
    assert parse_time_and_offset("下午4:30", "t") == (time(16, 30), None)


def test_console_script_and_assignment_follow_the_language() -> None:
    spec = load_campaign(CAMPAIGNS / "after-service-satisfaction.toml")
    key, script = spec.script_for("ko")
    assert key == "ko" and "고객" in script.opening
    assert spec.script_for(None)[0] == "zh-TW"  # no language: the campaign default
    assert language_matches("ko", ["ko"]) and not language_matches("ko", ["zh-TW"])
