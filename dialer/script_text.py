"""Script text with its placeholders filled ({company}, {name}, {title}, {service}, {date} ...).

Campaign files are validated so that only known placeholders appear; a value that is missing
for one customer (no service type, say) is left empty rather than failing the call.
"""

from __future__ import annotations

from collections.abc import Mapping

from dialer.models import Customer, ServiceEvent


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{placeholder}` replaced by its value (empty when unknown)."""
    return text.format_map(_Values(values))


def script_values(company: str, customer: Customer, event: ServiceEvent | None) -> dict[str, str]:
    """The placeholders' values for one customer and the service event their task is about."""
    return {
        "company": company,
        "name": customer.name,
        "title": customer.title or "",
        "service": (event.service_type if event else None) or "",
        "date": event.service_date.isoformat() if event else "",
        "store": (event.store if event else None) or "",
        "vehicle": (event.vehicle if event else None) or "",
        "agent": "",
    }
