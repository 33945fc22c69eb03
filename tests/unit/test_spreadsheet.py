"""Exports must not let customer text run as a spreadsheet formula."""

from __future__ import annotations

import pytest

from dialer.spreadsheet import safe_cell


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://x")', "+SUM(A1)", "-2+3+cmd|' /C calc'!A0", "@SUM(1)", "\t=1", "\r=1"],
)
def test_formulas_are_neutralised(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["+886912345678", "-12", "+1 (415) 555-2671", "王小明", "", "a=b"]
)
def test_plain_values_are_left_alone(value: str) -> None:
    assert safe_cell(value) == value


def test_non_text_passes_through() -> None:
    assert safe_cell(12) == 12
    assert safe_cell(None) is None
