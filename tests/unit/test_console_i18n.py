"""The console speaks the gate's reasons in every locale: a new reason without words fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialer.console_web.i18n import CATALOGUE, Translator
from dialer.coverage_verdict import VERDICTS

GATE = Path(__file__).parents[2] / "dialer" / "gate.py"
REASONS = re.findall(r'Decision\(\s*"\w+",\s*f?"([^"]+)"', GATE.read_text(encoding="utf-8"), re.S)


def test_the_gate_has_reasons_to_translate() -> None:
    assert len(REASONS) >= 9  # the scan below would pass vacuously on nothing


@pytest.mark.parametrize("locale", ["zh-TW", "ko"])
@pytest.mark.parametrize("reason", REASONS)
def test_every_gate_reason_is_translated(locale: str, reason: str) -> None:
    said = re.sub(r"\{[^}]*\}", "3", reason)  # f-string parts as the gate fills them
    translated = Translator(locale).reason(said)
    assert translated != said
    assert translated in CATALOGUE[locale].values()


def test_an_unknown_reason_is_shown_as_the_gate_said_it() -> None:
    assert Translator("ko").reason("a brand-new reason") == "a brand-new reason"
    assert (
        Translator("zh-TW").reason("outside the customer's calling window")
        == "不在客戶的可撥打時段內"
    )


VERDICT_KEYS = tuple(f"verdict_{v}" for v in VERDICTS)
COVERAGE_KEYS = (
    "reached_in_time_of",
    "coverage_ratio",
    "pending",
    "at_risk",
    "breached",
    *VERDICT_KEYS,
)


@pytest.mark.parametrize("locale", ["zh-TW", "ko", "en"])
def test_the_coverage_headline_speaks_every_locale(locale: str) -> None:
    """The supervisor's coverage headline and every verdict have words of their own in each
    locale (no silent fall-back to English)."""
    for key in COVERAGE_KEYS:
        assert key in CATALOGUE[locale], (locale, key)
        if locale != "en":
            assert CATALOGUE[locale][key] != CATALOGUE["en"][key], (locale, key)
    said = Translator(locale)("reached_in_time_of", n=3, total=13, share="23%")
    assert "3" in said and "13" in said and "23%" in said
    assert Translator("zh-TW")("reached_in_time_of", n=3, total=13, share="23%") == (
        "已準時回訪 3／13 位會員（23%）"
    )
