"""The terminal side every command shares: sub-command apps and the two consoles."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

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
