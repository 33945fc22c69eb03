"""`term_safe`: customer data reaches the terminal as inert text (no markup, no control codes)."""

from __future__ import annotations

import io

from rich.console import Console

from dialer.console import term_safe


def test_escape_sequences_go_whole_and_markup_stays_text() -> None:
    hostile = (
        "\x1b]8;;http://evil.example\x07link\x1b]8;;\x1b\\ \x1b]0;title\x07"
        "\x1b[1;31mred\x1b[0m \u202eevil\x9b\x00 [link=http://x]y[/link]"
    )
    screen = io.StringIO()
    Console(file=screen, force_terminal=True, color_system=None).print(term_safe(hostile))
    assert screen.getvalue() == "link red evil [link=http://x]y[/link]\n"


def test_ordinary_text_passes_unchanged() -> None:
    for text in ("王小明", "김민준", "O'Brien & Sons (2)", "line\tone\nline two", "Ümit"):
        assert term_safe(text) == text
    assert term_safe(None) == "" and term_safe(42) == "42"
