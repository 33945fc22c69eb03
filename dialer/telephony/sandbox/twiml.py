"""Read the TwiML a webhook returns into the few verbs a simulated callee needs to act on.

Only what a callback script and the agents' click-to-call use is modelled (Say, Play, Pause,
Gather, Record, Redirect, Hangup, Reject, Dial with its Number); other verbs are kept as
`Verb("Other")` and ignored, as a lenient callee would.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


class TwimlError(ValueError):
    """The webhook answered something that is not a TwiML <Response> (Twilio error 12100)."""


@dataclass(frozen=True)
class Verb:
    """One TwiML verb: its name, attributes, text and (for Gather) nested verbs."""

    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: tuple[Verb, ...] = ()


def _verb(el: ET.Element) -> Verb:
    known = {"Say", "Play", "Pause", "Gather", "Record", "Redirect", "Hangup", "Reject", "Dial"}
    name = el.tag if el.tag in known | {"Number"} else "Other"
    children = tuple(_verb(c) for c in el) if name in ("Gather", "Dial") else ()
    return Verb(name, dict(el.attrib), (el.text or "").strip(), children)


def parse(document: str | bytes) -> list[Verb]:
    """The verbs of a <Response> document, in order."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise TwimlError(f"not XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>")
    return [_verb(el) for el in root]


def number(value: str | None, default: float) -> float:
    """A numeric TwiML attribute, or `default` when absent or not a number (as Twilio does)."""
    try:
        return float(value) if value else default
    except ValueError:
        return default


def spoken_seconds(verbs: tuple[Verb, ...] | list[Verb], per_char: float, play: float) -> float:
    """How long the callee listens to these verbs (Say by text length, Play, Pause length)."""
    total = 0.0
    for v in verbs:
        if v.name == "Say":
            total += max(1.0, len(v.text) * per_char)
        elif v.name == "Play":
            total += play * max(1.0, number(v.attrs.get("loop"), 1))
        elif v.name == "Pause":
            total += max(0.0, number(v.attrs.get("length"), 1))
    return total
