"""Cells that are safe to open in Excel/LibreOffice: no formula injection from customer data."""

from __future__ import annotations

import re

_NUMBERISH = re.compile(r"^[+-]?[\d\s().-]+$")
_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe; leave numbers be.

    Phone-like values such as "+886912345678" and "-12" are left alone: they cannot run anything.
    """
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_DANGEROUS_START) and not _NUMBERISH.match(value):
        return "'" + value
    return value
