"""Twilio's webhook connection overrides: `#rc=..&rp=..&ct=..&rt=..&tt=..` on a callback URL.

Twilio reads these from the URL's fragment and uses them for its requests to that URL (the
"Webhooks (HTTP callbacks): Connection Overrides" page of Twilio's docs): `ct` the connect
timeout (100-10000 ms, default 5000), `rt` the read timeout (100-15000 ms, default 15000), `tt`
the total time all tries may take (100-15000 ms, default 15000; error 11203 when it runs out),
`rc` how many times a failed request is retried (0-5, default 1) and `rp` on which failures
(`ct` connect failures, `rt` read timeouts, `4xx`, `5xx`, or `all`; default `ct,rt`).

A fragment never travels in an HTTP request (RFC 9110 §4.2.4: the client strips it), so the URL
Twilio requests, and signs in `X-Twilio-Signature`, is the URL without it: the one the
application sees and validates. The dialer puts overrides on every StatusCallback and Url it
sends; the sandbox parses them here and retries as Twilio does (`sandbox.core.Webhooks`).

Retries last at most `tt` (15 s), so they carry a callback over a restart or a blip, not over
a longer outage: for that the dispatcher asks Twilio itself (`dialer.settle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urldefrag

POLICIES = frozenset({"ct", "rt", "4xx", "5xx"})
# Documented ranges (ms, or a count for rc) and defaults.
RANGES = {"ct": (100, 10_000), "rt": (100, 15_000), "tt": (100, 15_000), "rc": (0, 5)}
DEFAULTS = {"ct": 5_000, "rt": 15_000, "tt": 15_000, "rc": 1}
DEFAULT_POLICY = frozenset({"ct", "rt"})


@dataclass(frozen=True)
class Overrides:
    """One URL's connection settings (Twilio's defaults where the fragment is silent)."""

    rc: int = DEFAULTS["rc"]
    rp: frozenset[str] = DEFAULT_POLICY
    ct: int = DEFAULTS["ct"]
    rt: int = DEFAULTS["rt"]
    tt: int = DEFAULTS["tt"]

    def fragment(self) -> str:
        policy = ",".join(sorted(self.rp))
        return f"rc={self.rc}&rp={policy}&ct={self.ct}&rt={self.rt}&tt={self.tt}"

    def retries_on(self, failure: str) -> bool:
        """Whether a try that failed this way ("ct", "rt", "4xx", "5xx") is retried."""
        return failure in self.rp


# What the dialer asks for. Status callbacks: retry every failure a restart or a blip causes
# (refused, timed out, 5xx; never a 4xx, which says the request itself is wrong) as often and
# as long as Twilio allows. The TwiML Url: the customer is on the line waiting, so short
# timeouts and two quick retries.
STATUS_CALLBACK = Overrides(rc=5, rp=frozenset({"ct", "rt", "5xx"}), ct=2_000, rt=5_000, tt=15_000)
TWIML = Overrides(rc=2, rp=frozenset({"ct", "rt", "5xx"}), ct=1_000, rt=4_000, tt=10_000)


def with_overrides(url: str, overrides: Overrides) -> str:
    """`url` with these overrides as its fragment (replacing any fragment it had)."""
    base, _ = urldefrag(url)
    return f"{base}#{overrides.fragment()}"


def parse(url: str) -> tuple[str, Overrides]:
    """The URL to request (no fragment) and its overrides; unknown keys and bad values are
    ignored and numbers clamped to the documented ranges, as a lenient sender would."""
    base, fragment = urldefrag(url)
    values: dict[str, int] = dict(DEFAULTS)
    policy = DEFAULT_POLICY
    for key, value in parse_qsl(fragment, keep_blank_values=False):
        if key in RANGES:
            try:
                number = int(value)
            except ValueError:
                continue
            low, high = RANGES[key]
            values[key] = max(low, min(high, number))
        elif key == "rp":
            named = {p.strip().lower() for p in value.split(",")}
            policy = POLICIES if "all" in named else frozenset(named & POLICIES)
    return base, Overrides(
        rc=values["rc"], rp=policy, ct=values["ct"], rt=values["rt"], tt=values["tt"]
    )


__all__ = ["STATUS_CALLBACK", "TWIML", "Overrides", "parse", "with_overrides"]
