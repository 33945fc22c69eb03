"""The terminal side every command shares: sub-command apps and the two consoles."""

from __future__ import annotations

import os
import re
import sys

import typer
from rich.console import Console
from rich.markup import escape

# Piped output (files, scripts, CI logs) gets a wide page instead of rich's 80-column default.
out = Console(
    width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160, highlight=False
)
err = Console(
    stderr=True,
    highlight=False,
    width=None if sys.stderr.isatty() or os.environ.get("COLUMNS") else 160,
)


def sub_app(help_text: str) -> typer.Typer:
    """A command group that shows help when called bare and never prints a traceback."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


# Escape sequences whole (CSI colours, OSC 8 links and window titles up to BEL or ST), then any
# other C0/C1 control character and the bidi overrides that reorder what is shown.
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.?)")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def term_safe(value: object) -> str:
    """Data from outside (customer files, agents' notes, typed user names) as a terminal may show
    it: Rich markup escaped so `[link=...]` stays text, and control characters removed so a name
    cannot recolour the screen, set the window title or plant a hidden link. Every CLI table
    cell and printed line that carries such data goes through here."""
    text = "" if value is None else str(value)
    return escape(_CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text)))
