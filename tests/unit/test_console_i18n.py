"""The console speaks the gate's reasons in every locale: a new reason without words fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialer.console_web.i18n import CATALOGUE, Translator

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
