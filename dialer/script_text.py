"""Script text with its placeholders filled ({company}, {name}, {title}, {service}, {date} ...).

Campaign files are validated so that only known placeholders appear; a value that is missing
for one customer (no service type, say) is left empty rather than failing the call.
"""

from __future__ import annotations

from collections.abc import Mapping


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{placeholder}` replaced by its value (empty when unknown)."""
    return text.format_map(_Values(values))
